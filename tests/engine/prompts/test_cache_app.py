"""Prompt caches in process, against the fake llama-server: ordering, budgets, failures and the `auto` router.

The real llama-server shows the caches work (test_prompt_cache.py); these show, deterministically, what the
engine does around them: requests wait for a restore, a request that continues nothing still starts its
own load, a save or restore that fails or outlasts its budget is skipped and everything is served, and the
router sees a tier with the conversation's cache as cheaper to return to.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.engine.http.test_app import App, app_with_fake
from tests.fakes.llama import Reply
from variet.engine.auto import AutoRouter, swap_prompt_seconds, with_swap_costs
from variet.shared.config import RouterSettings
from variet.shared.tiers import Tier, TierCatalogue

pytestmark = pytest.mark.anyio

PROMPT_TOKENS = 5000
SYSTEM = "rules of the house " * 1000


def tiers(tmp_path: Path) -> TierCatalogue:
    """Two interchangeable chat tiers and a math tier, each with a real (if empty) model file."""
    def tier(name: str, strengths: tuple[str, ...]) -> Tier:
        (tmp_path / f"{name}.gguf").write_bytes(b"GGUF " + name.encode())
        return Tier(model=str(tmp_path / f"{name}.gguf"), context=32768, tokens_per_second=50, load_seconds=1,
                    strengths=strengths)

    return TierCatalogue(tiers={"one": tier("one", ("chat", "easy")), "two": tier("two", ("chat", "easy")),
                                "maths": tier("maths", ("math", "hard"))})


def answered(prompt_tokens: int = PROMPT_TOKENS, speed: float = 1000.0) -> Reply:
    """A chat answer whose timings say how long its prompt was and how fast it was processed."""
    return Reply(body=json.dumps({
        "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "length",
                                                  "message": {"role": "assistant", "content": "ok"}}],
        "timings": {"prompt_n": prompt_tokens, "cache_n": 0, "prompt_per_second": speed, "predicted_n": 4,
                    "predicted_per_second": 50.0},
    }).encode())


def conversation(tier: str, *turns: str, system: str = SYSTEM) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}]
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(turns)]
    return {"model": tier, "messages": messages, "max_tokens": 4}


async def long_turn_saved_on(app: App, tier: str, *, away: str = "maths", speed: float = 1000.0,
                             system: str = SYSTEM) -> None:
    """A long turn on `tier`, its slot left holding it, then a request on `away` (the swap saves it)."""
    app.llama.script.append(answered(speed=speed))
    first = await app.client.post("/v1/chat/completions", json=conversation(tier, "q1", system=system))
    assert first.status_code == 200
    app.backend.slot_tokens[tier][0] = PROMPT_TOKENS + 3
    swap = await app.client.post("/v1/chat/completions", json=conversation(away, "hi", system=""))
    assert swap.status_code == 200


def upstream_targets(app: App) -> list[str]:
    """The request lines the fake llama-server received."""
    return [line for line, _, _ in app.llama.seen]


async def test_waiting_requests_are_let_go_only_after_their_prefix_is_restored(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path, tiers(tmp_path)) as app:
        await long_turn_saved_on(app, "one")
        assert ("save", "one", 0) in app.backend.slot_calls
        app.backend.slot_gate = asyncio.Event()
        app.backend.slot_started.clear()
        seen_before = len(app.llama.seen)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                replies: list[int] = []

                async def come_back() -> None:
                    body = conversation("one", "q1", "ok", "q2")
                    replies.append((await app.client.post("/v1/chat/completions", json=body)).status_code)

                tg.start_soon(come_back)
                await app.backend.slot_started.wait()
                assert app.backend.slot_calls[-1] == ("restore", "one", 0)
                status = await app.status()
                assert status.state == "swapping" and status.tiers["one"].queued == 1
                assert len(app.llama.seen) == seen_before  # held in the engine, not sent ahead
                app.backend.slot_gate.set()
        assert replies == [200]
        # Loaded explicitly, so the request went without autoload.
        assert "autoload" not in upstream_targets(app)[-1]
        cache: Any = (await app.status()).tiers["one"].prompt_cache
        assert cache.restores == 1 and cache.last_restore.tokens == PROMPT_TOKENS + 3


async def test_a_request_that_continues_nothing_on_disk_starts_the_load_itself(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path, tiers(tmp_path)) as app:
        await long_turn_saved_on(app, "one")
        reply = await app.client.post("/v1/chat/completions", json=conversation("one", "q", system="another"))
        assert reply.status_code == 200
        assert "autoload=true" in upstream_targets(app)[-1]
        assert not any(action == "restore" for action, _, _ in app.backend.slot_calls)


async def test_a_failed_save_is_skipped_and_counted_and_the_swap_goes_on(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path, tiers(tmp_path)) as app:
        app.backend.slot_failure["save"] = 'llama-server answered 500: {"error": "Unable to save slot"}'
        events = app.engine.events.subscribe()
        await long_turn_saved_on(app, "one")
        skipped = [e for e in _drain(events) if e.event == "prompt_cache_skipped"]
        assert [(e.action, e.reason) for e in skipped] == [("save", "failed")]  # type: ignore[union-attr]
        status = await app.status()
        assert status.loaded == "maths" and status.tiers["one"].prompt_cache.skips == 1  # type: ignore[union-attr]
        assert list((app.engine.prompt_cache.slot_dirs["one"]).iterdir()) == []  # type: ignore[union-attr]
        metrics = (await app.client.get("/metrics")).text
        assert 'variet_prompt_cache_skips_total{tier="one",action="save",reason="failed"} 1' in metrics


async def test_a_restore_that_outlasts_its_budget_is_abandoned_and_the_request_served(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path, tiers(tmp_path)) as app:
        # At 50 000 tokens a second the prefix would be processed again in 0.1 s: that, plus a little, is
        # all the restore may take.
        await long_turn_saved_on(app, "one", speed=50_000.0)
        app.backend.slot_gate = asyncio.Event()
        with anyio.fail_after(10):
            reply = await app.client.post("/v1/chat/completions", json=conversation("one", "q1", "ok", "q2"))
        assert reply.status_code == 200
        cache: Any = (await app.status()).tiers["one"].prompt_cache
        assert cache.restores == 0 and cache.last_skip == "restore: too_slow"


async def test_the_router_returns_to_the_tier_whose_cache_holds_the_conversation(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path, tiers(tmp_path)) as app:
        # Both chat tiers' prompt speeds are measured; only "two" has this conversation on disk.
        await long_turn_saved_on(app, "one", system="an unrelated conversation " * 700)
        await long_turn_saved_on(app, "two")
        events = app.engine.events.subscribe()
        await app.client.post("/variet/unload")
        with anyio.fail_after(10):
            while (await events.get()).event != "unloaded":
                pass
        router = AutoRouter(RouterSettings())
        # A conversation with no cache anywhere goes to the first adequate tier, as before ...
        fresh = {**conversation("auto", "q1", "ok", "say hi", system="a third conversation " * 900), "model": "auto"}
        assert router(fresh, app.engine)[0] == "one"
        # ... and this one to the tier that has it on disk, whose return costs a read, not the prompt again.
        body = {**conversation("auto", "q1", "ok", "say hi"), "model": "auto"}
        reply = await app.client.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200
        route = json.loads(reply.headers["x-variet-route"])
        assert reply.headers["x-variet-tier"] == "two", route
        assert route["prompt_seconds"]["two"] < 1.0 < route["prompt_seconds"]["one"]
        assert (await app.status()).tiers["two"].prompt_cache.restores == 1  # type: ignore[union-attr]


async def test_a_restore_llama_server_then_does_not_reuse_is_counted_as_unused(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path, tiers(tmp_path)) as app:
        await long_turn_saved_on(app, "one")
        # The next prompt diverged early: llama-server took nothing from the restored slot.
        app.llama.script.append(Reply(body=json.dumps({"choices": [], "timings": {
            "prompt_n": PROMPT_TOKENS + 20, "cache_n": 0, "predicted_n": 1}}).encode()))
        assert (await app.client.post("/v1/chat/completions",
                                      json=conversation("one", "q1", "ok", "q2"))).status_code == 200
        cache: Any = (await app.status()).tiers["one"].prompt_cache
        assert cache.restores == 1 and cache.unused_restores == 1
        metrics = (await app.client.get("/metrics")).text
        assert 'variet_prompt_cache_unused_restores_total{tier="one"} 1' in metrics


def test_a_swap_costs_the_prompt_processed_again_or_the_read_of_its_cache() -> None:
    assert swap_prompt_seconds(8000, 400.0, None) == 20.0
    assert swap_prompt_seconds(8000, 400.0, (7600, 0.5)) == 1.5
    assert swap_prompt_seconds(8000, None, (7600, 0.5)) is None


def test_swap_costs_are_added_to_a_copy_of_the_catalogue(tmp_path: Path) -> None:
    catalogue = tiers(tmp_path)
    dearer = with_swap_costs(catalogue, {"one": 12.5})
    assert dearer.tiers["one"].load_seconds == 13.5 and dearer.tiers["two"].load_seconds == 1
    assert catalogue.tiers["one"].load_seconds == 1


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events
