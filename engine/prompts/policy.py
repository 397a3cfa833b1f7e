"""What to save before a swap and what to restore after one: pure decisions over slots, answers and entries.

Saving. When a tier is about to be evicted, llama-server's `/slots` says how many tokens each slot holds.
A slot's content is the prompt of the last request it served plus that request's answer, so a slot holding
between `prompt` and `prompt + answer` tokens is matched to the most recent such answer the engine relayed
on the tier, and takes that request's prefix chain as its identity. A slot nobody can be matched to (its
answer was cut off) is not saved: without an identity it could never be restored on purpose. A slot whose
identity and size are already on disk (it was restored and not used since) is not saved again, and an entry
whose chain the new one extends (the same conversation, shorter) is superseded by it.

Restoring. Before a tier is loaded for waiting requests, each request's chain is compared with the tier's
usable entries (same model file, same context): the entry sharing the longest prefix with it wins, when
that prefix is worth at least `min_tokens` tokens. Different waiting conversations may each restore their
own entry, one slot each. No match, no restore: the batch then loads the tier itself as before.

Budgets. A save or restore may take as long as processing its tokens again would (at the tier's measured
prompt speed), no longer; one expected to take longer is skipped up front.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from variet.engine.prompts.prefixes import PrefixChain
from variet.engine.prompts.store import CacheEntry, ModelFingerprint

__all__ = [
    "MIN_BUDGET_SECONDS",
    "UNKNOWN_BUDGET_SECONDS",
    "Answered",
    "Restore",
    "SaveDecision",
    "SavePlan",
    "SlotView",
    "answer_tokens",
    "budget_seconds",
    "cached_tokens",
    "matched_tokens",
    "plan_restores",
    "plan_saves",
    "slot_views",
    "unusable",
]

MIN_BUDGET_SECONDS = 0.5
"""Slack added to every budget for the round trip itself."""
UNKNOWN_BUDGET_SECONDS = 60.0
"""The budget when the tier's prompt speed was never measured."""


@dataclass(frozen=True)
class Answered:
    """A request a tier answered, as far as the prompt cache cares."""

    chain: PrefixChain
    prompt_tokens: int
    output_tokens: int
    at: float


@dataclass(frozen=True)
class SlotView:
    """One slot of a loaded tier, from llama-server's `/slots`."""

    id: int
    n_ctx: int
    tokens: int
    busy: bool


@dataclass(frozen=True)
class SavePlan:
    """Save slot `slot` as the prefix of `answered`."""

    slot: int
    slot_context: int
    tokens: int
    answered: Answered
    supersedes: tuple[str, ...]
    """Entries (ids) this save makes redundant: the same conversation, shorter."""


@dataclass(frozen=True)
class SaveDecision:
    saves: list[SavePlan]
    unchanged: list[str]
    """Entries a slot still holds as saved: only their last use is updated."""


@dataclass(frozen=True)
class Restore:
    """Restore `entry`, which covers about `tokens` tokens of a waiting request's prompt."""

    entry: CacheEntry
    tokens: int


_INT = rb"\s*:\s*(\d+)"
_FIELDS = {name: re.compile(b'"' + name.encode() + b'"' + _INT) for name in (
    "prompt_n", "cache_n", "predicted_n", "input_tokens", "cache_read_input_tokens", "output_tokens",
    "prompt_tokens", "completion_tokens")}


def _first(name: str, data: bytes) -> int | None:
    found = _FIELDS[name].search(data)
    return int(found.group(1)) if found else None


def _last(name: str, data: bytes) -> int | None:
    found = _FIELDS[name].findall(data)
    return int(found[-1]) if found else None


def answer_tokens(head: bytes, tail: bytes) -> tuple[int, int] | None:
    """(prompt tokens, answer tokens) from an answer's first and last bytes (the whole body when not
    streamed): llama-server's `timings`, else Anthropic's or OpenAI's `usage`; None when neither is there."""
    if b'"timings"' in tail:
        prompt, cached, predicted = _last("prompt_n", tail), _last("cache_n", tail), _last("predicted_n", tail)
        if prompt is not None and predicted is not None:
            return prompt + (cached or 0), predicted
    fresh = _first("input_tokens", head)
    if fresh is not None:
        output = _last("output_tokens", tail)
        return fresh + (_first("cache_read_input_tokens", head) or 0), output or 0
    prompt, completion = _last("prompt_tokens", tail), _last("completion_tokens", tail)
    if prompt is not None:
        return prompt, completion or 0
    return None


