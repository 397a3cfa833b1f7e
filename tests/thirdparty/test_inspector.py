"""The MCP Inspector CLI, a client we did not write, drives every server over stdio from the `.mcp.json`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.parts.node import NodeTools, run_tool
from tests.thirdparty.conftest import TIERS, McpServers

pytestmark = [pytest.mark.anyio, pytest.mark.llama, pytest.mark.searx, pytest.mark.node]


def _tier_names(data: dict[str, Any]) -> bool:
    return {tier["name"] for tier in data["tiers"]} == TIERS


# server: (every tool it lists without write settings, a read-only tool, its arguments, check of its result)
CASES: dict[str, tuple[set[str], str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = {
    "inference": (
        {"list_tiers", "engine_status", "load_tier", "unload", "chat", "complete"},
        "list_tiers", {}, _tier_names,
    ),
    "router": (
        {"route_task", "run_task", "explain_policy"},
        "route_task", {"task": "Prove that the square root of 2 is irrational."},
        lambda data: data["tier"] in TIERS and bool(data["reasons"]),
    ),
    "search": (
        {"web_search", "fetch_page"},
        "web_search", {"query": "variet tiers"},
        lambda data: data["results"][0]["title"] == "variet tiers result 1 (page 1)",
    ),
    "calendar": (
        {"list_calendars", "list_events", "get_event", "find_free_time"},
        "list_calendars", {},
        lambda data: [c["name"] for c in data["calendars"] if c["primary"]] == ["me@example.org"],
    ),
    "gmail": (
        {"search_messages", "get_message", "get_thread", "list_labels"},
        "list_labels", {},
        lambda data: "INBOX" in {label["id"] for label in data["labels"]},
    ),
}


_REFERENCE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _for_inspector(servers: McpServers) -> Path:
    """The exported file with `${VAR:-default}` resolved (from an empty environment), as Claude Code does.

    The Inspector passes such references to the server verbatim.
    """
    config = json.loads(servers.mcp_json.read_text())
    for entry in config["mcpServers"].values():
        entry["env"] = {key: _REFERENCE.sub(lambda m: m.group(2) or "", value) for key, value in entry["env"].items()}
    path = servers.folder / "inspector.json"
    path.write_text(json.dumps(config))
    return path


def _inspector(node: NodeTools, servers: McpServers, server: str, *args: str) -> list[str]:
    return [node.inspector, "--cli", "--config", str(_for_inspector(servers)), "--server", f"variet-{server}",
            "--format", "json", *args]


def _env(node: NodeTools, servers: McpServers) -> dict[str, str]:
    # The Inspector would otherwise probe the OS keychain for OAuth secrets it never needs here.
    return node.env(servers.folder, {"MCP_INSPECTOR_SECRET_STORE": "memory"})


@pytest.mark.parametrize("server", list(CASES))
async def test_inspector_lists_each_servers_tools_with_portable_schemas_over_2025_11_25(
    node: NodeTools, mcp_servers: McpServers, server: str
) -> None:
    command = _inspector(node, mcp_servers, server, "--method", "tools/list", "--protocol-era", "legacy", "--strict")
    with anyio.fail_after(60):
        ran = await run_tool(command, env=_env(node, mcp_servers))
    assert ran.returncode == 0, ran  # --strict exits 6 on a schema portability error
    tools = {tool["name"]: tool for tool in json.loads(ran.stdout)["result"]["tools"]}
    assert set(tools) == CASES[server][0], ran
    assert all(tool.get("annotations") for tool in tools.values()), ran


@pytest.mark.parametrize("server", list(CASES))
async def test_inspector_calls_a_read_only_tool_of_each_server_over_the_current_protocol(
    node: NodeTools, mcp_servers: McpServers, server: str
) -> None:
    _, tool, arguments, check = CASES[server]
    command = _inspector(node, mcp_servers, server, "--method", "tools/call", "--protocol-era", "modern",
                         "--tool-name", tool, "--tool-args-json", json.dumps(arguments))
    with anyio.fail_after(60):
        ran = await run_tool(command, env=_env(node, mcp_servers))
    assert ran.returncode == 0, ran  # 5 when the tool answered isError
    result = json.loads(ran.stdout)["result"]
    assert result["isError"] is False, ran
    assert check(result["structuredContent"]), ran
