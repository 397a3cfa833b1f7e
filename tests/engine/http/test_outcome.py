"""`request_done`: one event per relayed request, with its tier, status and wait, built only for subscribers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.engine.http.test_app import app_with_fake
from tests.engine.test_engine import chat, sse_data
from tests.fakes.llama import Reply, sse
from tests.parts.engine import RunningEngine
from variet.contract import RequestDoneEvent
from variet.engine.http.outcome import RequestOutcome


@pytest.mark.anyio
async def test_nothing_is_published_while_no_one_subscribes(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        bus = app.engine.events
        before = list(bus.history)
        outcome = RequestOutcome(app.engine)
        outcome.queue("fast")
        outcome.admitted()
        outcome.end(200)
        assert list(bus.history) == before


@pytest.mark.anyio
async def test_a_request_that_never_got_a_tier_is_not_reported(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        queue = app.engine.events.subscribe()
        RequestOutcome(app.engine).end(400)
        assert queue.empty()


@pytest.mark.anyio
async def test_the_status_reported_is_the_one_the_client_got_and_a_broken_stream_counts_as_failed(
    tmp_path: Path,
) -> None:
    async with app_with_fake(tmp_path) as app:
        events = app.engine.events.subscribe()
        assert (await app.client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200
        app.llama.script.append(Reply(chunks=sse({"choices": [{"delta": {"content": "a"}}]}), cut_after=0))
        assert (await app.client.post("/v1/chat/completions", json=chat("fast", stream=True))).status_code == 200
        app.backend.failing["balanced"] = "model file for tier 'balanced' is truncated"
        app.llama.script.append(Reply(status=500, body=b'{"error": {"code": 500, "message": "loading failed"}}'))
        assert (await app.client.post("/v1/chat/completions", json=chat("balanced"))).status_code == 500
        assert (await app.client.post("/v1/chat/completions", json=chat("nope"))).status_code == 404
        done = [event for event in [events.get_nowait() for _ in range(events.qsize())]
                if isinstance(event, RequestDoneEvent)]
    assert [(e.tier, e.status, e.waited_for_swap) for e in done] == [
        ("fast", 200, True), ("fast", 502, False), ("balanced", 500, True)]


@pytest.mark.anyio
@pytest.mark.llama
async def test_each_request_is_reported_once_it_ends_with_whether_it_waited_for_a_swap(engine: RunningEngine) -> None:
    async with httpx2.AsyncClient(base_url=engine.url, timeout=30) as client:
        assert (await client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200
        done: list[dict[str, Any]] = []
        with anyio.fail_after(30):
            async with client.stream("GET", "/variet/events") as events:
                lines = sse_data(events)
                assert json.loads(await anext(lines))["event"] == "subscribed"
                assert (await client.post("/v1/chat/completions", json=chat("fast", stream=True))).status_code == 200
                assert (await client.post("/v1/chat/completions", json=chat("balanced"))).status_code == 200
                async for data in lines:
                    event = json.loads(data)
                    if event["event"] == "request_done":
                        done.append(event)
                        if len(done) == 2:
                            break
    stream, swapped = done
    assert stream["tier"] == "fast" and stream["status"] == 200 and stream["waited_for_swap"] is False
    assert swapped["tier"] == "balanced" and swapped["status"] == 200 and swapped["waited_for_swap"] is True
    assert 0 <= swapped["waited_seconds"] <= swapped["seconds"]
