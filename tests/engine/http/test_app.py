"""The engine app and relay in process, against a fake llama-server that misbehaves on cue.

The same behaviours run against the real llama-server in test_engine.py where a real process can show
them; these cover what it does only now and then (headers held back, a stream cut mid-chunk, garbage
SSE, a 500 during a load) and every client mistake, deterministically and fast.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest

from tests.fakes.llama import FakeBackend, FakeLlama, Reply, running_fake_llama, sse
from variet.contract import EngineStatus
from variet.engine.auto import AutoRouter
from variet.engine.core import Engine
from variet.engine.events import EventBus
from variet.engine.http.app import create_app
from variet.shared.config import EngineSettings, Settings
from variet.shared.tiers import Tier, TierCatalogue

pytestmark = pytest.mark.anyio

COMPLETION_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/messages/count_tokens")


def catalogue() -> TierCatalogue:
    def tier(strengths: tuple[str, ...], **extra: Any) -> Tier:
        return Tier(model="m.gguf", context=4096, tokens_per_second=50, load_seconds=1, strengths=strengths, **extra)

    return TierCatalogue(tiers={
        "fast": tier(("chat", "admin", "easy")),
        "balanced": tier(("chat", "code", "writing", "medium")),
        "seer": tier(("chat", "easy"), args={"mmproj": "proj.gguf"}),
    })


@dataclass
class App:
    engine: Engine
    backend: FakeBackend
    llama: FakeLlama
    client: httpx2.AsyncClient

    async def status(self) -> EngineStatus:
        return EngineStatus.model_validate_json((await self.client.get("/variet/status")).content)


@asynccontextmanager
async def app_with_fake(tmp_path: Path, tiers: TierCatalogue | None = None,
                        **engine_settings: Any) -> AsyncIterator[App]:
    """The app on a fake llama-server (`tiers`: default `catalogue()`); prompt caches go under `tmp_path`."""
    async with running_fake_llama() as llama:
        settings = Settings(engine=EngineSettings(**{"prompt_cache_dir": str(tmp_path / "prompt-cache"),
                                                     **engine_settings}))
        events = EventBus()
        backend = FakeBackend(llama, events, tmp_path / "llama.log")
        engine = Engine(settings, tiers or catalogue(), backend=backend, events=events)
        app = create_app(engine, router=AutoRouter(settings.router))
        await engine.start()
        try:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://engine", timeout=10) as client:
                yield App(engine, backend, llama, client)
        finally:
            await engine.stop()


def chat(model: str = "fast", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **extra}


def error_of(reply: httpx2.Response) -> dict[str, Any]:
    body = reply.json()
    assert body["type"] == "error" and body["error"]["src"] == "variet-engine", body
    error: dict[str, Any] = body["error"]
    return error


async def test_an_answer_is_relayed_with_its_tier_and_its_speed_recorded(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        reply = await app.client.post("/v1/chat/completions", json=chat())
        assert reply.status_code == 200 and reply.headers["x-variet-tier"] == "fast"
        assert reply.json()["choices"][0]["message"]["content"] == "hello"
        status = await app.status()
        assert status.tier("fast").measured_tokens_per_second == 50.0 and status.tier("fast").in_flight == 0
        assert app.backend.loads == ["fast"]


async def test_held_back_headers_keep_the_tier_busy_and_another_tier_waits_for_it(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        await app.client.post("/v1/chat/completions", json=chat())  # fast is loaded
        release = asyncio.Event()
        app.llama.script.append(Reply(hold=release))
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                replies: dict[str, httpx2.Response] = {}

                async def ask(tier: str) -> None:
                    replies[tier] = await app.client.post("/v1/chat/completions", json=chat(tier))

                tasks.start_soon(ask, "fast")
                while (await app.status()).tier("fast").in_flight != 1:
                    await anyio.lowlevel.checkpoint()
                tasks.start_soon(ask, "balanced")
                while (await app.status()).tier("balanced").queued != 1:
                    await anyio.lowlevel.checkpoint()
                assert app.backend.loads == ["fast"], "nothing may be evicted while fast answers"
                release.set()
        assert replies["fast"].status_code == replies["balanced"].status_code == 200
        assert app.backend.loads == ["fast", "balanced"]


async def test_a_stream_cut_mid_chunk_ends_with_an_error_event_and_frees_the_tier(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        chunks = sse({"choices": [{"delta": {"content": "a"}}]}, {"choices": [{"delta": {"content": "b"}}]})
        app.llama.script.append(Reply(chunks=chunks, cut_after=1))
        reply = await app.client.post("/v1/chat/completions", json=chat(stream=True))
        assert reply.status_code == 200
        events = [line[5:].strip() for line in reply.text.splitlines() if line.startswith("data:")]
        assert json.loads(events[0])["choices"][0]["delta"]["content"] == "a"
        error = json.loads(events[-1])["error"]
        assert error["src"] == "variet-engine" and "died mid-stream" in error["message"]
        status = await app.status()
        assert status.tier("fast").in_flight == 0 and status.tier("fast").errors == 1


async def test_garbage_sse_is_relayed_as_sent_and_the_tier_is_freed(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        junk = [b"data: {not json\n\n", b"\x00\xff garbage \n", b"data: {\"timings\": [1, 2]}\n\n"]
        app.llama.script.append(Reply(chunks=junk))
        reply = await app.client.post("/v1/chat/completions", json=chat(stream=True))
        assert reply.status_code == 200 and reply.content == b"".join(junk)
        status = await app.status()
        assert status.tier("fast").in_flight == 0 and status.tier("fast").measured_tokens_per_second is None


async def test_a_tier_that_fails_to_load_answers_tier_load_failed_with_the_cause(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        app.backend.failing["balanced"] = "model file for tier 'balanced' is truncated"
        app.llama.script.append(Reply(status=500, body=b'{"error": {"code": 500, "message": "loading failed"}}'))
        reply = await app.client.post("/v1/chat/completions", json=chat("balanced"))
        assert reply.status_code == 500
        error = error_of(reply)
        assert error["code"] == "tier_load_failed" and "truncated" in error["message"]
        assert (await app.status()).failed_swaps == 1


async def test_llama_servers_500_for_a_client_mistake_becomes_a_400_keeping_its_message(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        message = "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
        body = json.dumps({"error": {"code": 500, "message": message, "type": "server_error"}}).encode()
        app.llama.script.append(Reply(status=500, body=body))
        reply = await app.client.post("/v1/chat/completions", json=chat("seer"))
        assert reply.status_code == 400
        error = error_of(reply)
        assert error["code"] == "backend_rejected" and message in error["message"] and "'seer'" in error["message"]


async def test_a_real_llama_server_failure_is_a_502_marked_as_the_engines(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        error = {"code": 500, "message": "failed to decode the batch, n_batch = 512", "type": "server_error"}
        body = json.dumps({"error": error}).encode()
        app.llama.script.append(Reply(status=500, body=body))
        reply = await app.client.post("/v1/chat/completions", json=chat())
        assert reply.status_code == 502
        assert error_of(reply)["code"] == "backend_error" and "failed to decode" in error_of(reply)["message"]


async def test_a_prompt_longer_than_the_context_names_the_tier_its_context_and_the_prompt(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        body = json.dumps({"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 5000,
                                     "n_ctx": 4096, "message": "the request exceeds the available context size"}})
        app.llama.script.append(Reply(status=400, body=body.encode()))
        reply = await app.client.post("/v1/chat/completions", json=chat())
        assert reply.status_code == 400
        error = error_of(reply)
        assert error["code"] == "context_length_exceeded"
        assert "5000 tokens" in error["message"] and "'fast'" in error["message"] and "4096" in error["message"]


async def test_connections_closed_without_an_answer_are_retried_then_answered_503(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        app.llama.script.extend([Reply(close_without_answer=True), Reply()])
        assert (await app.client.post("/v1/chat/completions", json=chat())).status_code == 200
        app.llama.script.extend([Reply(close_without_answer=True)] * 3)
        reply = await app.client.post("/v1/chat/completions", json=chat())
        assert reply.status_code == 503 and error_of(reply)["code"] == "backend_down"
        assert (await app.status()).tier("fast").in_flight == 0


@pytest.mark.parametrize("path", COMPLETION_PATHS)
async def test_a_deeply_nested_body_gets_a_400_not_a_500(tmp_path: Path, path: str) -> None:
    async with app_with_fake(tmp_path) as app:
        nested = b'{"model": "fast", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        reply = await app.client.post(path, content=nested, headers={"content-type": "application/json"})
        assert reply.status_code == 400 and error_of(reply)["code"] == "invalid_json"
        assert "nested too deeply" in error_of(reply)["message"]
        assert app.llama.seen == []


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"tools": "get_weather"}, "tools", "must be an array"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0]", "non-empty string `name`"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]}, "tools[0].function.parameters",
     "JSON Schema object"),
    ({"messages": [{"content": "no role"}]}, "messages[0].role", "`messages[0].role` is required"),
    ({"messages": []}, "messages", "non-empty array"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "string or an array"),
    ({"stream": "yes"}, "stream", "true or false"),
    ({"max_tokens": "many"}, "max_tokens", "an integer"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]},
     "messages[0].content[0]", "cannot take images"),
])
async def test_a_malformed_chat_request_gets_a_400_naming_the_field(
        tmp_path: Path, body: dict[str, Any], param: str, words: str) -> None:
    async with app_with_fake(tmp_path) as app:
        reply = await app.client.post("/v1/chat/completions", json={**chat(), **body})
        assert reply.status_code == 400, reply.text
        error = error_of(reply)
        assert error["param"] == param and words in error["message"], error
        assert app.llama.seen == [], "a client mistake must not reach llama-server"


async def test_a_tier_with_a_vision_projector_takes_images(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]
        assert (await app.client.post("/v1/chat/completions", json=chat("seer", messages=image))).status_code == 200


async def test_anthropic_endpoints_answer_in_anthropics_error_types(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        body = {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        reply = await app.client.post("/v1/messages", json=body)
        assert reply.status_code == 404 and error_of(reply)["type"] == "not_found_error"
        tools = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                 "tools": [{"input_schema": {}}]}
        reply = await app.client.post("/v1/messages", json=tools)
        assert reply.status_code == 400 and error_of(reply)["type"] == "invalid_request_error"
        reply = await app.client.post("/v1/chat/completions", json=chat("nope"))
        assert reply.status_code == 404 and error_of(reply)["type"] == "invalid_request_error"


async def test_control_calls_answer_the_contract_and_unknown_tiers_get_a_404(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        load = await app.client.post("/variet/tiers/balanced/load")
        assert load.status_code == 202 and load.json()["tier"] == "balanced"
        missing = await app.client.post("/variet/tiers/..%2F..%2Fetc/load")
        assert missing.status_code == 404 and error_of(missing)["code"] in ("tier_not_found", "not_found")
        assert (await app.client.put("/variet/unload")).status_code == 405
