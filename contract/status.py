"""`GET /variet/status`: the loaded tier, the swap under way, queues, swaps and speeds per tier, and peers.

Tiers served by a peer engine (another box, `[[engine.peers]]`) are listed with the local ones, marked
with their `box`; their figures are the peer's own, as last read. `loaded`, `state`, `swapping`, `queued`
and `in_flight` at the top are this box's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from variet.contract._base import Answer

__all__ = [
    "LOCAL_BOX",
    "BackendInfo",
    "EngineState",
    "EngineStatus",
    "PeerInfo",
    "PromptCacheInfo",
    "PromptCacheOp",
    "PromptCacheTotals",
    "SavedPrefix",
    "SwapInfo",
    "SwappingInfo",
    "TierState",
]

LOCAL_BOX = "local"
"""The `box` of the engine's own tiers."""

EngineState = Literal["idle", "ready", "draining", "swapping", "down"]
"""idle: nothing loaded; ready: the loaded tier takes requests; draining: it finishes its requests before a
swap; swapping: a tier is loading; down: llama-server is not running (the engine restarts it)."""


class SwapInfo(Answer):
    """The last swap to a tier."""

    at: float = Field(description="When it began, in seconds since the epoch.")
    seconds: float = Field(description="How long it took (until it failed, for a failed one).")
    ok: bool
    error: str | None = Field(default=None, description="Why it failed, naming what to fix.")


class SavedPrefix(Answer):
    """One prompt prefix whose KV cache is saved on disk for a tier."""

    tokens: int = Field(description="Tokens of the prefix (prompt and answer that llama-server had cached).")
    bytes: int = Field(description="Size of its file.")
    saved_at: float = Field(description="When it was saved, in seconds since the epoch.")
    last_used: float = Field(description="When it was last saved or restored, in seconds since the epoch.")


class PromptCacheOp(Answer):
    """One save or restore of a tier's prompt cache."""

    at: float = Field(description="When it finished, in seconds since the epoch.")
    tokens: int
    bytes: int
    milliseconds: float = Field(description="How long it took, as the engine waited for it.")


class PromptCacheInfo(Answer):
    """A tier's prompt caches: the prefixes saved on disk and what the last save and restore did."""

    prefixes: list[SavedPrefix] = Field(description="Saved prefixes, most recently used first.")
    tokens: int = Field(description="Tokens of all saved prefixes together.")
    bytes: int = Field(description="Disk space they take.")
    saves: int = Field(default=0, description="Prefixes saved since the engine started.")
    restores: int = Field(default=0, description="Prefixes restored since the engine started.")
    skips: int = Field(default=0, description="Saves and restores skipped (see the prompt_cache_skipped events).")
    unused_restores: int = Field(
        default=0, description="Restores llama-server then reused less than half of: the next prompt differed from "
                               "the saved one before its end (see the README on sliding-window and hybrid models).")
    last_save: PromptCacheOp | None = None
    last_restore: PromptCacheOp | None = None
    last_skip: str | None = Field(default=None, description="Why the last save or restore was skipped.")


class PromptCacheTotals(Answer):
    """The prompt cache store as a whole."""

    dir: str = Field(description="The folder holding the saved caches.")
    bytes: int = Field(description="Disk space they take.")
    max_bytes: int = Field(description="The cap (`[engine] prompt_cache_max_bytes`).")
    prefixes: int


class TierState(Answer):
    """One tier as the engine sees it now."""

    loaded: bool
    queued: int = Field(description="Requests waiting for this tier.")
    in_flight: int = Field(description="Requests running on this tier.")
    expected_tokens_per_second: float = Field(description="Decode speed from tiers.toml.")
    measured_tokens_per_second: float | None = Field(description="Decode speed measured on recent answers.")
    expected_load_seconds: float = Field(description="Load time from tiers.toml.")
    last_swap: SwapInfo | None
    requests: int = Field(description="Requests for this tier since the engine started.")
    errors: int = Field(default=0, description="Of those, how many failed.")
    model_file: str = Field(default="", description="The GGUF file's name.")
    context: int = Field(default=0, description="Context size in tokens.")
    model_file_present: bool
    measured_prompt_tokens_per_second: float | None = Field(
        default=None, description="Prompt processing speed measured on recent long prompts.")
    prompt_cache: PromptCacheInfo | None = Field(
        default=None, description="Saved and restored prompt prefixes; null when prompt caching is off.")
    box: str = Field(default=LOCAL_BOX, description="Where the tier runs: `local`, or the name of the peer.")
    box_up: bool = Field(default=True, description="Whether that box answers (a down peer's tiers answer 503).")
    resident: bool = Field(default=False, description="Stays loaded beside the swapping tier (`resident = true`); "
                                                      "`last_swap` is then its last load.")
    fim: bool = Field(default=False, description="Takes the fill-in-the-middle requests (`fim = true`).")
    memory_gb: list[float] = Field(default_factory=list, description="What it needs on each of its GPUs, in GB, "
                                                                     "declared or estimated; empty when unknown.")


class SwappingInfo(Answer):
    """The swap under way."""

    tier: str
    elapsed_seconds: float
    expected_seconds: float = Field(description="The last measured swap to this tier, else its load_seconds.")


class BackendInfo(Answer):
    """The llama-server process the engine supervises."""

    url: str
    up: bool
    restarts: int = Field(description="Restarts after a crash since the engine started.")
    pid: int | None


class PeerInfo(Answer):
    """A peer engine (`[[engine.peers]]`) whose tiers this engine serves too, as last polled."""

    name: str
    url: str = Field(description="Its base URL (never with credentials).")
    up: bool = Field(description="Whether its last status poll or relayed request succeeded.")
    state: EngineState | None = Field(default=None, description="Its own state, while up.")
    loaded: str | None = Field(default=None, description="Its loaded tier, by the name this engine serves it as.")
    tiers: list[str] = Field(default_factory=list, description="Its tiers, by the names this engine serves them as.")
    since: float | None = Field(default=None, description="When it last went up or down (seconds since the epoch).")
    last_error: str | None = Field(default=None, description="Why it is down, naming what to check.")
    requests: int = Field(default=0, description="Requests this engine relayed to it.")
    errors: int = Field(default=0, description="Of those, how many failed on the way.")


class EngineStatus(Answer):
    """The whole engine at a glance."""

    loaded: str | None = Field(description="The swapping tier loaded now (residents are listed apart).")
    state: EngineState
    swapping: SwappingInfo | None
    queued: int
    in_flight: int
    swaps: int
    failed_swaps: int
    backend: BackendInfo
    tiers: dict[str, TierState]
    uptime_seconds: float
    version: str = Field(default="", description="The engine's Variet version.")
    prompt_cache: PromptCacheTotals | None = Field(default=None, description="Null when prompt caching is off.")
    peers: list[PeerInfo] = Field(default_factory=list, description="Peer engines, in configuration order.")
    residents: list[str] = Field(default_factory=list, description="Resident tiers (always loaded beside `loaded`, "
                                                                   "never swapped), in catalogue order.")
    residents_loaded: list[str] = Field(default_factory=list, description="Those of them loaded now.")

    def tier(self, name: str) -> TierState:
        """The state of tier `name`; KeyError names the tiers there are."""
        try:
            return self.tiers[name]
        except KeyError:
            raise KeyError(f"unknown tier {name!r}: the engine has {', '.join(self.tiers)}") from None

    @property
    def busy_tier(self) -> str | None:
        """The tier a swap is loading, else the loaded one."""
        return self.swapping.tier if self.swapping is not None else self.loaded
