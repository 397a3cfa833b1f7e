"""Helpers shared by the search server tests."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, TextContent

from variet.shared.config import SearchSettings, Settings

__all__ = ["error_text", "settings", "structured"]


def settings(url: str, **search: Any) -> Settings:
    """Default settings with `[search] url` and any other `[search]` keys given."""
    return Settings(search=SearchSettings(url=url, **search))


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful tool call."""
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    return data


def error_text(result: CallToolResult) -> str:
    """The text a model sees for a failed tool call."""
    assert result.is_error, result.structured_content
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))
