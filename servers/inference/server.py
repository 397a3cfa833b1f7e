"""`variet-inference`: see and steer the engine's tiers, and run completions, from any MCP host.

Tools are thin: they call `EngineClient` and translate its errors into `ToolError`s that tell the model
what to do next. A tier swap can take a minute on Machine A, so `load_tier` waits a bounded time
(`[mcp] load_wait_seconds`, well under the 300 s hosts allow) with progress, then says "still loading".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from variet.contract import PromptCacheInfo, TierFacts
from variet.servers.kit.engine_tools import READ_ONLY, engine_call, load_within_wait, progress_reporter
from variet.servers.kit.runner import service_lifespan
from variet.servers.kit.tools import MaxTokens, Temperature, TierName
from variet.shared.config import Settings
from variet.shared.engine_client import Completion, EngineClient

__all__ = ["build", "create_server"]

SWAP = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
GENERATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


class TierInfo(BaseModel):
    name: str
    model_file: str
    aliases: list[str]
    loaded: bool
    expected_tokens_per_second: float
    measured_tokens_per_second: float | None
    expected_load_seconds: float
    placement: str
    strengths: list[str]
    description: str


class TierList(BaseModel):
    loaded: str | None
    tiers: list[TierInfo]


class PromptCacheView(BaseModel):
    """A tier's prompt caches: what is saved on disk and what the last save and restore did."""

    saved_prefixes: int
    saved_tokens: int
    saved_bytes: int
    saves: int
    restores: int
    skips: int
    last_save_tokens: int | None = None
    last_save_ms: float | None = None
    last_restore_tokens: int | None = None
    last_restore_bytes: int | None = None
    last_restore_ms: float | None = None
    last_skip: str | None = None
    """Why the last save or restore was skipped (action: reason)."""


class TierQueue(BaseModel):
    tier: str
    queued: int
    in_flight: int
    last_swap_seconds: float | None
    last_swap_ok: bool | None
    measured_tokens_per_second: float | None
    prompt_cache: PromptCacheView | None = None
    """Null when the engine's prompt caching is off."""


class EngineStatus(BaseModel):
    summary: str
    loaded: str | None
    state: str
    swapping_to: str | None
    backend_up: bool
    swaps: int
    queued: int
    in_flight: int
    tiers: list[TierQueue]


class LoadResult(BaseModel):
    tier: str
    state: Literal["loaded", "loading", "failed"]
    waited_seconds: float
    swap_seconds: float | None = None
    """How long the engine's swap took, when this call caused one."""
    message: str


class UnloadResult(BaseModel):
    message: str
    was_loaded: str | None


class CompletionResult(BaseModel):
    text: str
    tier: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    time_to_first_token_seconds: float | None
    tokens_per_second: float | None
    total_seconds: float


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


def _placement(facts: TierFacts) -> str:
    if not facts.gpus:
        return "CPU"
    if len(facts.gpus) == 1:
        return f"GPU {facts.gpus[0]} only"
    return f"GPUs {', '.join(map(str, facts.gpus))} ({facts.split or 'layer'} split)"


def _prompt_cache(info: PromptCacheInfo | None) -> PromptCacheView | None:
    if info is None:
        return None
    save, restore = info.last_save, info.last_restore
    return PromptCacheView(
        saved_prefixes=len(info.prefixes), saved_tokens=info.tokens, saved_bytes=info.bytes, saves=info.saves,
        restores=info.restores, skips=info.skips,
        last_save_tokens=save.tokens if save else None, last_save_ms=save.milliseconds if save else None,
        last_restore_tokens=restore.tokens if restore else None, last_restore_bytes=restore.bytes if restore else None,
        last_restore_ms=restore.milliseconds if restore else None, last_skip=info.last_skip,
    )


def _cache_summary(name: str, info: PromptCacheInfo) -> str | None:
    """One phrase on a tier's prompt caches, or None when it has nothing saved and restored nothing."""
    if not info.prefixes and info.last_restore is None:
        return None
    text = f"{name} {len(info.prefixes)} saved ({info.tokens} tokens, {info.bytes / 1e6:.0f} MB)"
    if info.last_restore is not None:
        text += (f", last restore {info.last_restore.tokens} tokens in "
                 f"{info.last_restore.milliseconds / 1000:.2f} s")
    return text


