"""What the inference tools return: typed results, so hosts get structured output with a schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = [
    "CompletionResult",
    "EngineOverview",
    "LoadResult",
    "Message",
    "PromptCacheView",
    "TierInfo",
    "TierList",
    "TierQueue",
    "UnloadResult",
]


class TierInfo(BaseModel):
    name: str
    model_file: str
    aliases: list[str]
    loaded: bool
    """Loaded on the box that runs it (a peer's tier: on the peer)."""
    box: str
    """Where the tier runs: `local`, or the name of the peer engine that serves it."""
    box_up: bool
    """Whether that box answers now."""
    expected_tokens_per_second: float
    measured_tokens_per_second: float | None
    expected_load_seconds: float
    placement: str
    strengths: list[str]
    description: str


class TierList(BaseModel):
    loaded: str | None
    """This engine's loaded tier."""
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
    box: str
    """Where the tier runs: `local`, or the name of the peer engine."""
    queued: int
    in_flight: int
    last_swap_seconds: float | None
    last_swap_ok: bool | None
    measured_tokens_per_second: float | None
    prompt_cache: PromptCacheView | None = None
    """Null when the engine's prompt caching is off."""


class EngineOverview(BaseModel):
    """The engine at a glance (`engine_status`); the engine's own `/variet/status` is `variet.contract.EngineStatus`."""

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
