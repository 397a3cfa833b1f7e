"""What every Variet MCP server's tools share: the one error translation, and common argument types.

Failures the model can act on are `VarietError`s whose message says what to do next; `tool_errors` turns
them into `ToolError`s, the only text a model sees (other exceptions are bugs and stay loud). Argument
types repeat their defaults and ranges in the description, because some hosts strip them from schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from variet.shared.errors import VarietError

__all__ = ["MaxTokens", "Temperature", "TierName", "tool_errors"]

TierName = Annotated[str, Field(description="Tier to use, by a name list_tiers shows (the engine's catalogue, "
                                             "peer engines' tiers included).")]
MaxTokens = Annotated[int, Field(ge=1, le=32768, description="Answer length cap in tokens, 1-32768 (default: see "
                                                             "the tool's description).")]
Temperature = Annotated[float, Field(ge=0, le=2, description="Sampling temperature, 0-2 (default 0.7).")]


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn a `VarietError` raised inside into a `ToolError` carrying its message."""
    try:
        yield
    except VarietError as exc:
        raise ToolError(str(exc)) from exc
