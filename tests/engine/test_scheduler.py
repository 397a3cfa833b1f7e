"""The scheduling policy as a pure function, and the scheduler's guarantees with a scripted backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from variet.contract import ResidentFailedEvent, TierExitedEvent
from variet.engine.errors import TierLoadError
from variet.engine.events import EventBus
from variet.engine.scheduler import Policy, TierScheduler, Waiting, decide

SLOW = {"fast": 20.0, "balanced": 25.0, "ultra": 90.0, "deep-logic": 40.0}
"""Swap seconds per tier, as on the inference box."""
CAP = Policy(max_wait=30)


def test_an_idle_loaded_tier_is_swapped_for_the_tier_that_waited_longest() -> None:
    decision = decide("fast", {"fast": 0}, {"ultra": Waiting(5.0), "balanced": Waiting(2.0)}, 6.0, SLOW, CAP)
    assert decision.swap_to == "balanced"


def test_a_busy_tier_is_never_evicted() -> None:
    decision = decide("fast", {"fast": 2}, {"ultra": Waiting(0.0)}, 100.0, SLOW, CAP)
    assert decision.swap_to is None


def test_the_loaded_tier_keeps_taking_requests_until_a_waiter_is_overdue() -> None:
    before = decide("fast", {"fast": 1}, {"ultra": Waiting(10.0)}, 20.0, SLOW, CAP)
    assert before.admit_loaded and before.wake_at == 40.0  # capped at 30 s: ultra's swap takes 90
    after = decide("fast", {"fast": 1}, {"ultra": Waiting(10.0)}, 40.0, SLOW, CAP)
    assert not after.admit_loaded and after.swap_to is None


def test_a_tier_that_swaps_in_quickly_waits_only_as_long_as_its_swap_takes() -> None:
    quick = {**SLOW, "balanced": 2.0}
    decision = decide("fast", {"fast": 1}, {"ultra": Waiting(10.0), "balanced": Waiting(11.0)}, 12.0, quick, CAP)
    assert decision.wake_at == 13.0
    overdue = decide("fast", {"fast": 1}, {"ultra": Waiting(10.0), "balanced": Waiting(11.0)}, 13.0, quick, CAP)
    assert not overdue.admit_loaded
    # The swap still goes to the tier that has waited longest.
    assert decide("fast", {"fast": 0}, {"ultra": Waiting(10.0), "balanced": Waiting(11.0)}, 13.0, quick,
                  CAP).swap_to == "ultra"


def test_nothing_loaded_and_a_waiter_means_load_it() -> None:
    gathering = Policy(max_wait=30, gather=5)
    assert decide(None, {}, {"deep-logic": Waiting(1.0)}, 1.0, SLOW, gathering).swap_to == "deep-logic"


def test_a_swap_away_from_an_idle_tier_is_held_back_to_gather_requests_sent_together() -> None:
    gathering = Policy(max_wait=30, gather=0.25)
    held = decide("fast", {"fast": 0}, {"ultra": Waiting(1.0)}, 1.1, SLOW, gathering)
    # A request for the loaded tier arriving now still runs at once; the swap waits a tenth of its
    # duration, at most `gather`.
    assert held.swap_to is None and held.admit_loaded and held.wake_at == 1.25
    assert decide("fast", {"fast": 0}, {"ultra": Waiting(1.0)}, 1.25, SLOW, gathering).swap_to == "ultra"
    quick = {**SLOW, "ultra": 0.5}
    assert decide("fast", {"fast": 0}, {"ultra": Waiting(1.0)}, 1.06, quick, gathering).swap_to == "ultra"


def test_an_explicit_load_is_not_held_back_to_gather() -> None:
    gathering = Policy(max_wait=30, gather=0.25)
    decision = decide("fast", {"fast": 0}, {"ultra": Waiting(1.0, explicit=True)}, 1.0, SLOW, gathering)
    assert decision.swap_to == "ultra"


class ScriptedBackend:
    """Loads finish when the test says so; records the order of calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.ready = {"fast": anyio.Event(), "ultra": anyio.Event()}
        for event in self.ready.values():
            event.set()

    async def start_load(self, tier: str, *, by_requests: bool = False) -> None:
        self.calls.append(f"load {tier}")
        if tier in self.fail:
            raise TierLoadError(f"model file for tier {tier!r} is missing")

    async def until_loaded(self, tier: str, *, requested: Callable[[], bool] = lambda: False) -> None:
        await self.ready[tier].wait()

    async def unload(self, tier: str) -> None:
        self.calls.append(f"unload {tier}")


