"""The tier scheduler: which requests run now, and when to swap tiers.

One tier is loaded at a time. Requests for the loaded tier run at once; requests for any other tier wait
in a per-tier queue. The policy, `decide`, is a pure function of the queues:

* A loaded tier is never evicted while a request on it is in flight.
* When the loaded tier is idle and another tier has waiters, the engine swaps to the tier whose oldest
  waiter has waited longest, then admits that tier's whole queue at once (a batch). The swap is due the
  moment the last request on the loaded tier ends: one for that tier arriving just then waits its turn.
* Gathering: a swap away from an idle loaded tier is held back briefly after its first waiter arrives, so
  that requests sent together (an agent's parallel calls, a burst from several clients) are seen together:
  one for the loaded tier that arrives in the window runs at once instead of costing a swap there and a
  swap back. The window is a tenth of the waiting tier's swap time, at most `gather` seconds; nothing is
  held back when no tier is loaded or for an explicit load.
* Fairness bound: while another tier waits, the loaded tier keeps taking new requests only until that
  waiter has waited as long as its own swap takes (the last measured swap to its tier, or its expected
  load time until one is measured), and never longer than `max_wait`. After that new requests for the
  loaded tier queue too, in-flight ones finish, and the swap happens. So a waiting request is delayed by
  at most that bound plus the longest in-flight request plus the swap itself, per tier ahead of it.
  Why the swap time: waiting is worth it while it costs the waiter less than the swap it saves the busy
  tier's clients; past that point the swap is the cheaper choice (the break-even rule of "ski rental",
  which never costs more than twice the best choice made in hindsight).

An explicit load (`request_load`) is a waiter without a request: it is queued like one, so it never
interrupts a busy tier, and it completes when its tier is loaded.

A batch is let go as soon as its swap starts, not when the load is done: its requests ask llama-server
to load the tier (`autoload=true`), and llama-server's router evicts the idle tier, loads theirs and
serves them the moment it is ready, in process. That saves round trips through the engine on every
swap. `acquire` tells such early requests apart, because they must carry `autoload=true`.

Around a swap the scheduler calls its `SwapHooks` (the engine's prompt caches): before the idle tier is
evicted (to save its slots), and before the new tier loads (to plan a restore for the waiting requests).
When a restore is planned, the tier is loaded explicitly and the batch is let go only after the restore,
since requests let go early would run before it.

Resident tiers (`resident = true`) are a second lane beside the swap lane: loaded when llama-server starts,
never evicted, and never queued. A request for a resident runs at once, whatever the swap lane is doing;
should its instance be gone (still loading at start-up, or it exited), the request carries `autoload=true`
and llama-server loads it beside the swapping tier while the engine reloads it too. llama-server runs with
`--models-max` = residents + 1 and evicts the least recently used idle instance only when a load finds no
free room, so with residents the swap lane unloads its old tier explicitly before it loads the next one:
there is always room, and llama-server never has to choose a victim (which could be a resident).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from variet.contract import (
    BackendDownEvent,
    BackendUpEvent,
    EngineEvent,
    ResidentFailedEvent,
    ResidentLoadedEvent,
    SwapDoneEvent,
    SwapFailedEvent,
    SwapStartedEvent,
    TierExitedEvent,
    UnloadedEvent,
)
from variet.engine.errors import BackendDown, TierLoadError
from variet.engine.events import EventBus

__all__ = [
    "Decision",
    "NoHooks",
    "Policy",
    "ResidentLoad",
    "SchedulerState",
    "SwapHooks",
    "SwapRecord",
    "TierBackend",
    "TierScheduler",
    "Waiting",
    "decide",
]

log = logging.getLogger(__name__)

SchedulerState = Literal["idle", "ready", "draining", "swapping", "down"]


class TierBackend(Protocol):
    """What the scheduler needs from llama-server. The swap lane's calls are never concurrent with each other; a
    resident tier's load (`start_load` then `until_loaded`, for a tier the swap lane never touches) may run
    beside them."""

    async def start_load(self, tier: str, *, by_requests: bool = False) -> None:
        """Start loading `tier`, evicting the loaded (idle) tier. Called only while no request runs.

        With `by_requests` the requests about to be let go with `autoload=true` start the load
        themselves (llama-server holds them until the tier is ready), so this only checks what can be
        checked beforehand. Raises `TierLoadError` or `BackendDown`.
        """

    async def until_loaded(self, tier: str, *, requested: Callable[[], bool] = ...) -> None:
        """Return once `tier` serves requests. Raises `TierLoadError` or `BackendDown`.

        `requested` (after `start_load(by_requests=True)`) tells whether any of those requests is still
        out; if none is and the load never started, the backend starts it.
        """

    async def unload(self, tier: str) -> None:
        """Unload `tier`; returns once its memory is free. Raises `BackendDown`."""


class SwapHooks(Protocol):
    """Work done around a swap. Called only from the scheduler's own task, one call at a time; none of them
    raises (a failure is theirs to report), and each bounds its own time."""

    async def before_evict(self, tier: str) -> None:
        """`tier` is loaded, idle (no request runs or is let go) and about to be evicted or unloaded."""

    async def before_load(self, tier: str, requests: Sequence[object]) -> object | None:
        """`tier` is about to be loaded for these waiting requests (what each passed to `acquire`; empty for an
        explicit load). Returns a plan for `after_load`, or None when there is nothing to do once loaded."""

    async def after_load(self, tier: str, plan: object) -> None:
        """`tier` is loaded and its waiting requests are not let go yet: carry out `plan`."""

    def unloaded(self, tier: str | None) -> None:
        """`tier` is gone (None: every tier, as when llama-server died). Must not block."""


class NoHooks:
    """`SwapHooks` that do nothing (prompt caching off)."""

    async def before_evict(self, tier: str) -> None:
        return None

    async def before_load(self, tier: str, requests: Sequence[object]) -> object | None:
        return None

    async def after_load(self, tier: str, plan: object) -> None:
        return None

    def unloaded(self, tier: str | None) -> None:
        return None


@dataclass(frozen=True)
class Decision:
    """What the scheduler should do now."""

    admit_loaded: bool
    """New requests for the loaded tier may start."""
    swap_to: str | None
    """Load this tier now (the loaded one is idle)."""
    wake_at: float | None
    """When the decision may change by the clock alone (a gathering window ends, a waiter becomes overdue)."""


@dataclass(frozen=True)
class Waiting:
    """A tier's queue as `decide` sees it."""

    since: float
    """When its oldest waiter arrived."""
    explicit: bool = False
    """An explicit load is among its waiters (never held back to gather)."""


