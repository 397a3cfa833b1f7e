"""Every MCP server started the way a host starts it, from its installed console script (`bin/variet-<name>`,
or `Scripts\\variet-<name>.exe` on Windows), answering a real MCP client over stdio."""

from __future__ import annotations

import os

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.parts.console import console_script

TOOLS = {
    "inference": {"list_tiers", "engine_status", "load_tier", "chat"},
    "router": {"run_task", "explain_policy"},
    "search": {"web_search"},
    "calendar": {"list_events"},
    "gmail": {"search_messages"},
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(TOOLS))
async def test_each_servers_console_script_lists_its_tools_over_stdio(
        name: str, refused_url: str, tmp_path: os.PathLike[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    env |= {"VARIET_CONFIG": os.devnull, "VARIET_ENGINE_URL": refused_url}
    params = StdioServerParameters(command=console_script(f"variet-{name}"), env=env, cwd=tmp_path)
    with anyio.fail_after(90):
        async with Client(params) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
    assert TOOLS[name] <= tools