@asynccontextmanager
async def running(backend: ScriptedBackend, **options: Any) -> AsyncIterator[TierScheduler]:
    """A started scheduler over `fast` and `ultra`, stopped afterwards; `options` go to `TierScheduler`."""
    scheduler = TierScheduler(["fast", "ultra"], backend, EventBus(), **{"max_wait": 30, **options})
    scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def serve(scheduler: TierScheduler, tier: str, order: list[str]) -> None:
    """One request on `tier`: wait for its turn, note it in `order`, and end at once."""
    await scheduler.acquire(tier)
    order.append(tier)
    scheduler.release(tier)


@pytest.mark.anyio
async def test_a_request_waits_for_the_busy_tier_then_runs_after_one_swap() -> None:
    backend = ScriptedBackend()
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            await scheduler.acquire("fast")
            order: list[str] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve, scheduler, "ultra", order)
                await anyio.wait_all_tasks_blocked()
                assert scheduler.queued("ultra") == 1 and scheduler.loaded == "fast"
                order.append("fast done")
                scheduler.release("fast")
        assert order == ["fast done", "ultra"]
        assert backend.calls == ["load fast", "load ultra"]
        assert scheduler.stats.swaps == 2


@pytest.mark.anyio
async def test_a_failed_load_fails_only_that_tiers_waiters() -> None:
    backend = ScriptedBackend()
    backend.fail.add("ultra")
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            with pytest.raises(TierLoadError, match="missing"):
                await scheduler.acquire("ultra")
            await scheduler.acquire("fast")
            scheduler.release("fast")
        assert scheduler.stats.failed_swaps == 1
        assert scheduler.stats.last_swap["ultra"].error is not None


@pytest.mark.anyio
async def test_an_explicit_load_is_idempotent_and_waits_for_the_busy_tier() -> None:
    backend = ScriptedBackend()
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            await scheduler.acquire("fast")
            assert scheduler.request_load("ultra") is True
            assert scheduler.request_load("ultra") is False
            await anyio.wait_all_tasks_blocked()
            assert scheduler.loaded == "fast" and scheduler.pending_load("ultra")
            scheduler.release("fast")
            while scheduler.pending_load("ultra"):
                await anyio.wait_all_tasks_blocked()
        assert scheduler.loaded == "ultra"
        assert scheduler.request_load("ultra") is False


@pytest.mark.anyio
async def test_a_batch_is_let_go_once_its_load_has_started_and_later_requests_once_it_is_done() -> None:
    backend = ScriptedBackend()
    backend.ready["ultra"] = anyio.Event()  # ultra's load starts but does not finish until the test says
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            assert await scheduler.acquire("fast") is True  # let go while fast was loading
            scheduler.release("fast")
            assert await scheduler.acquire("fast") is False  # loaded by now: nothing to wait for
            scheduler.release("fast")
            early: list[bool] = []

            async def ask_ultra() -> None:
                early.append(await scheduler.acquire("ultra"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_ultra)
                tg.start_soon(ask_ultra)
            # Both went while ultra was still loading, so llama-server must hold them (autoload) ...
            assert early == [True, True]
            assert scheduler.state == "swapping" and scheduler.in_flight("ultra") == 2
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_ultra)
                await anyio.wait_all_tasks_blocked()
                # ... while one arriving after the batch waits in the engine for the load to finish.
                assert early == [True, True] and scheduler.queued("ultra") == 1
                backend.ready["ultra"].set()
            assert early == [True, True, False] and scheduler.loaded == "ultra"
            assert (await scheduler.finished_swap("ultra")).ok  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_request_for_the_loaded_tier_right_after_it_goes_idle_waits_behind_the_due_swap() -> None:
    backend = ScriptedBackend()
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            await scheduler.acquire("fast")
            order: list[str] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve, scheduler, "ultra", order)
                await anyio.wait_all_tasks_blocked()
                scheduler.release("fast")
                tg.start_soon(serve, scheduler, "fast", order)  # arrives before the scheduler has started the swap
        assert order == ["ultra", "fast"]
        assert backend.calls == ["load fast", "load ultra", "load fast"]


@pytest.mark.anyio
async def test_a_request_for_the_loaded_tier_sent_with_one_for_another_runs_before_the_swap() -> None:
    now = [0.0]
    backend = ScriptedBackend()
    async with running(backend, gather=0.25, expected_swap_seconds={"fast": 20, "ultra": 90},
                       clock=lambda: now[0]) as scheduler:
        with anyio.fail_after(5):
            await scheduler.acquire("fast")
            scheduler.release("fast")
            order: list[str] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve, scheduler, "ultra", order)
                await anyio.wait_all_tasks_blocked()
                # Sent together with ultra's: runs on the idle loaded tier at once, no swap there and back.
                assert await scheduler.acquire("fast") is False
                assert scheduler.loaded == "fast" and scheduler.queued("ultra") == 1
                now[0] = 0.25  # the gathering window (a tenth of ultra's swap, at most 0.25 s) is over
                scheduler.release("fast")
        assert order == ["ultra"]
        assert backend.calls == ["load fast", "load ultra"]