GATHER_SHARE = 0.1
"""The gathering window as a share of the waiting tier's swap time (before the `gather` cap)."""


@dataclass(frozen=True)
class Policy:
    """The two knobs of `decide`, both caps on windows derived from a tier's swap time."""

    max_wait: float
    """Longest a waiter holds back before the loaded tier stops taking new requests."""
    gather: float = 0.0
    """Longest a swap away from an idle loaded tier is held back to gather requests sent together."""

    def bound(self, swap_seconds: float) -> float:
        return min(self.max_wait, swap_seconds)

    def gathering(self, swap_seconds: float) -> float:
        return min(self.gather, GATHER_SHARE * swap_seconds)


def decide(
    loaded: str | None,
    in_flight: Mapping[str, int],
    waiters: Mapping[str, Waiting],
    now: float,
    swap_seconds: Mapping[str, float],
    policy: Policy,
) -> Decision:
    """The pure scheduling policy.

    `waiters` maps each tier with waiters to its oldest waiter's arrival and whether an explicit load is
    among them; `swap_seconds` is what a swap to each tier takes (measured, or expected).
    """
    others = {tier: oldest for tier, oldest in waiters.items() if tier != loaded}
    if not others:
        return Decision(admit_loaded=True, swap_to=None, wake_at=None)
    first = min(others, key=lambda tier: (others[tier].since, tier))
    deadline = min(oldest.since + policy.bound(swap_seconds[tier]) for tier, oldest in others.items())
    overdue = now >= deadline
    wake_at = None if overdue else deadline
    # Any request in flight keeps the swap waiting; besides the loaded tier's, that can only be one let go
    # early to a tier whose load then failed, which llama-server is about to answer with an error.
    # Waiters for the loaded tier exist only after a drain began; they wait for the rotation.
    if any(count > 0 for count in in_flight.values()):
        return Decision(admit_loaded=not overdue, swap_to=None, wake_at=wake_at)
    if loaded is not None and not overdue and not others[first].explicit:
        gathered = others[first].since + policy.gathering(swap_seconds[first])
        if now < gathered:
            return Decision(admit_loaded=True, swap_to=None, wake_at=min(gathered, deadline))
    return Decision(admit_loaded=not overdue, swap_to=first, wake_at=wake_at)


