"""`model: "auto"`: route a request to a tier with the router policy and the engine's live state.

This module reads the OpenAI or Anthropic request body and asks `variet.router.route` for a tier, treating
the tier that is loaded, or being swapped in, or most requested in the queues, as the one already paid for.

Agent loops: one tier per task. The task is the newest text a person wrote (`variet.engine.tasks`: tool
results and host scaffolding such as `<system-reminder>` are not the task). A new human-written message is a
routing decision. A turn that continues a task (its newest messages are tool results) stays on the tier that
served the task's previous turn (`variet.engine.task_memory` finds it), unless the conversation no longer
fits that tier's context: then it escalates, once, to the router's pick among the tiers that hold it and are
at least as deep (among all that hold it if none is; a second move only if it outgrows that one too, none when
no tier is wider). A task never drifts down or sideways otherwise. Every tier chosen must hold the prompt
plus the room for the answer: the request's `max_tokens`, up to an eighth of the tier's context (Claude Code
asks for 32000 on every turn, a ceiling rather than a need).

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

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from variet.contract import RoutedEvent
from variet.engine.core import Engine
from variet.engine.prompts.prefixes import PrefixChain, prefix_chain
from variet.engine.task_memory import TaskMemory, TaskRecord, task_keys
from variet.engine.tasks import read_turn
from variet.router import DIFFICULTIES, Conversation, RouteDecision, RouteHints, route
from variet.shared.config import RouterSettings
from variet.shared.tiers import Tier, TierCatalogue

__all__ = ["ANSWER_SHARE", "AutoRouter", "answer_room", "holds", "prompt_swap_costs", "request_text",
           "swap_prompt_seconds", "with_swap_costs"]

CHARS_PER_TOKEN = 3.5
"""Characters of a request body per prompt token, as the router reckons context."""
ANSWER_SHARE: Final = 8
"""A tier holds a request when its context has room for the prompt and the answer: `max_tokens`, up to
1/ANSWER_SHARE of the context."""


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
    """The task (the newest human-written text, see `variet.engine.tasks`; else the last user message, or
    the prompt) and the conversation before it."""
    if isinstance(payload.get("prompt"), str):
        return payload["prompt"], Conversation()
    turn = read_turn(payload)
    if turn.index is not None:
        earlier = [m for m in payload["messages"][: turn.index] if isinstance(m, dict)]
        chars = sum(len(_text(m.get("content"))) for m in earlier) + len(_text(payload.get("system")))
        return turn.task, Conversation(messages=len(earlier), chars=chars)
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


def prompt_swap_costs(payload: dict[str, Any], engine: Engine, *, skip: str | None = None,
                      chain: PrefixChain | None = None) -> dict[str, float]:
    """For each tier but `skip`, the seconds a swap to it would add for this request's prompt (see
    `swap_prompt_seconds`); empty when prompt caching is off or the prompt is short. `chain`: the body's
    prefix chain, if already computed."""
    cache = engine.prompt_cache
    if cache is None:
        return {}
    chain = chain if chain is not None else prefix_chain(payload)
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


def answer_room(payload: dict[str, Any], context: int) -> int:
    """Tokens of a tier's `context` kept for this request's answer (see `ANSWER_SHARE`)."""
    cap = context // ANSWER_SHARE
    for field in ("max_tokens", "max_completion_tokens"):
        asked = payload.get(field)
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
            return min(asked, cap)
    return cap


def holds(tier: Tier, prompt_tokens: int, payload: dict[str, Any]) -> bool:
    """Whether `tier`'s context has room for the prompt and the answer."""
    return prompt_tokens + answer_room(payload, tier.context) <= tier.context


def _depth(tier: Tier) -> int:
    return max((DIFFICULTIES.index(s) for s in tier.strengths if s in DIFFICULTIES), default=-1)


def _only(catalogue: TierCatalogue, names: Iterable[str]) -> TierCatalogue:
    keep = set(names)
    if keep == set(catalogue.tiers):
        return catalogue
    return catalogue.model_copy(update={"tiers": {n: t for n, t in catalogue.tiers.items() if n in keep}})


def _k(tokens: int) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 10_000 else f"{tokens / 1000:.1f}k"