@pytest.mark.anyio
async def test_the_fairness_bound_follows_the_measured_swap_time() -> None:
    now = [0.0]
    backend = ScriptedBackend()
    backend.ready["ultra"] = anyio.Event()
    async with running(backend, expected_swap_seconds={"fast": 20, "ultra": 90},
                       clock=lambda: now[0]) as scheduler:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(scheduler.acquire, "ultra")
                await anyio.wait_all_tasks_blocked()
                now[0] = 2.0  # ultra takes 2 s to load, not the 90 s expected
                backend.ready["ultra"].set()
            scheduler.release("ultra")
            assert scheduler.swap_seconds["ultra"] == 2.0
            await scheduler.acquire("fast")
            assert await scheduler.acquire("fast") is False
            async with anyio.create_task_group() as tg:
                tg.start_soon(scheduler.acquire, "ultra")
                await anyio.wait_all_tasks_blocked()
                assert scheduler.state == "ready"  # fast keeps taking requests while ultra's wait is short
                now[0] += 2.0  # ... until ultra has waited as long as its measured swap takes (not 30 s)
                scheduler.release("fast")
                await anyio.wait_all_tasks_blocked()
                assert scheduler.state == "draining"
                scheduler.release("fast")
        assert backend.calls == ["load ultra", "load fast", "load ultra"]


@pytest.mark.anyio
async def test_a_loaded_tier_whose_instance_exits_is_loaded_again_by_its_next_request() -> None:
    backend = ScriptedBackend()
    events = EventBus()
    scheduler = TierScheduler(["fast", "ultra"], backend, events, max_wait=30)
    scheduler.start()
    try:
        with anyio.fail_after(5):
            await serve(scheduler, "fast", [])
            await anyio.wait_all_tasks_blocked()
            # A stale exit of another tier changes nothing; the loaded tier's own does.
            events.publish(TierExitedEvent(time=0.0, tier="ultra", exit_code=1))
            assert scheduler.loaded == "fast"
            events.publish(TierExitedEvent(time=0.0, tier="fast", exit_code=1))
            assert scheduler.loaded is None and scheduler.state == "idle"
            await serve(scheduler, "fast", [])
            await anyio.wait_all_tasks_blocked()
        assert backend.calls == ["load fast", "load fast"] and scheduler.loaded == "fast"
    finally:
        await scheduler.stop()


class ResidentBackend(ScriptedBackend):
    """A scripted backend with a resident tier, `coder`."""

    def __init__(self) -> None:
        super().__init__()
        self.ready["coder"] = anyio.Event()
        self.ready["coder"].set()


@asynccontextmanager
async def with_resident(backend: ScriptedBackend, **options: Any) -> AsyncIterator[TierScheduler]:
    scheduler = TierScheduler(["fast", "coder", "ultra"], backend, EventBus(), residents=["coder"],
                              **{"max_wait": 30, **options})
    scheduler.start()
    try:
        with anyio.fail_after(5):
            while not scheduler.is_loaded("coder"):
                await anyio.wait_all_tasks_blocked()
        yield scheduler
    finally:
        await scheduler.stop()


@pytest.mark.anyio
async def test_a_resident_tier_is_loaded_at_start_and_answers_at_once_while_the_other_tiers_swap() -> None:
    backend = ResidentBackend()
    backend.ready["ultra"] = anyio.Event()  # ultra's load runs until the test says
    async with with_resident(backend) as scheduler:
        with anyio.fail_after(5):
            await serve(scheduler, "fast", [])
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve, scheduler, "ultra", [])
                await anyio.wait_all_tasks_blocked()
                assert scheduler.state == "swapping" and scheduler.swapping_to == "ultra"
                # Mid-swap: the resident runs now, loaded and without autoload, and holds nothing up.
                assert await scheduler.acquire("coder") is False
                assert scheduler.in_flight("coder") == 1 and scheduler.queued("coder") == 0
                backend.ready["ultra"].set()
            assert scheduler.loaded == "ultra"
            scheduler.release("coder")
        assert scheduler.is_loaded("coder") and scheduler.stats.swaps == 2


@pytest.mark.anyio
async def test_with_residents_the_swap_lane_unloads_its_old_tier_before_loading_the_next() -> None:
    backend = ResidentBackend()
    async with with_resident(backend) as scheduler:
        with anyio.fail_after(5):
            await serve(scheduler, "fast", [])
            await serve(scheduler, "ultra", [])
        # llama-server is never left to pick a victim itself: it might pick the resident.
        assert backend.calls == ["load coder", "load fast", "unload fast", "load ultra"]


