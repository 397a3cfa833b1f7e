"""A bounded wait for a tier to become the loaded one, for the servers that run work on the engine.

Plain code (no MCP): a swap that fails or outlasts the wait is a `TierNotReady` whose message tells the model
how to go on.
"""

from __future__ import annotations

from variet.servers.kit.errors import TierLoadFailed, TierStillLoading
from variet.shared.engine_client import EngineClient, ProgressFn, SwapWait

__all__ = ["load_within_wait"]


async def load_within_wait(engine: EngineClient, tier: str, *, wait: float, progress: ProgressFn | None,
                           again: str) -> SwapWait:
    """Make `tier` the loaded one, waiting at most `wait` seconds and reporting `progress`.

    Raises `TierLoadFailed` for a failed swap and `TierStillLoading` for one still running when the wait ends;
    `again` tells the model how to retry ("call run_task again").
    """
    outcome = await engine.ensure_loaded(tier, wait=wait, progress=progress)
    if outcome.state == "failed":
        raise TierLoadFailed(f"loading tier {tier!r} failed: {outcome.error}", tier=tier)
    if not outcome.loaded:
        raise TierStillLoading(f"tier {tier!r} is still loading after {outcome.waited_seconds:.0f} s; {again}",
                               tier=tier)
    return outcome
