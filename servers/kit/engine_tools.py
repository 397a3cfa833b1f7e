"""What the MCP servers that drive the engine share on the MCP side: tool annotations and progress.

The engine work itself lives in the servers' service classes and `variet.servers.kit.swaps`, free of MCP.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations

from variet.shared.engine_client import ProgressFn

__all__ = ["GENERATE", "READ_ONLY", "SWAP", "progress_reporter"]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
"""A tool that only reads the engine's state."""
SWAP = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
"""A tool that changes which tier is loaded; calling it again continues the same swap."""
GENERATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
"""A tool that runs a completion (and may swap tiers first)."""


def progress_reporter(ctx: Context[Any, Any]) -> ProgressFn:
    """MCP progress notifications for the current tool call, in the engine client's callback shape."""

    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report
