"""`variet-inference`: see and steer the engine's tiers, and run completions, from any MCP host.

Tools are thin: they call `InferenceService` and `tool_errors` turns its failures into `ToolError`s that tell
the model what to do next. A tier swap can take a minute on Machine A, so `load_tier` waits a bounded time
(`[mcp] load_wait_seconds`, well under the 300 s hosts allow) with progress, then says "still loading".
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from variet.servers.inference.results import (
    CompletionResult,
    EngineOverview,
    LoadResult,
    Message,
    TierList,
    UnloadResult,
)
from variet.servers.inference.service import InferenceService
from variet.servers.kit.engine_tools import GENERATE, READ_ONLY, SWAP, progress_reporter
from variet.servers.kit.runner import service_lifespan
from variet.servers.kit.tools import MaxTokens, Temperature, TierName, tool_errors
from variet.shared.config import Settings
from variet.shared.engine_client import EngineClient

__all__ = ["build", "create_server"]

INSTRUCTIONS = (
    "Controls the Variet engine's model tiers: the tiers of its catalogue, and those of any peer engines it "
    "relays to (list_tiers names them all and says which is loaded). Swapping takes seconds to a minute: prefer "
    "the loaded tier unless the task needs another. Use list_tiers and engine_status to look, load_tier to swap, "
    "chat/complete to generate."
)

OnTier = Annotated[str | None, Field(description="Tier to run on, by a name list_tiers shows; default: the loaded "
                                                 "tier.")]


def create_server(settings: Settings, *, engine: EngineClient | None = None) -> MCPServer[InferenceService]:
    """The inference MCP server; `engine` is injectable for tests (default: from settings)."""
    service = InferenceService(engine or EngineClient.from_settings(settings),
                               load_wait=settings.mcp.load_wait_seconds)
    server: MCPServer[InferenceService] = MCPServer(
        "variet-inference", instructions=INSTRUCTIONS, lifespan=service_lifespan(service, owned=engine is None),
    )

    @server.tool(annotations=READ_ONLY)
    async def list_tiers() -> TierList:
        """List the engine's tiers: model, expected and measured speed, placement (GPUs, or the peer engine that
        runs it), strengths, and which is loaded."""
        with tool_errors():
            return await service.tiers()

    @server.tool(annotations=READ_ONLY)
    async def engine_status() -> EngineOverview:
        """Show the engine at a glance: loaded tier, swap in progress, queues per tier, last swaps, backend health,
        and the prompt caches saved and restored around swaps (tokens, bytes, milliseconds)."""
        with tool_errors():
            return await service.overview()

    @server.tool(annotations=SWAP)
    async def load_tier(tier: TierName, ctx: Context[Any, Any]) -> LoadResult:
        """Swap the engine to a tier, waiting a bounded time with progress. Idempotent: call again while it loads.

        A swap never interrupts requests running on the current tier; it starts once they finish.
        """
        with tool_errors():
            return await service.load(tier, progress=progress_reporter(ctx))

    @server.tool(annotations=SWAP)
    async def unload() -> UnloadResult:
        """Unload the loaded tier to free the GPUs (after requests running on it finish)."""
        with tool_errors():
            return await service.unload()

    @server.tool(annotations=GENERATE)
    async def chat(
        messages: Annotated[list[Message], Field(min_length=1, description="The conversation: at least one message, "
                                                 "each {role: system|user|assistant, content}.")],
        ctx: Context[Any, Any],
        tier: OnTier = None,
        max_tokens: MaxTokens = 512,
        temperature: Temperature = 0.7,
    ) -> CompletionResult:
        """Run a chat completion on a tier (default: the loaded one; max_tokens default 512); returns the text with
        tier, token counts, time to first token and tok/s."""
        with tool_errors():
            return await service.chat([m.model_dump() for m in messages], tier=tier, max_tokens=max_tokens,
                                      temperature=temperature, progress=progress_reporter(ctx))

    @server.tool(annotations=GENERATE)
    async def complete(
        prompt: Annotated[str, Field(min_length=1, description="Raw text to continue (no chat template).")],
        ctx: Context[Any, Any],
        tier: OnTier = None,
        max_tokens: MaxTokens = 256,
        temperature: Temperature = 0.7,
    ) -> CompletionResult:
        """Continue a raw prompt on a tier (default: the loaded one; max_tokens default 256); returns the text with
        tier, token counts, time to first token and tok/s."""
        with tool_errors():
            return await service.complete(prompt, tier=tier, max_tokens=max_tokens, temperature=temperature,
                                          progress=progress_reporter(ctx))

    return server


def build(settings: Settings) -> MCPServer[InferenceService]:
    return create_server(settings)
