"""What the MCP servers that drive the engine share: error translation, progress, bounded tier loads.

Kept apart from `engine_client` so that the client itself stays free of MCP.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from variet.servers.kit.tools import tool_errors
from variet.shared.engine_client import EngineClient, ProgressFn, SwapWait

__all__ = ["READ_ONLY", "engine_call", "load_within_wait", "progress_reporter"]

_T = TypeVar("_T")

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
"""A tool that only reads the engine's state."""


async def engine_call(call: Awaitable[_T]) -> _T:
    """Await an engine call, its failures translated by `tool_errors`."""
    with tool_errors():
        return await call


def progress_reporter(ctx: Context[Any, Any]) -> ProgressFn:
    """MCP progress notifications for the current tool call, in the engine client's callback shape."""

    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report


async def load_within_wait(engine: EngineClient, tier: str, *, wait: float, ctx: Context[Any, Any],
                           again: str) -> SwapWait:
    """Make `tier` the loaded one, waiting at most `wait` seconds with progress.

    A failed swap, or one still running when the wait ends, is a `ToolError`; `again` tells the model how to
    retry ("call run_task again").
    """
    outcome = await engine_call(engine.ensure_loaded(tier, wait=wait, progress=progress_reporter(ctx)))
    if outcome.state == "failed":
        raise ToolError(f"loading tier {tier!r} failed: {outcome.error}")
    if not outcome.loaded:
        raise ToolError(f"tier {tier!r} is still loading after {outcome.waited_seconds:.0f} s; {again}")
    return outcome
