"""variet-inference through real MCP clients, against the real engine with tiny tiers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.parts.engine import RunningEngine, run_engine, write_config
from variet.engine.llama.backend import free_port
from variet.engine.llama.launcher import stop_process
from variet.servers.inference.server import create_server
from variet.shared.config import EngineSettings, McpSettings, Settings

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

MODES = pytest.mark.parametrize("mode", ["legacy", "auto"])


def settings_for(url: str, *, wait: float = 60.0) -> Settings:
    return Settings(engine=EngineSettings(url=url), mcp=McpSettings(load_wait_seconds=wait))


def not_loaded(engine: RunningEngine, *candidates: str) -> str:
    loaded = engine.status().loaded
    return next(tier for tier in candidates if tier != loaded)


@MODES
async def test_list_tiers_shows_all_five_with_placement_speed_and_strengths(engine: RunningEngine, mode: str) -> None:
    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        result = await client.call_tool("list_tiers", {})
    assert not result.is_error
    data: Any = result.structured_content
    assert [t["name"] for t in data["tiers"]] == ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
    fast = data["tiers"][0]
    assert fast["placement"] == "CPU" and "chat" in fast["strengths"]
    assert fast["expected_tokens_per_second"] > 0 and fast["model_file"] == "fast.gguf"


@MODES
async def test_load_tier_reports_progress_then_the_tier_serves_chat(engine: RunningEngine, mode: str) -> None:
    tier = not_loaded(engine, "deep-coder", "balanced")
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        with anyio.fail_after(60):
            loaded = await client.call_tool("load_tier", {"tier": tier}, progress_callback=on_progress)
            assert not loaded.is_error, loaded.content
            assert loaded.structured_content["state"] == "loaded"  # type: ignore[index]
            assert loaded.structured_content["swap_seconds"] > 0  # type: ignore[index]
            assert progress and progress[0].startswith(f"loading {tier}")
            answer = await client.call_tool("chat", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12})
    data: Any = answer.structured_content
    assert not answer.is_error and data["tier"] == tier
    assert data["text"] and data["completion_tokens"] >= 1
    assert data["time_to_first_token_seconds"] > 0 and data["tokens_per_second"] > 0


async def test_a_swap_longer_than_the_wait_says_still_loading_and_a_later_call_reports_it_done(
    engine: RunningEngine,
) -> None:
    tier = not_loaded(engine, "ultra", "fast")
    async with Client(create_server(settings_for(engine.url, wait=0.001))) as impatient:
        first = await impatient.call_tool("load_tier", {"tier": tier})
    data: Any = first.structured_content
    assert not first.is_error and data["state"] == "loading"
    assert "still loading" in data["message"] and "load_tier again" in data["message"]
    async with Client(create_server(settings_for(engine.url))) as patient:
        with anyio.fail_after(60):
            again = await patient.call_tool("load_tier", {"tier": tier})
            status = await patient.call_tool("engine_status", {})
    assert again.structured_content["state"] == "loaded"  # type: ignore[index]
    assert status.structured_content["loaded"] == tier  # type: ignore[index]
    assert f"loaded: {tier}" in status.structured_content["summary"]  # type: ignore[index]


@MODES
async def test_complete_runs_a_raw_prompt_on_a_chosen_tier(engine: RunningEngine, mode: str) -> None:
    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("complete", {"prompt": "Once upon", "tier": "fast", "max_tokens": 8})
    assert not result.is_error
    assert result.structured_content["tier"] == "fast"  # type: ignore[index]
    assert result.structured_content["text"]  # type: ignore[index]


@MODES
async def test_bad_arguments_and_unknown_tiers_get_clear_errors_and_the_server_keeps_serving(
    engine: RunningEngine, mode: str
) -> None:
    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        unknown = await client.call_tool("load_tier", {"tier": "mega"})
        assert unknown.is_error
        assert "unknown tier 'mega'" in unknown.content[0].text and "deep-logic" in unknown.content[0].text  # type: ignore[union-attr]
        negative = await client.call_tool("chat", {"messages": [{"role": "user", "content": "x"}], "max_tokens": -5})
        assert negative.is_error and "max_tokens" in negative.content[0].text  # type: ignore[union-attr]
        empty = await client.call_tool("chat", {"messages": []})
        assert empty.is_error and "messages" in empty.content[0].text  # type: ignore[union-attr]
        still = await client.call_tool("engine_status", {})
        assert not still.is_error


@MODES
async def test_an_unreachable_engine_names_the_url_and_how_to_start_it(mode: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Client(create_server(settings_for(url)), mode=mode) as client:
        result = await client.call_tool("engine_status", {})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert url in text and "variet engine serve" in text


@pytest.fixture(scope="module")
def keyed_engine(tiny_dir: Path) -> Iterator[RunningEngine]:
    with run_engine(write_config(tiny_dir), env={"VARIET_ENGINE_API_KEY": "right-key"}) as running:
        yield running


async def test_a_wrong_or_missing_api_key_is_reported_as_such(
    keyed_engine: RunningEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARIET_ENGINE_API_KEY", "wrong-key")
    async with Client(create_server(settings_for(keyed_engine.url))) as client:
        wrong = await client.call_tool("list_tiers", {})
    assert wrong.is_error and "API key is rejected" in wrong.content[0].text  # type: ignore[union-attr]
    monkeypatch.delenv("VARIET_ENGINE_API_KEY")
    async with Client(create_server(settings_for(keyed_engine.url))) as client:
        missing = await client.call_tool("list_tiers", {})
    assert missing.is_error and "VARIET_ENGINE_API_KEY" in missing.content[0].text  # type: ignore[union-attr]
    monkeypatch.setenv("VARIET_ENGINE_API_KEY", "right-key")
    async with Client(create_server(settings_for(keyed_engine.url))) as client:
        right = await client.call_tool("list_tiers", {})
    assert not right.is_error


def server_env(engine_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    return {**env, "VARIET_ENGINE_URL": engine_url, "VARIET_CONFIG": os.devnull, **extra}


async def test_over_stdio_the_server_lists_tools_and_answers(engine: RunningEngine) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "variet.servers.inference"], env=server_env(engine.url)
    )
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            status = await client.call_tool("engine_status", {})
    assert tools == {"list_tiers", "engine_status", "load_tier", "unload", "chat", "complete"}
    assert not status.is_error and status.structured_content["backend_up"] is True  # type: ignore[index]


@pytest.fixture
def http_server(engine: RunningEngine, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "variet.servers.inference", "--transport", "http", "--port", str(port)],
            env=server_env(engine.url, VARIET_MCP_TOKEN="tok-123"),
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx2.get(url, timeout=1)
                break
            except httpx2.TransportError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.05)
        yield url
    finally:
        stop_process(proc, 10)


async def test_over_http_a_token_is_required_and_foreign_origins_are_refused(http_server: str) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx2.AsyncClient(timeout=10) as raw:
        no_token = await raw.post(http_server, json=init, headers=headers)
        assert no_token.status_code == 401
        foreign = await raw.post(
            http_server,
            json=init,
            headers={**headers, "authorization": "Bearer tok-123", "origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
    authed = httpx2.AsyncClient(headers={"authorization": "Bearer tok-123"}, timeout=30)
    async with authed, Client(streamable_http_client(http_server, http_client=authed), mode="legacy") as client:
        tools = await client.list_tools()
    assert "load_tier" in {tool.name for tool in tools.tools}


def test_serving_http_beyond_loopback_without_a_token_is_refused() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "variet.servers.inference",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        env=server_env("http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "without a token" in done.stderr


async def test_unload_frees_the_tier_once_it_is_idle(engine: RunningEngine) -> None:
    async with Client(create_server(settings_for(engine.url))) as client:
        with anyio.fail_after(60):
            await client.call_tool("load_tier", {"tier": "balanced"})
            result = await client.call_tool("unload", {})
            assert not result.is_error and result.structured_content["was_loaded"] == "balanced"  # type: ignore[index]
            status = await anyio.to_thread.run_sync(
                engine.wait_for, "the tier to be unloaded", lambda s: s.loaded is None and s.state == "idle")
    assert status.tiers["balanced"].loaded is False


class _Counting(httpx2.AsyncBaseTransport):
    """Real HTTP to the engine, recording each request's method and path."""

    def __init__(self) -> None:
        self._real = httpx2.AsyncHTTPTransport()
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