def _result(completion: Completion) -> CompletionResult:
    return CompletionResult(
        text=completion.text,
        tier=completion.tier,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        time_to_first_token_seconds=completion.time_to_first_token,
        tokens_per_second=completion.tokens_per_second,
        total_seconds=completion.seconds,
    )


def create_server(settings: Settings, *, engine: EngineClient | None = None) -> MCPServer[EngineClient]:
    """The inference MCP server; `engine` is injectable for tests (default: from settings)."""

    client = engine or EngineClient.from_settings(settings)
    server: MCPServer[EngineClient] = MCPServer(
        "variet-inference",
        instructions=(
            "Controls the Variet engine's model tiers (fast, balanced, deep-coder, deep-logic, ultra; one loaded at a "
            "time). Swapping takes seconds to a minute: prefer the loaded tier unless the task needs another. "
            "Use list_tiers and engine_status to look, load_tier to swap, chat/complete to generate."
        ),
        lifespan=service_lifespan(client, owned=engine is None),
    )

    async def tier_names() -> list[str]:
        return (await engine_call(client.models())).names()

    async def check_tier(tier: str) -> str:
        names = await tier_names()
        if tier not in names:
            raise ToolError(f"unknown tier {tier!r}: use one of {', '.join(names)}")
        return tier

    async def pick_tier(tier: str | None, ctx: Context[Any, Any]) -> str:
        """The tier to run on: the given one (loaded first, bounded wait) or the loaded one."""
        status = await engine_call(client.status())
        if tier is None:
            if status.loaded is None:
                raise ToolError(f"no tier is loaded: pass `tier` (one of {', '.join(status.tiers)})")
            return status.loaded
        if tier not in status.tiers:
            raise ToolError(f"unknown tier {tier!r}: use one of {', '.join(status.tiers)}")
        if status.loaded == tier and status.swapping is None and status.state == "ready":
            return tier  # the common case: no swap to wait for, so no extra round trips
        await load_within_wait(client, tier, wait=settings.mcp.load_wait_seconds, ctx=ctx,
                               again="call this tool again (or engine_status to watch the swap)")
        return tier

    @server.tool(annotations=READ_ONLY)
    async def list_tiers() -> TierList:
        """List the five model tiers: model, expected and measured speed, GPU placement, strengths, which is loaded."""
        models = await engine_call(client.models())
        status = await engine_call(client.status())
        tiers = []
        for model in models.tiers:
            assert model.tier is not None
            live = status.tiers.get(model.id)
            tiers.append(TierInfo(
                name=model.id,
                model_file=model.tier.model_file,
                aliases=model.aliases,
                loaded=model.loaded,  # a peer's tier: loaded on its own box
                expected_tokens_per_second=model.tier.expected_tokens_per_second,
                measured_tokens_per_second=live.measured_tokens_per_second if live else None,
                expected_load_seconds=model.tier.expected_load_seconds,
                placement=_placement(model.tier),
                strengths=model.tier.strengths,
                description=model.description,
            ))
        return TierList(loaded=status.loaded, tiers=tiers)

    @server.tool(annotations=READ_ONLY)
    async def engine_status() -> EngineStatus:
        """Show the engine at a glance: loaded tier, swap in progress, queues per tier, last swaps, backend health,
        and the prompt caches saved and restored around swaps (tokens, bytes, milliseconds)."""
        status = await engine_call(client.status())
        rows = [
            TierQueue(
                tier=name, queued=info.queued, in_flight=info.in_flight,
                last_swap_seconds=info.last_swap.seconds if info.last_swap else None,
                last_swap_ok=info.last_swap.ok if info.last_swap else None,
                measured_tokens_per_second=info.measured_tokens_per_second,
                prompt_cache=_prompt_cache(info.prompt_cache),
            )
            for name, info in status.tiers.items()
        ]
        swapping = status.swapping.tier if status.swapping else None
        parts = [f"loaded: {status.loaded or 'none'}", f"state: {status.state}"]
        if status.swapping:
            parts.append(f"swapping to {status.swapping.tier} ({status.swapping.elapsed_seconds:.1f} s so far)")
        parts.append(f"{status.in_flight} running, {status.queued} queued, {status.swaps} swaps")
        if not status.backend.up:
            parts.append("llama-server is DOWN (restarting)")
        caches = [text for name, info in status.tiers.items() if info.prompt_cache is not None
                  and (text := _cache_summary(name, info.prompt_cache)) is not None]
        if caches:
            parts.append("prompt caches: " + "; ".join(caches))
        return EngineStatus(
            summary="; ".join(parts), loaded=status.loaded, state=status.state, swapping_to=swapping,
            backend_up=status.backend.up, swaps=status.swaps, queued=status.queued, in_flight=status.in_flight,
            tiers=rows,
        )

    @server.tool(annotations=SWAP)
    async def load_tier(
        tier: TierName,
        ctx: Context[Any, Any],
    ) -> LoadResult:
        """Swap the engine to a tier, waiting a bounded time with progress. Idempotent: call again while it loads.

        A swap never interrupts requests running on the current tier; it starts once they finish.
        """
        await check_tier(tier)
        wait = await engine_call(
            client.ensure_loaded(tier, wait=settings.mcp.load_wait_seconds, progress=progress_reporter(ctx))
        )
        if wait.state == "failed":
            raise ToolError(f"loading tier {tier!r} failed: {wait.error}")
        if wait.loaded:
            message = f"{tier} is loaded and ready ({wait.waited_seconds:.1f} s)."
            return LoadResult(tier=tier, state="loaded", waited_seconds=round(wait.waited_seconds, 2),
                              swap_seconds=wait.swap_seconds, message=message)
        message = (f"{tier} is still loading after {wait.waited_seconds:.1f} s (engine state: {wait.state}). "
                   "Call load_tier again or engine_status to see when it is ready.")
        return LoadResult(tier=tier, state="loading", waited_seconds=round(wait.waited_seconds, 2), message=message)

    @server.tool(annotations=SWAP)
    async def unload() -> UnloadResult:
        """Unload the loaded tier to free the GPUs (after requests running on it finish)."""
        was = (await engine_call(client.unload())).tier
        message = f"unloading {was} once it is idle" if was else "nothing was loaded"
        return UnloadResult(message=message, was_loaded=was)

    @server.tool(annotations=GENERATE)
    async def chat(
        messages: Annotated[list[Message], Field(min_length=1, description="The conversation: at least one message, "
                                                 "each {role: system|user|assistant, content}.")],
        ctx: Context[Any, Any],
        tier: Annotated[str | None, Field(description="Tier to run on; default: the loaded tier.")] = None,
        max_tokens: MaxTokens = 512,
        temperature: Temperature = 0.7,
    ) -> CompletionResult:
        """Run a chat completion on a tier (default: the loaded one; max_tokens default 512); returns the text with
        tier, token counts, time to first token and tok/s."""
        chosen = await pick_tier(tier, ctx)
        completion = await engine_call(client.chat(
            [m.model_dump() for m in messages], tier=chosen, max_tokens=max_tokens, temperature=temperature,
            progress=progress_reporter(ctx),
        ))
        return _result(completion)

    @server.tool(annotations=GENERATE)
    async def complete(
        prompt: Annotated[str, Field(min_length=1, description="Raw text to continue (no chat template).")],
        ctx: Context[Any, Any],
        tier: Annotated[str | None, Field(description="Tier to run on; default: the loaded tier.")] = None,
        max_tokens: MaxTokens = 256,
        temperature: Temperature = 0.7,
    ) -> CompletionResult:
        """Continue a raw prompt on a tier (default: the loaded one; max_tokens default 256); returns the text with
        tier, token counts, time to first token and tok/s."""
        chosen = await pick_tier(tier, ctx)
        completion = await engine_call(client.complete(
            prompt, tier=chosen, max_tokens=max_tokens, temperature=temperature, progress=progress_reporter(ctx),
        ))
        return _result(completion)

    return server


def build(settings: Settings) -> MCPServer[EngineClient]:
    return create_server(settings)
