"""`model: "auto"`: route a request to a tier with the router policy and the engine's live state.

This module reads the OpenAI or Anthropic request body (the task is the last user message; earlier
messages are the conversation) and asks `variet.router.route` for a tier, treating the tier that is
loaded, or being swapped in, or most requested in the queues, as the one already paid for.

With peer engines the router chooses over the engine's routing catalogue (`Engine.routing_catalogue`):
the local tiers plus those of peers that are up, so a down peer is routed around. `route` takes one
loaded tier (this box's); a tier loaded on a peer enters that catalogue with a load time of zero, so the
cost model counts it as loaded too, and the answer's `needs_swap` says false for it.

Prompt caches make returning to a tier cheaper, and the router prices a swap by each tier's
`load_seconds` in the catalogue it is given. So for a long conversation the engine hands the router a copy
of the catalogue in which every tier's load time also covers getting this conversation's prompt into that
tier after the swap (`swap_prompt_seconds`): processing it at the tier's measured prompt speed, or, when a
saved prefix on disk continues it, reading that file back and processing only the rest. A tier whose
prompt speed was never measured keeps its plain load time. The loaded tier costs the router no swap, and
nothing is added for it: it usually holds the conversation in memory already. The router's own code is not
changed; `route()` simply sees dearer swaps, least dear where a cache waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from variet.engine.core import Engine
from variet.engine.prompts.prefixes import prefix_chain
from variet.router import Conversation, RouteHints, route
from variet.shared.config import RouterSettings
from variet.shared.tiers import TierCatalogue

__all__ = ["AutoRouter", "prompt_swap_costs", "request_text", "swap_prompt_seconds", "with_swap_costs"]

CHARS_PER_TOKEN = 3.5
"""Characters of a request body per prompt token, as the router reckons context."""


def _text(content: Any) -> str:
    """Text of an OpenAI or Anthropic message `content` (a string or a list of parts/blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif block.get("type") == "tool_result":
                    parts.append(_text(block.get("content")))
        return "\n".join(part for part in parts if part)
    return ""


def request_text(payload: dict[str, Any]) -> tuple[str, Conversation]:
    """The task (last user message, or the prompt) and the conversation before it."""
    if isinstance(payload.get("prompt"), str):
        return payload["prompt"], Conversation()
    messages = [m for m in payload.get("messages") or [] if isinstance(m, dict)]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last_user is None:
        return "", Conversation(messages=len(messages))
    earlier = messages[:last_user]
    chars = sum(len(_text(m.get("content"))) for m in earlier) + len(_text(payload.get("system")))
    return _text(messages[last_user].get("content")), Conversation(messages=len(earlier), chars=chars)


def swap_prompt_seconds(tokens: int, prompt_tokens_per_second: float | None,
                        restore: tuple[int, float] | None) -> float | None:
    """Seconds to get a `tokens`-token prompt into a tier just swapped in: all of it processed, or, with
    `restore` = (tokens a saved prefix covers, seconds to read it back), the read plus the rest processed.
    None when the tier's prompt speed is unknown."""
    if not prompt_tokens_per_second or prompt_tokens_per_second <= 0:
        return None
    if restore is None:
        return tokens / prompt_tokens_per_second
    covered, seconds = restore
    return seconds + max(0, tokens - covered) / prompt_tokens_per_second


def prompt_swap_costs(payload: dict[str, Any], engine: Engine, *, skip: str | None = None) -> dict[str, float]:
    """For each tier but `skip`, the seconds a swap to it would add for this request's prompt (see
    `swap_prompt_seconds`); empty when prompt caching is off or the prompt is short."""
    cache = engine.prompt_cache
    if cache is None:
        return {}
    chain = prefix_chain(payload)
    tokens = int(chain.total_chars / CHARS_PER_TOKEN)
    if tokens < cache.min_tokens:
        return {}
    costs = {}
    for tier in engine.catalogue.tiers:
        if tier == skip:
            continue
        seconds = swap_prompt_seconds(tokens, engine.prompt_speed(tier), cache.restore_estimate(tier, chain))
        if seconds is not None:
            costs[tier] = round(seconds, 3)
    return costs


def with_swap_costs(catalogue: TierCatalogue, extra: Mapping[str, float]) -> TierCatalogue:
    """A copy of `catalogue` whose tiers take `extra[tier]` seconds longer to load."""
    tiers = {name: tier.model_copy(update={"load_seconds": tier.load_seconds + extra[name]}) if name in extra
             else tier for name, tier in catalogue.tiers.items()}
    return catalogue.model_copy(update={"tiers": tiers})


class AutoRouter:
    """Picks a tier for `model: "auto"` from the request and the engine's state."""

    def __init__(self, settings: RouterSettings) -> None:
        self._settings = settings

    def __call__(self, payload: dict[str, Any], engine: Engine) -> tuple[str, dict[str, Any]]:
        task, conversation = request_text(payload)
        scheduler = engine.scheduler
        current = scheduler.swapping_to or scheduler.loaded
        if current is None:
            waiting = {tier: scheduler.queued(tier) for tier in engine.catalogue.tiers}
            busiest = max(waiting, key=lambda tier: waiting[tier])
            current = busiest if waiting[busiest] else None
        max_tokens = payload.get("max_tokens")
        hints = RouteHints(
            pinned_tier=self._settings.pinned_tier,
            stay_margin=self._settings.stay_margin,
            expected_output_tokens=self._settings.expected_output_tokens,
            max_output_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        )
        catalogue = engine.routing_catalogue()
        extra = prompt_swap_costs(payload, engine, skip=current)
        if extra:
            catalogue = with_swap_costs(catalogue, extra)
        decision = route(task, loaded_tier=current, context=conversation, hints=hints, tiers=catalogue)
        needs_swap = decision.needs_swap and decision.tier not in engine.peers.loaded()
        why: dict[str, Any] = {"tier": decision.tier, "reasons": list(decision.reasons), "needs_swap": needs_swap,
                               "confidence": round(decision.confidence, 2)}
        if extra:
            why["prompt_seconds"] = extra
        return decision.tier, why