@pytest.mark.anyio
async def test_a_busy_resident_never_holds_up_a_swap_nor_drains() -> None:
    backend = ResidentBackend()
    async with with_resident(backend) as scheduler:
        with anyio.fail_after(5):
            await scheduler.acquire("coder")
            await serve(scheduler, "fast", [])
            await serve(scheduler, "ultra", [])  # swaps although a resident request is still running
            assert (await scheduler.finished_swap("ultra")).ok  # type: ignore[union-attr]
            assert scheduler.loaded == "ultra" and scheduler.state == "ready"
            scheduler.release("coder")
            assert scheduler.stats.swaps == 2


@pytest.mark.anyio
async def test_a_resident_whose_instance_exits_is_loaded_again_and_its_requests_ask_llama_server_meanwhile() -> None:
    backend = ResidentBackend()
    events = EventBus()
    scheduler = TierScheduler(["fast", "coder"], backend, events, max_wait=30, residents=["coder"])
    scheduler.start()
    try:
        with anyio.fail_after(5):
            while not scheduler.is_loaded("coder"):
                await anyio.wait_all_tasks_blocked()
            backend.ready["coder"] = anyio.Event()
            events.publish(TierExitedEvent(time=0.0, tier="coder", exit_code=1))
            assert not scheduler.is_loaded("coder")
            await anyio.wait_all_tasks_blocked()
            assert scheduler.pending_load("coder")
            assert await scheduler.acquire("coder") is True  # autoload: llama-server loads it for this request
            scheduler.release("coder")
            backend.ready["coder"].set()
            while not scheduler.is_loaded("coder"):
                await anyio.wait_all_tasks_blocked()
        assert scheduler.is_loaded("coder") and backend.calls == ["load coder", "load coder"]
    finally:
        await scheduler.stop()


@pytest.mark.anyio
async def test_a_resident_that_fails_to_load_says_why_and_its_requests_still_go_to_llama_server() -> None:
    backend = ResidentBackend()
    backend.fail.add("coder")
    events = EventBus()
    failures: list[str] = []
    events.listen(lambda event: failures.append(event.error) if isinstance(event, ResidentFailedEvent) else None)
    scheduler = TierScheduler(["fast", "coder"], backend, events, max_wait=30, residents=["coder"])
    scheduler.start()
    try:
        with anyio.fail_after(5):
            while not failures:
                await anyio.wait_all_tasks_blocked()
            assert "missing" in failures[0] and not scheduler.stats.resident_loads["coder"].ok
            assert await scheduler.acquire("coder") is True  # autoload: llama-server's own error answers it
            scheduler.release("coder")
            await serve(scheduler, "fast", [])  # the swap lane carries on
    finally:
        await scheduler.stop()


@pytest.mark.anyio
async def test_the_scheduler_stops_even_when_asked_just_as_a_swap_becomes_due() -> None:
    backend = ScriptedBackend()
    with anyio.fail_after(5):
        async with running(backend) as scheduler:
            await scheduler.acquire("fast")
            scheduler.request_load("ultra")
            await anyio.wait_all_tasks_blocked()
            scheduler.release("fast")  # wakes the scheduler's task, and `stop` comes before it runs


class SlowUnloadBackend(ScriptedBackend):
    """`unload` returns only when the test lets it, as llama-server's does once the instance has exited."""

    def __init__(self) -> None:
        super().__init__()
        self.unloading = anyio.Event()
        self.let_unload = anyio.Event()

    async def unload(self, tier: str) -> None:
        await super().unload(tier)
        self.unloading.set()
        await self.let_unload.wait()


@pytest.mark.anyio
async def test_a_request_arriving_while_its_tier_unloads_waits_and_loads_it_again() -> None:
    backend = SlowUnloadBackend()
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            await scheduler.acquire("fast")
            scheduler.release("fast")
            scheduler.request_unload()
            await backend.unloading.wait()
            admitted: list[bool] = []

            async def ask_fast() -> None:
                admitted.append(await scheduler.acquire("fast"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_fast)
                await anyio.wait_all_tasks_blocked()
                # Sent now, it would reach an instance that is exiting: it waits instead.
                assert admitted == [] and scheduler.queued("fast") == 1
                backend.let_unload.set()
            assert admitted == [True]  # let go as fast loads again
            scheduler.release("fast")
        assert backend.calls == ["load fast", "unload fast", "load fast"]


@pytest.mark.anyio
async def test_an_unload_asked_with_nothing_loaded_does_not_unload_the_tier_loaded_later() -> None:
    backend = ScriptedBackend()
    async with running(backend) as scheduler:
        with anyio.fail_after(5):
            scheduler.request_unload()
            await anyio.wait_all_tasks_blocked()
            await scheduler.acquire("fast")
            scheduler.release("fast")
            await anyio.wait_all_tasks_blocked()
            assert scheduler.loaded == "fast"
            assert await scheduler.acquire("fast") is False  # still loaded: no new load
            scheduler.release("fast")
        assert backend.calls == ["load fast"]
