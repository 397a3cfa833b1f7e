"""`model: "auto"`: route a request to a tier with the router policy and the engine's live state.

This module reads the OpenAI or Anthropic request body (the task is the last user message; earlier
messages are the conversation) and asks `variet.router.route` for a tier, treating the tier that is
loaded, or being swapped in, or most requested in the queues, as the one already paid for.

With peer engines the router chooses over the engine's routing catalogue (`Engine.routing_catalogue`):
the local tiers plus those of peers that are up, so a down peer is routed around. `route` takes one
loaded tier (this box's); a tier loaded on a peer enters that catalogue with a load time of zero, so the
cost model counts it as loaded too, and the answer's `needs_swap` says false for it.
"""

from __future__ import annotations

from typing import Any

from variet.engine.core import Engine
from variet.router import Conversation, RouteHints, route
from variet.shared.config import RouterSettings

__all__ = ["AutoRouter", "request_text"]


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
        decision = route(task, loaded_tier=current, context=conversation, hints=hints, tiers=catalogue)
        needs_swap = decision.needs_swap and decision.tier not in engine.peers.loaded()
        why = {"tier": decision.tier, "reasons": list(decision.reasons), "needs_swap": needs_swap,
               "confidence": round(decision.confidence, 2)}
        return decision.tier, why
