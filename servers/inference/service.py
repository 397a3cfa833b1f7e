"""`InferenceService`: the engine's tiers, swaps and completions as the inference tools present them.

A plain class over `EngineClient` (no MCP): it turns the engine's answers into the tools' results and raises
`variet.servers.kit.errors` for calls that cannot be done as asked. Tier names always come from the engine,
so a catalogue of any size, and a peer engine's tiers, read as the engine serves them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from variet.servers.inference.results import (
    CompletionResult,
    EngineOverview,
    LoadResult,
    PromptCacheView,
    TierInfo,
    TierList,
    TierQueue,
    UnloadResult,
)
from variet.servers.kit.errors import InvalidRequest, TierLoadFailed
from variet.servers.kit.swaps import load_within_wait
from variet.shared.engine_client import Completion, EngineClient, ProgressFn

if TYPE_CHECKING:
    from variet.contract import PromptCacheInfo, TierFacts

__all__ = ["InferenceService"]


class InferenceService:
    """The inference tools' work on one engine; `load_wait` bounds how long a call waits for a swap."""

    def __init__(self, engine: EngineClient, *, load_wait: float) -> None:
        self.engine = engine
        self.load_wait = load_wait

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def tiers(self) -> TierList:
        models = await self.engine.models()
        status = await self.engine.status()
        tiers = []
        for model in models.tiers:
            assert model.tier is not None
            live = status.tiers.get(model.id)
            tiers.append(TierInfo(
                name=model.id,
                model_file=model.tier.model_file,
                aliases=model.aliases,
                loaded=model.loaded,
                box=model.box,
                box_up=model.box_up,
                expected_tokens_per_second=model.tier.expected_tokens_per_second,
                measured_tokens_per_second=live.measured_tokens_per_second if live else None,
                expected_load_seconds=model.tier.expected_load_seconds,
                placement=_placement(model.tier, model.box),
                strengths=model.tier.strengths,
                description=model.description,
            ))
        return TierList(loaded=status.loaded, tiers=tiers)

    async def overview(self) -> EngineOverview:
        status = await self.engine.status()
        rows = [
            TierQueue(
                tier=name, box=info.box, queued=info.queued, in_flight=info.in_flight,
                last_swap_seconds=info.last_swap.seconds if info.last_swap else None,
                last_swap_ok=info.last_swap.ok if info.last_swap else None,
                measured_tokens_per_second=info.measured_tokens_per_second,
                prompt_cache=_prompt_cache(info.prompt_cache),
            )
            for name, info in status.tiers.items()
        ]
        parts = [f"loaded: {status.loaded or 'none'}", f"state: {status.state}"]
        if status.swapping:
            parts.append(f"swapping to {status.swapping.tier} ({status.swapping.elapsed_seconds:.1f} s so far)")
        parts.append(f"{status.in_flight} running, {status.queued} queued, {status.swaps} swaps")
        if not status.backend.up:
            parts.append("llama-server is DOWN (restarting)")
        down = sorted({info.box for info in status.tiers.values() if not info.box_up})
        if down:
            parts.append(f"peer engine{'s' if len(down) > 1 else ''} not answering: {', '.join(down)}")
        caches = [text for name, info in status.tiers.items() if info.prompt_cache is not None
                  and (text := _cache_summary(name, info.prompt_cache)) is not None]
        if caches:
            parts.append("prompt caches: " + "; ".join(caches))
        return EngineOverview(
            summary="; ".join(parts), loaded=status.loaded, state=status.state,
            swapping_to=status.swapping.tier if status.swapping else None, backend_up=status.backend.up,
            swaps=status.swaps, queued=status.queued, in_flight=status.in_flight, tiers=rows,
        )

    async def load(self, tier: str, *, progress: ProgressFn | None = None) -> LoadResult:
        """Swap to `tier`, waiting at most `load_wait`; a swap still running then is a "loading" result."""
        await self.check_tier(tier)
        wait = await self.engine.ensure_loaded(tier, wait=self.load_wait, progress=progress)
        if wait.state == "failed":
            raise TierLoadFailed(f"loading tier {tier!r} failed: {wait.error}", tier=tier)
        waited = round(wait.waited_seconds, 2)
        if wait.loaded:
            return LoadResult(tier=tier, state="loaded", waited_seconds=waited, swap_seconds=wait.swap_seconds,
                              message=f"{tier} is loaded and ready ({wait.waited_seconds:.1f} s).")
        message = (f"{tier} is still loading after {wait.waited_seconds:.1f} s (engine state: {wait.state}). "
                   "Call load_tier again or engine_status to see when it is ready.")
        return LoadResult(tier=tier, state="loading", waited_seconds=waited, message=message)

    async def unload(self) -> UnloadResult:
        was = (await self.engine.unload()).tier
        message = f"unloading {was} once it is idle" if was else "nothing was loaded"
        return UnloadResult(message=message, was_loaded=was)

    async def chat(self, messages: list[dict[str, Any]], *, tier: str | None, max_tokens: int, temperature: float,
                   progress: ProgressFn | None = None) -> CompletionResult:
        chosen = await self._pick_tier(tier, progress)
        return _result(await self.engine.chat(messages, tier=chosen, max_tokens=max_tokens, temperature=temperature,
                                              progress=progress))

    async def complete(self, prompt: str, *, tier: str | None, max_tokens: int, temperature: float,
                       progress: ProgressFn | None = None) -> CompletionResult:
        chosen = await self._pick_tier(tier, progress)
        return _result(await self.engine.complete(prompt, tier=chosen, max_tokens=max_tokens,
                                                  temperature=temperature, progress=progress))

    async def check_tier(self, tier: str) -> str:
        names = (await self.engine.models()).names()
        if tier not in names:
            raise InvalidRequest(f"unknown tier {tier!r}: use one of {', '.join(names)}")
        return tier

    async def _pick_tier(self, tier: str | None, progress: ProgressFn | None) -> str:
        """The tier to run on: the given one (loaded first, bounded wait) or the loaded one."""
        status = await self.engine.status()
        if tier is None:
            if status.loaded is None:
                raise InvalidRequest(f"no tier is loaded: pass `tier` (one of {', '.join(status.tiers)})")
            return status.loaded
        if tier not in status.tiers:
            raise InvalidRequest(f"unknown tier {tier!r}: use one of {', '.join(status.tiers)}")
        if status.loaded == tier and status.swapping is None and status.state == "ready":
            return tier  # the common case: no swap to wait for, so no extra round trips
        await load_within_wait(self.engine, tier, wait=self.load_wait, progress=progress,
                               again="call this tool again (or engine_status to watch the swap)")
        return tier


def _placement(facts: TierFacts, box: str) -> str:
    from variet.contract import LOCAL_BOX

    if not facts.gpus:
        where = "CPU"
    elif len(facts.gpus) == 1:
        where = f"GPU {facts.gpus[0]} only"
    else:
        where = f"GPUs {', '.join(map(str, facts.gpus))} ({facts.split or 'layer'} split)"
    return where if box == LOCAL_BOX else f"{where} on the peer engine {box}"


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