class AutoRouter:
    """Picks a tier for `model: "auto"` from the request, the engine's state and the tasks under way."""

    def __init__(self, settings: RouterSettings, *, memory: TaskMemory | None = None) -> None:
        self._settings = settings
        self.memory = memory if memory is not None else TaskMemory()

    def __call__(self, payload: dict[str, Any], engine: Engine) -> tuple[str, dict[str, Any]]:
        turn = read_turn(payload)
        chain = prefix_chain(payload)
        prompt_tokens = math.ceil(chain.total_chars / CHARS_PER_TOKEN)
        catalogue = engine.routing_catalogue()
        current = engine.current_tier()
        keys = task_keys(payload, turn.task, turn.index, chain) if turn.index is not None else []
        record = self.memory.recall(keys) if turn.continuing else None
        if record is not None and record.tier in catalogue.tiers:
            record.turns += 1
            tier = catalogue.tiers[record.tier]
            if holds(tier, prompt_tokens, payload):
                summary = f"continuing task on {record.tier} (turn {record.turns})"
                room = f"~{_k(prompt_tokens)} tokens of {record.tier}'s {_k(tier.context)}"
                why: dict[str, Any] = {"tier": record.tier, "summary": summary, "task": "continuing",
                                       "turn": record.turns, "reasons": [summary, room],
                                       "needs_swap": self._needs_swap(record.tier, current, engine)}
            else:
                why = self._escalate(payload, engine, catalogue, current, turn.task, chain, prompt_tokens, record)
            self.memory.remember(keys, record)
        else:
            task, conversation = request_text(payload)
            if turn.index is not None:
                conversation = Conversation(messages=turn.index, chars=max(0, chain.total_chars - len(task)))
            decision, extra = self._route(payload, engine, catalogue, current, task, conversation, prompt_tokens,
                                          chain)
            summary = ("routed on the last message" if turn.index is None
                       else "task first seen mid-loop: routed on the person's message" if turn.continuing
                       else "new task")
            why = self._explain(decision, engine, summary, "new", 1, extra)
            if keys:
                self.memory.remember(keys, TaskRecord(decision.tier))
        self._publish(engine, why)
        return str(why["tier"]), why

    @staticmethod
    def _needs_swap(tier: str, current: str | None, engine: Engine) -> bool:
        return tier != current and tier not in engine.peers.loaded()

    def _hints(self, payload: dict[str, Any]) -> RouteHints:
        max_tokens = payload.get("max_tokens", payload.get("max_completion_tokens"))
        return RouteHints(
            pinned_tier=self._settings.pinned_tier,
            stay_margin=self._settings.stay_margin,
            expected_output_tokens=self._settings.expected_output_tokens,
            max_output_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        )

    def _route(self, payload: dict[str, Any], engine: Engine, catalogue: TierCatalogue, current: str | None,
               task: str, conversation: Conversation, prompt_tokens: int, chain: PrefixChain,
               among: list[str] | None = None) -> tuple[RouteDecision, dict[str, float]]:
        """`route()` over the tiers (of `among`, default all) that hold the request, swap costs included;
        also the seconds each swap adds for this prompt (see `prompt_swap_costs`)."""
        names = among if among is not None else list(catalogue.tiers)
        holding = [n for n in names if holds(catalogue.tiers[n], prompt_tokens, payload)]
        if not holding:  # nothing has room for the answer too: the widest, which may still fit the prompt
            widest = max(catalogue.tiers[n].context for n in names)
            holding = [n for n in names if catalogue.tiers[n].context == widest]
        extra = prompt_swap_costs(payload, engine, skip=current, chain=chain)
        priced = with_swap_costs(catalogue, extra) if extra else catalogue
        hints = self._hints(payload)
        if hints.pinned_tier is not None:
            return route(task, loaded_tier=current, context=conversation, hints=hints, tiers=catalogue), extra
        loaded = current if current in holding else None
        return route(task, loaded_tier=loaded, context=conversation, hints=hints, tiers=_only(priced, holding)), extra

    def _escalate(self, payload: dict[str, Any], engine: Engine, catalogue: TierCatalogue, current: str | None,
                  task: str, chain: PrefixChain, prompt_tokens: int, record: TaskRecord) -> dict[str, Any]:
        """The task outgrew its tier: move to a tier that holds it, at least as deep if one does."""
        old = catalogue.tiers[record.tier]
        holding = [n for n, t in catalogue.tiers.items() if holds(t, prompt_tokens, payload)]
        deep_enough = [n for n in holding if _depth(catalogue.tiers[n]) >= _depth(old)]
        among = deep_enough or holding or None
        conversation = Conversation(messages=max(0, len(chain.hashes) - 2),
                                    chars=max(0, chain.total_chars - len(task)))
        if not holding and old.context >= max(t.context for t in catalogue.tiers.values()):
            summary = (f"continuing task on {record.tier} (turn {record.turns}): no tier holds "
                       f"~{_k(prompt_tokens)} tokens, {record.tier} is the widest")
            return {"tier": record.tier, "summary": summary, "task": "continuing", "turn": record.turns,
                    "needs_swap": self._needs_swap(record.tier, current, engine), "reasons": [summary]}
        decision, extra = self._route(payload, engine, catalogue, current, task, conversation, prompt_tokens,
                                      chain, among)
        need = prompt_tokens + answer_room(payload, old.context)
        summary = (f"escalated{' again' if record.escalated else ''}: context {_k(need)} > {_k(old.context)} "
                   f"of {record.tier}, now {decision.tier}")
        if not deep_enough:
            summary += (f" (only {', '.join(holding)} hold it)" if holding else " (no tier holds it: the widest)")
        record.tier, record.escalated = decision.tier, True
        return self._explain(decision, engine, summary, "escalated", record.turns, extra)

    def _explain(self, decision: RouteDecision, engine: Engine, summary: str, kind: str, turn: int,
                 extra: dict[str, float]) -> dict[str, Any]:
        current = engine.current_tier()
        why: dict[str, Any] = {"tier": decision.tier, "summary": summary, "task": kind, "turn": turn,
               "needs_swap": decision.needs_swap and self._needs_swap(decision.tier, current, engine),
               "confidence": round(decision.confidence, 2), "reasons": list(decision.reasons)}
        if extra:
            why["prompt_seconds"] = extra
        return why

    @staticmethod
    def _publish(engine: Engine, why: dict[str, Any]) -> None:
        if engine.events.subscribers:
            engine.events.publish(RoutedEvent(time=round(time.time(), 3), tier=why["tier"], task=why["task"],
                                              turn=why["turn"], summary=why["summary"],
                                              needs_swap=why["needs_swap"]))
