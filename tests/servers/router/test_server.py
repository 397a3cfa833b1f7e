"""variet-router through real MCP clients, against the real engine with tiny tiers."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.parts.engine import RunningEngine
from variet.engine.llama.backend import free_port
from variet.servers.router.server import create_server
from variet.shared.config import EngineSettings, Settings

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

MODES = pytest.mark.parametrize("mode", ["legacy", "auto"])

STACK_TRACE = """Why does this fail?
Traceback (most recent call last):
  File "/srv/app/worker.py", line 88, in run
    result = handler(job.payload)
  File "/srv/app/handlers.py", line 12, in handler
    return payload["items"][0]["id"]
KeyError: 'items'
"""


def settings_for(url: str) -> Settings:
    return Settings(engine=EngineSettings(url=url))


def load(engine: RunningEngine, tier: str) -> None:
    httpx2.post(f"{engine.url}/v1/chat/completions", timeout=60,
                json={"model": tier, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})


@MODES
async def test_route_task_sends_a_stack_trace_to_a_coding_tier_and_prices_the_swap(
    engine: RunningEngine, mode: str
) -> None:
    load(engine, "fast")
    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        result = await client.call_tool("route_task", {"task": STACK_TRACE})
    data: Any = result.structured_content
    assert not result.is_error
    # A code tier (a KeyError is a medium code task: balanced or deep-coder, never a reasoning tier or ultra).
    assert data["tier"] in ("balanced", "deep-coder") and data["domain"] == "code"
    assert data["reasons"] and data["loaded_tier"] == "fast"
    assert data["needs_swap"] is (data["tier"] != "fast")
    assert data["swap_seconds"] > 0 if data["needs_swap"] else data["swap_seconds"] == 0


@MODES
async def test_an_adequate_loaded_tier_is_kept(engine: RunningEngine, mode: str) -> None:
    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        first: Any = (await client.call_tool("route_task", {"task": STACK_TRACE})).structured_content
        load(engine, first["tier"])
        again: Any = (await client.call_tool("route_task", {"task": STACK_TRACE})).structured_content
    assert again["tier"] == first["tier"] and again["needs_swap"] is False and again["loaded_tier"] == first["tier"]


@MODES
async def test_run_task_routes_loads_and_answers_with_timings(engine: RunningEngine, mode: str) -> None:
    load(engine, "fast")
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(create_server(settings_for(engine.url)), mode=mode) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("run_task", {"task": STACK_TRACE, "max_tokens": 16},
                                            progress_callback=on_progress)
    data: Any = result.structured_content
    assert not result.is_error, result.content
    assert data["tier"] != "fast" and data["swapped"] is True and data["swap_seconds"] > 0
    assert data["answer"] and data["reasons"]
    assert data["time_to_first_token_seconds"] > 0 and data["completion_tokens"] >= 1
    assert progress and progress[0].startswith(f"loading {data['tier']}")


async def test_run_task_with_a_pinned_tier_uses_it(engine: RunningEngine) -> None:
    async with Client(create_server(settings_for(engine.url))) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("run_task", {"task": "hello", "tier": "deep-logic", "max_tokens": 4})
    assert result.structured_content["tier"] == "deep-logic"  # type: ignore[index]
    assert any("pinned" in r for r in result.structured_content["reasons"])  # type: ignore[index]


async def test_explain_policy_lists_the_engines_tiers_and_settings(engine: RunningEngine) -> None:
    async with Client(create_server(settings_for(engine.url)), mode="legacy") as client:
        result = await client.call_tool("explain_policy", {})
    data: Any = result.structured_content
    assert [t["name"] for t in data["tiers"]] == ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]


async def test_bad_input_and_a_missing_engine_get_clear_errors() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Client(create_server(settings_for(url))) as client:
        empty = await client.call_tool("route_task", {"task": "  "})
        assert empty.is_error and "task is empty" in empty.content[0].text  # type: ignore[union-attr]
        offline = await client.call_tool("route_task", {"task": STACK_TRACE})
        assert not offline.is_error and offline.structured_content["loaded_tier"] is None  # type: ignore[index]
        run = await client.call_tool("run_task", {"task": "hi"})
        assert run.is_error and url in run.content[0].text  # type: ignore[union-attr]
        bad_tier = await client.call_tool("run_task", {"task": "hi", "tier": "mega"})
        assert bad_tier.is_error and "mega" in bad_tier.content[0].text  # type: ignore[union-attr]


async def test_over_stdio_the_router_answers(engine: RunningEngine) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    env |= {"VARIET_ENGINE_URL": engine.url, "VARIET_CONFIG": os.devnull}
    params = StdioServerParameters(command=sys.executable, args=["-m", "variet.servers.router"], env=env)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            routed = await client.call_tool("route_task", {"task": STACK_TRACE})
    assert tools == {"route_task", "run_task", "explain_policy"}
    assert not routed.is_error
