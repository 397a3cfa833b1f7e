"""Small helpers for calling MCP tools in server tests."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

MODES = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="current")]
"""The two protocol modes every server is tested in."""


async def call(client: Client, tool: str, **args: Any) -> Any:
    """Call a tool that must succeed; returns its structured result."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def error_text(client: Client, tool: str, **args: Any) -> str:
    """Call a tool that must fail; returns the error text the model would read."""
    result = await client.call_tool(tool, args)
    assert result.is_error
    return " ".join(getattr(block, "text", "") for block in result.content)