@dataclass
class _Waiter:
    tier: str
    since: float
    future: asyncio.Future[bool]
    explicit: bool = False
    request: object = None


@dataclass
class SwapRecord:
    """The last swap to a tier."""

    tier: str
    started: float
    """Wall-clock time (epoch seconds) the swap began."""
    seconds: float
    ok: bool
    error: str | None = None


@dataclass
class ResidentLoad:
    """The last load of a resident tier."""

    tier: str
    started: float
    """Wall-clock time (epoch seconds) the load began."""
    seconds: float
    ok: bool
    error: str | None = None


@dataclass
class _Stats:
    swaps: int = 0
    failed_swaps: int = 0
    last_swap: dict[str, SwapRecord] = field(default_factory=dict)
    resident_loads: dict[str, ResidentLoad] = field(default_factory=dict)


class TierScheduler:
    """Admits requests tier by tier and drives swaps through a `TierBackend`.

    Call `acquire(tier)` before sending a request upstream and `release(tier)` once its response (stream
    included) has ended, whatever the outcome.
    """

    def __init__(
        self,
        tiers: list[str],
        backend: TierBackend,
        events: EventBus,
        *,
        max_wait: float,
        gather: float = 0.0,
        expected_swap_seconds: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        hooks: SwapHooks | None = None,
        residents: Sequence[str] = (),
    ) -> None:
        """`expected_swap_seconds`: each tier's expected load time, until a swap to it is measured
        (a tier without one is bounded by `max_wait` alone). `hooks`: work around swaps (none by default).
        `residents`: tiers of `tiers` that stay loaded beside the swapping one (the resident lane)."""
        self.residents = tuple(tier for tier in tiers if tier in set(residents))
        tiers = [tier for tier in tiers if tier not in self.residents]
        self._tiers = tiers
        self._backend = backend
        self._hooks: SwapHooks = hooks or NoHooks()
        self._events = events
        self._policy = Policy(max_wait=max_wait, gather=gather)
        self.swap_seconds: dict[str, float] = {tier: max_wait for tier in tiers}
        """What a swap to each tier takes: the last one measured, else the expected load time."""
        self.swap_seconds.update(expected_swap_seconds or {})
        self._clock = clock
        self.loaded: str | None = None
        self.swapping_to: str | None = None
        self.swap_started: float | None = None
        self.down = False
        self._in_flight: dict[str, int] = dict.fromkeys(tiers, 0)
        self._queues: dict[str, deque[_Waiter]] = {tier: deque() for tier in tiers}
        self._unload_requested = False
        self._unloading: str | None = None
        """The tier being unloaded now: its new requests queue and load it again afterwards."""
        self._swap_due = False
        self._wake = asyncio.Event()
        self._swap_ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resident_in_flight: dict[str, int] = dict.fromkeys(self.residents, 0)
        self._residents_loaded: set[str] = set()
        self._residents_loading: set[str] = set()
        self._residents_wake = asyncio.Event()
        self._resident_done = asyncio.Event()
        self._residents_task: asyncio.Task[None] | None = None
        self.stats = _Stats()
        events.listen(self._on_event)

    def use_hooks(self, hooks: SwapHooks) -> None:
        """Call `hooks` around swaps from now on (before `start`)."""
        self._hooks = hooks

    @property
    def state(self) -> SchedulerState:
        if self.down:
            return "down"
        if self.swapping_to is not None:
            return "swapping"
        if self.loaded is None:
            return "idle"
        return "ready" if self._decision().admit_loaded else "draining"

    def queued(self, tier: str) -> int:
        if tier in self._resident_in_flight:
            return 0
        return sum(1 for waiter in self._queues[tier] if not waiter.explicit)

    def in_flight(self, tier: str) -> int:
        if tier in self._resident_in_flight:
            return self._resident_in_flight[tier]
        return self._in_flight[tier]

    def pending_load(self, tier: str) -> bool:
        if tier in self._resident_in_flight:
            return tier in self._residents_loading
        return any(waiter.explicit for waiter in self._queues[tier]) or self.swapping_to == tier

    def is_resident(self, tier: str) -> bool:
        return tier in self._resident_in_flight

    def is_loaded(self, tier: str) -> bool:
        """Whether `tier` serves requests now: the swap lane's loaded tier, or a loaded resident."""
        if tier in self._resident_in_flight:
            return tier in self._residents_loaded
        return tier == self.loaded and self.swapping_to is None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="variet-scheduler")
        if self.residents:
            self._residents_task = asyncio.create_task(self._keep_residents(), name="variet-residents")
            self._residents_wake.set()  # and again when llama-server comes up, should it not be up yet

    async def stop(self) -> None:
        for task in (self._task, self._residents_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._fail_all(BackendDown("the engine is shutting down"))

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, BackendDownEvent):
            self.backend_down()
        elif isinstance(event, BackendUpEvent):
            self.backend_up()
        elif isinstance(event, TierExitedEvent):
            self.tier_exited(event.tier)

    def backend_down(self) -> None:
        """llama-server died: nothing is loaded any more and every waiter fails (on its `backend_down` event)."""
        self.down = True
        self.loaded = None
        self._residents_loaded.clear()
        self._hooks.unloaded(None)
        self._fail_all(BackendDown("llama-server is down; the engine is restarting it"))
        self._wake.set()

    def backend_up(self) -> None:
        """llama-server (re)started with nothing loaded (on its `backend_up` event)."""
        self.down = False
        self.loaded = None
        self._residents_wake.set()
        self._wake.set()

    def tier_exited(self, tier: str) -> None:
        """The loaded tier's model instance exited on its own (on its `tier_exited` event): nothing is loaded
        now, so its next request queues and loads it again. A tier failing to load is the swap's business.
        A resident is loaded again at once."""
        if tier in self._residents_loaded:
            log.warning("the model instance of the resident tier %s exited; loading it again", tier)
            self._residents_loaded.discard(tier)
            self._hooks.unloaded(tier)
            self._residents_wake.set()
            return
        if tier == self.loaded and self.swapping_to is None:
            log.warning("the model instance of the loaded tier %s exited; it loads again on its next request", tier)
            self.loaded = None
            self._hooks.unloaded(tier)
            self._wake.set()

    async def acquire(self, tier: str, request: object = None) -> bool:
        """Wait until a request for `tier` may run; raises `TierLoadError` or `BackendDown`.

        Returns True when the tier is still loading: the request must then ask llama-server to hold it
        until the tier is ready (`autoload=true`). `request` is handed to the hooks while it waits.
        """
        if self.down:
            raise BackendDown("llama-server is down; the engine is restarting it")
        if tier in self._resident_in_flight:
            # The resident lane never queues: if the instance is not up (yet), llama-server loads it for this
            # request beside the swapping tier (there is always room for it).
            self._resident_in_flight[tier] += 1
            return tier not in self._residents_loaded
        # Not while it unloads: llama-server would pass the request to an instance that is exiting.
        ready = self.is_loaded(tier) and self._unloading is None and not self._swap_due and not self._queues[tier]
        if ready and self._decision().admit_loaded:
            self._in_flight[tier] += 1
            return False
        waiter = self._enqueue(tier, explicit=False, request=request)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self.release(tier)  # admitted just as the client went away
            else:
                self._discard(waiter)
            raise

    def release(self, tier: str) -> None:
        if tier in self._resident_in_flight:
            self._resident_in_flight[tier] -= 1
            return
        self._in_flight[tier] -= 1
        if self._in_flight[tier] == 0:
            # As in llama-server's own router, the moment the loaded tier goes idle while another tier
            # waits, its swap is due: a request for the loaded tier arriving before the swap starts
            # queues behind it instead of keeping the tier busy.
            self._swap_due = self._decision().swap_to is not None
            self._wake.set()

    def request_load(self, tier: str) -> bool:
        """Queue an explicit load of `tier`; returns False when it is already loaded or pending (idempotent)."""
        if tier in self._resident_in_flight:
            if tier in self._residents_loaded or tier in self._residents_loading:
                return False
            self._residents_wake.set()
            return True
        self._unload_requested = False
        if (tier == self.loaded and self.swapping_to is None) or self.pending_load(tier):
            return False
        self._enqueue(tier, explicit=True)
        return True

    async def finished_swap(self, tier: str) -> SwapRecord | None:
        """The record of the last swap to `tier`, once any swap to it under way has ended."""
        while self.swapping_to == tier:
            await self._swap_ended.wait()
        return self.stats.last_swap.get(tier)

    def request_unload(self) -> None:
        """Unload the loaded tier once it is idle and nothing else is waiting. With nothing loaded, loading or
        asked for there is nothing to do: the request does not linger to unload the next tier loaded."""
        if self.loaded is None and self.swapping_to is None and not any(self._queues.values()):
            return
        self._unload_requested = True
        self._wake.set()

    def _enqueue(self, tier: str, *, explicit: bool, request: object = None) -> _Waiter:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(tier=tier, since=self._clock(), future=future, explicit=explicit, request=request)
        self._queues[tier].append(waiter)
        self._wake.set()
        return waiter

    def _discard(self, waiter: _Waiter) -> None:
        try:
            self._queues[waiter.tier].remove(waiter)
        except ValueError:
            pass
        self._wake.set()

    def _fail_all(self, exc: Exception) -> None:
        for tier in self._queues:
            self._fail_queue(tier, exc)

    def _fail_queue(self, tier: str, exc: Exception) -> None:
        queue = self._queues[tier]
        while queue:
            waiter = queue.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(exc)
                waiter.future.exception()  # mark retrieved: explicit loads may have no reader

    def _decision(self) -> Decision:
        waiters = {tier: Waiting(queue[0].since, any(waiter.explicit for waiter in queue))
                   for tier, queue in self._queues.items() if queue}
        return decide(self.loaded, self._in_flight, waiters, self._clock(), self.swap_seconds, self._policy)

    def _admit(self, tier: str, *, loading: bool = False) -> None:
        """Let `tier`'s queued requests run; `loading`: the tier is still loading (explicit loads stay)."""
        queue, kept = self._queues[tier], deque[_Waiter]()
        while queue:
            waiter = queue.popleft()
            if waiter.future.done():
                continue
            if waiter.explicit and loading:
                kept.append(waiter)
                continue
            if not waiter.explicit:
                self._in_flight[tier] += 1
            waiter.future.set_result(loading)
        queue.extend(kept)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._swap_due = False
            if self.down:
                await self._wake.wait()
                continue
            decision = self._decision()
            if decision.swap_to is not None:
                # Requests for the idle loaded tier that queued since it went idle wait for the rotation.
                await self._swap(decision.swap_to)
                continue
            if self.loaded is not None and decision.admit_loaded:
                self._admit(self.loaded)
            if self._unload_requested and self.loaded is not None and self._idle():
                await self._unload()
                continue
            timeout = None if decision.wake_at is None else max(0.0, decision.wake_at - self._clock())
            # Not `wait_for`: on Python 3.11 it swallows a cancellation that comes as the wake does, and `stop`
            # would then wait forever for this task.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _idle(self) -> bool:
        return not any(self._in_flight.values()) and not any(self._queues.values())

    async def _unload(self) -> None:
        tier = self.loaded
        assert tier is not None
        self._unload_requested = False
        self._unloading = tier
        try:
            await self._hooks.before_evict(tier)
            await self._backend.unload(tier)
        except BackendDown:
            return
        finally:
            self._unloading = None
        self.loaded = None
        self._hooks.unloaded(tier)
        self._events.publish(UnloadedEvent(time=time.time(), tier=tier))

    async def _swap(self, tier: str) -> None:
        previous = self.loaded
        self.swapping_to = tier
        self._swap_ended.clear()
        self.swap_started = self._clock()
        started_wall = time.time()
        self._events.publish(SwapStartedEvent(time=started_wall, tier=tier, previous=previous,
                                              expected_seconds=round(self.swap_seconds[tier], 3)))
        try:
            if previous is not None:
                await self._hooks.before_evict(previous)
                if self.residents:
                    # Free its room first, so llama-server never picks a victim itself (it might pick a resident).
                    await self._backend.unload(previous)
                self._hooks.unloaded(previous)
            self.loaded = None
            requests = [w.request for w in self._queues[tier] if not w.explicit and w.request is not None]
            plan = await self._hooks.before_load(tier, requests)
            if self.queued(tier) and plan is None:
                # The batch itself starts the load, in llama-server's router: no extra round trip, and
                # no race with the old tier's last request, which llama-server may still be closing.
                await self._backend.start_load(tier, by_requests=True)
                self._admit(tier, loading=True)
                await self._backend.until_loaded(tier, requested=lambda: self._in_flight[tier] > 0)
            else:
                await self._backend.start_load(tier)
                await self._backend.until_loaded(tier)
                if plan is not None:
                    await self._hooks.after_load(tier, plan)
        except (TierLoadError, BackendDown) as exc:
            seconds = self._clock() - self.swap_started
            self.stats.failed_swaps += 1
            self.stats.last_swap[tier] = SwapRecord(tier, started_wall, seconds, ok=False, error=str(exc))
            self._hooks.unloaded(tier)
            self.swapping_to = None
            self._swap_ended.set()
            self._fail_queue(tier, exc)
            self._events.publish(SwapFailedEvent(time=time.time(), tier=tier, error=str(exc)))
            return
        seconds = self._clock() - self.swap_started
        self.loaded = tier
        self.swapping_to = None
        self._swap_ended.set()
        self.stats.swaps += 1
        self.stats.last_swap[tier] = SwapRecord(tier, started_wall, seconds, ok=True)
        self.swap_seconds[tier] = seconds
        log.info("swapped %s -> %s in %.2f s", previous, tier, seconds)
        self._events.publish(SwapDoneEvent(time=time.time(), tier=tier, previous=previous, seconds=round(seconds, 3)))
        self._admit(tier)


    async def _keep_residents(self) -> None:
        """The resident lane: load every resident that is not loaded, whenever llama-server (re)starts or one
        exits. Runs beside the swap lane, so its loads never wait for a swap, nor a swap for them."""
        while True:
            await self._residents_wake.wait()
            self._residents_wake.clear()
            for tier in self.residents:
                if self.down:
                    break
                if tier in self._residents_loaded:
                    continue
                await self._load_resident(tier)

    async def _load_resident(self, tier: str) -> None:
        self._residents_loading.add(tier)
        started, started_wall = self._clock(), time.time()
        try:
            await self._backend.start_load(tier)
            await self._backend.until_loaded(tier)
        except BackendDown:
            return  # loaded again once llama-server is up (`backend_up`)
        except TierLoadError as exc:
            seconds = self._clock() - started
            self.stats.resident_loads[tier] = ResidentLoad(tier, started_wall, seconds, ok=False, error=str(exc))
            log.error("resident tier %s failed to load: %s", tier, exc)
            self._events.publish(ResidentFailedEvent(time=time.time(), tier=tier, error=str(exc)))
            return
        finally:
            self._residents_loading.discard(tier)
            self._resident_done.set()
            self._resident_done = asyncio.Event()
        seconds = self._clock() - started
        self._residents_loaded.add(tier)
        self.stats.resident_loads[tier] = ResidentLoad(tier, started_wall, seconds, ok=True)
        log.info("resident tier %s loaded in %.2f s", tier, seconds)
        self._events.publish(ResidentLoadedEvent(time=time.time(), tier=tier, seconds=round(seconds, 3)))