def cached_tokens(head: bytes, tail: bytes) -> int | None:
    """How many prompt tokens llama-server took from its cache for an answer (`timings.cache_n`, or
    Anthropic's `cache_read_input_tokens`); None when the answer does not say."""
    if b'"timings"' in tail:
        cached = _last("cache_n", tail)
        if cached is not None:
            return cached
    return _first("cache_read_input_tokens", head)


def slot_views(data: Any) -> list[SlotView]:
    """llama-server's `/slots` answer as `SlotView`s (entries it cannot read are left out)."""
    views = []
    for slot in data if isinstance(data, list) else []:
        if not isinstance(slot, dict) or not isinstance(slot.get("id"), int):
            continue
        tokens = slot.get("n_prompt_tokens")
        views.append(SlotView(id=slot["id"], n_ctx=int(slot.get("n_ctx") or 0),
                              tokens=tokens if isinstance(tokens, int) else 0,
                              busy=bool(slot.get("is_processing"))))
    return views


def _extends(longer: Sequence[str], shorter: Sequence[str]) -> bool:
    return len(shorter) <= len(longer) and tuple(longer[: len(shorter)]) == tuple(shorter)


def plan_saves(slots: Iterable[SlotView], answered: Sequence[Answered], entries: Sequence[CacheEntry],
               min_tokens: int) -> SaveDecision:
    """Which slots of an idle tier to save (see the module docstring); `entries` are the tier's usable ones."""
    plans: dict[tuple[str, ...], SavePlan] = {}
    unchanged: list[str] = []
    for slot in slots:
        # A busy slot is still finishing the answer the engine already relayed; llama-server saves it
        # once it is done.
        if slot.tokens < min_tokens:
            continue
        matches = [a for a in answered if a.prompt_tokens <= slot.tokens <= a.prompt_tokens + a.output_tokens]
        if not matches:
            continue
        answer = max(matches, key=lambda a: a.at)
        chain = answer.chain.hashes
        same = [e for e in entries if e.chain == chain and e.tokens == slot.tokens]
        if same:
            unchanged += [e.id for e in same]
            continue
        supersedes = tuple(e.id for e in entries if _extends(chain, e.chain) and e.tokens <= slot.tokens)
        plan = SavePlan(slot.id, slot.n_ctx, slot.tokens, answer, supersedes)
        if chain not in plans or plans[chain].tokens < plan.tokens:
            plans[chain] = plan
    return SaveDecision(sorted(plans.values(), key=lambda p: -p.tokens), unchanged)


def unusable(entry: CacheEntry, model: ModelFingerprint | None, context: int) -> tuple[str, str] | None:
    """(reason, detail) when `entry` can never be restored into the tier as configured now, else None."""
    if model is None or entry.model != model:
        now = "is gone" if model is None else "has changed"
        return "model_changed", f"the model file {entry.model.path} {now} since the prefix was saved"
    if entry.context != context:
        return "context_changed", f"saved with a context of {entry.context} tokens; the tier now has {context}"
    return None


def matched_tokens(entry: CacheEntry, chain: PrefixChain) -> int:
    """About how many of a request's prompt tokens `entry` holds: its prompt tokens in proportion to the
    text the two share."""
    shared = chain.shared(PrefixChain(entry.chain, entry.chars))
    if shared == 0:
        return 0
    if shared >= len(entry.chain):
        return entry.prompt_tokens
    return entry.prompt_tokens * entry.chars[shared - 1] // max(1, entry.chars[-1])


def plan_restores(entries: Sequence[CacheEntry], waiting: Sequence[PrefixChain], min_tokens: int,
                  max_restores: int) -> list[Restore]:
    """For each waiting request, the usable entry that covers most of its prompt (at least `min_tokens`);
    distinct entries, most tokens first, at most `max_restores`."""
    chosen: dict[str, Restore] = {}
    for chain in waiting:
        scored = [(matched_tokens(entry, chain), entry.last_used, entry) for entry in entries]
        scored = [item for item in scored if item[0] >= min_tokens]
        if not scored:
            continue
        tokens, _, entry = max(scored, key=lambda item: (item[0], item[1]))
        if entry.id not in chosen or chosen[entry.id].tokens < tokens:
            chosen[entry.id] = Restore(entry, tokens)
    return sorted(chosen.values(), key=lambda r: (-r.tokens, r.entry.id))[:max_restores]


def budget_seconds(tokens: int, prompt_tokens_per_second: float | None) -> float:
    """The longest a save or restore of `tokens` tokens may take: processing them again, plus a little."""
    if not prompt_tokens_per_second or prompt_tokens_per_second <= 0:
        return UNKNOWN_BUDGET_SECONDS
    return tokens / prompt_tokens_per_second + MIN_BUDGET_SECONDS
