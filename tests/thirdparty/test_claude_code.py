"""Claude Code, a real coding host, run headless (`claude -p`) and kept offline.

It talks only to `ANTHROPIC_BASE_URL` on loopback (the engine, or a scripted stub as the model), with an
isolated HOME and a dummy API key. `ENABLE_TOOL_SEARCH=false` puts MCP tools straight into the tool list
(otherwise they hide behind its tool-search tool); the other variables turn off everything that would
phone home. HTTP(S)_PROXY names a loopback port that refuses connections, so anything that honours it and
is not bound for loopback fails instead of leaving the machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tests.fakes.anthropic_stub import ToolUse, serve_anthropic_stub
from tests.parts.engine import RunningEngine
from tests.parts.node import NodeTools, Ran, run_tool
from tests.thirdparty.conftest import TIERS, McpServers

pytestmark = pytest.mark.node

_TIMEOUT = 180  # a 16k-token prompt on a tiny tier takes ~10 s on a busy 2-core CPU


def _offline_env(node: NodeTools, home: Path, base_url: str, proxy: str) -> dict[str, str]:
    return node.env(home, {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-dummy-key-for-tests",
        "ENABLE_TOOL_SEARCH": "false",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
    })


async def _claude(node: NodeTools, env: dict[str, str], cwd: Path, *args: str) -> tuple[Ran, dict[str, Any]]:
    """Run `claude -p ARGS --output-format json` and return the run and its result object."""
    with anyio.fail_after(_TIMEOUT):
        ran = await run_tool([node.claude, "-p", *args, "--output-format", "json", "--no-session-persistence"],
                             env=env, cwd=cwd)
    assert ran.returncode == 0, ran
    result: dict[str, Any] = json.loads(ran.stdout)
    assert result["type"] == "result" and result["is_error"] is False, ran
    return ran, result


async def _requests(engine: RunningEngine) -> dict[str, int]:
    status = await anyio.to_thread.run_sync(engine.status)
    tiers: dict[str, Any] = status.tiers
    return {name: tier.requests for name, tier in tiers.items()}


@pytest.mark.anyio
@pytest.mark.llama
@pytest.mark.parametrize("model", ["balanced", "auto"])
async def test_claude_code_gets_its_answer_from_the_engines_anthropic_api(
    node: NodeTools, engine: RunningEngine, tmp_path: Path, refusing_proxy: str, model: str
) -> None:
    """Claude Code's full-size requests (`/v1/messages?beta=true`, ~16k tokens of system prompt and tools)."""
    (tmp_path / "home").mkdir()
    (tmp_path / "project").mkdir()
    before = await _requests(engine)
    env = _offline_env(node, tmp_path / "home", engine.url, refusing_proxy)
    ran, result = await _claude(node, env, tmp_path / "project", "Say hello.", "--model", model)
    after = await _requests(engine)
    served = {tier for tier in TIERS if after[tier] > before[tier]}
    assert served, f"the engine counted no request: {before} -> {after}\n{ran}"
    if model != "auto":
        assert served == {model}
    assert isinstance(result["result"], str) and result["result"].strip(), ran
    usage = result["usage"]
    counts = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    prompt = sum(usage.get(key) or 0 for key in counts)
    assert prompt > 8000, usage  # the full prompt went through (llama-server counts a reused prefix as cache reads)


def _tier_of(route: str) -> str:
    match = re.search(r'"tier":\s*"([^"]+)"', route)
    return match.group(1) if match else "?"


def _first_title(search: str) -> str:
    match = re.search(r'"title":\s*"([^"]+)"', search)
    return match.group(1) if match else "?"


@pytest.mark.anyio
@pytest.mark.llama
@pytest.mark.searx
async def test_claude_code_routes_searches_and_edits_a_file_through_the_variet_servers(
    node: NodeTools, mcp_servers: McpServers, refusing_proxy: str, tmp_path: Path
) -> None:
    """The seed's agent loop: prompt -> route_task -> web_search -> the host's own Read and Write -> answer.

    The model is the scripted stub; the tools are the real servers from the `.mcp.json`, backed by the
    real engine and a real searx. The file's new text is built from the tool results the model received.
    """
    home, project = tmp_path / "home", mcp_servers.folder
    home.mkdir()
    notes = project / "NOTES.md"
    notes.write_text("# Notes\n\nTODO: which tier handles swaps?\n")

    def rewrite(results: list[str]) -> dict[str, str]:
        route, search = results[0], results[1]
        text = f"# Notes\n\nRouted to: {_tier_of(route)}\nSource: {_first_title(search)}\n"
        return {"file_path": str(notes), "content": text}

    script = [
        ToolUse("mcp__variet-router__route_task", {"task": "Explain how llama.cpp router mode swaps models."}),
        ToolUse("mcp__variet-search__web_search", {"query": "llama.cpp router mode"}),
        ToolUse("Read", {"file_path": str(notes)}),
        ToolUse("Write", rewrite),
    ]
    with serve_anthropic_stub(script, final_text="Updated NOTES.md.") as stub:
        env = _offline_env(node, home, stub.url, refusing_proxy)
        ran, result = await _claude(
            node, env, project, "Find out which tier handles swaps and note it in NOTES.md.",
            "--model", "auto",
            "--mcp-config", str(mcp_servers.mcp_json), "--strict-mcp-config",
            "--allowedTools", "mcp__variet-router", "mcp__variet-search", "Read", "Write",
        )
    seen = {r.tool: r for r in stub.results()}
    assert list(seen) == [step.name for step in script], ran
    assert not any(r.is_error for r in seen.values()), seen
    tier = _tier_of(seen["mcp__variet-router__route_task"].text)
    assert tier in TIERS, seen
    assert _first_title(seen["mcp__variet-search__web_search"].text) == "llama.cpp router mode result 1 (page 1)", seen
    assert "TODO: which tier handles swaps?" in seen["Read"].text
    assert notes.read_text() == f"# Notes\n\nRouted to: {tier}\nSource: llama.cpp router mode result 1 (page 1)\n"
    assert result["result"] == "Updated NOTES.md."
    assert {(r.method, r.path, r.query) for r in stub.requests} == {("POST", "/v1/messages", "beta=true")}