async def test_chat_on_the_loaded_tier_asks_for_status_once_then_streams(engine: RunningEngine) -> None:
    from variet.shared.engine_client import EngineClient

    tier = engine.status().loaded or "fast"
    httpx2.post(f"{engine.url}/v1/chat/completions", timeout=30,
                json={"model": tier, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    counting = _Counting()
    async with EngineClient(engine.url, transport=counting) as client:
        async with Client(create_server(settings_for(engine.url), engine=client)) as mcp:
            result = await mcp.call_tool("chat", {"messages": [{"role": "user", "content": "hi"}], "tier": tier,
                                                  "max_tokens": 4})
    assert not result.is_error, result.content
    assert counting.seen == ["GET /variet/status", "POST /v1/chat/completions"]


async def test_engine_status_shows_the_prompt_caches_saved_and_restored_around_swaps(engine: RunningEngine) -> None:
    system = "Rules for this session. " * 200  # about 4800 tokens on the byte-level tiny tiers
    history: list[dict[str, Any]] = [{"role": "system", "content": system}]

    def turn(tier: str, question: str) -> None:
        body = {"model": tier, "messages": [*history, {"role": "user", "content": question}], "max_tokens": 4}
        reply = httpx2.post(f"{engine.url}/v1/chat/completions", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        history.extend([{"role": "user", "content": question}, reply.json()["choices"][0]["message"]])

    away = "fast" if engine.status().loaded != "fast" else "balanced"
    turn("deep-logic", "first question")
    httpx2.post(f"{engine.url}/v1/chat/completions", timeout=120,
                json={"model": away, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    turn("deep-logic", "second question")
    async with Client(create_server(settings_for(engine.url))) as client:
        result = await client.call_tool("engine_status", {})
    assert not result.is_error
    data: Any = result.structured_content
    row = next(row for row in data["tiers"] if row["tier"] == "deep-logic")
    cache = row["prompt_cache"]
    assert cache["restores"] >= 1 and cache["last_restore_tokens"] >= len(system)
    assert cache["last_restore_bytes"] > 0 and cache["last_restore_ms"] >= 0 and cache["saved_prefixes"] >= 1
    assert "prompt caches: deep-logic" in data["summary"]
