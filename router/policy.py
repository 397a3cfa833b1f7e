"""The tier policy: the cheapest adequate tier for a task, weighing generation time against a swap.

A tier is adequate for a task when its `strengths` in `tiers.toml` name the task's domain and
difficulty and its context window holds the conversation. The cost of a tier is the expected swap time
(its `load_seconds` unless it is loaded) plus the expected answer length divided by its
`tokens_per_second`. The policy picks the adequate tier of least cost, but stays on the loaded tier
when that can serve the task (it is adequate, or deeper than the task needs) and the best alternative,
swap included, would save less than `stay_margin` of its time. A pinned tier overrides the policy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Final

from variet.router.assessment import DIFFICULTIES, DOMAINS, Assessment, assess
from variet.router.signals import Conversation, read_signals
from variet.shared.config import RouterSettings, Settings, TierCatalogue

__all__ = [
    "LENGTH_BY_DIFFICULTY",
    "LENGTH_BY_DOMAIN",
    "RouteDecision",
    "RouteHints",
    "default_tiers",
    "explain_policy",
    "route",
]

_DEFAULTS: Final = RouterSettings()

LENGTH_BY_DIFFICULTY: Final[Mapping[str, float]] = MappingProxyType(
    {"easy": 0.35, "medium": 1.0, "hard": 2.5, "expert": 5.0}
)
"""Expected answer length relative to `expected_output_tokens` (a typical medium answer)."""
LENGTH_BY_DOMAIN: Final[Mapping[str, float]] = MappingProxyType(
    {
        "chat": 0.8,
        "admin": 0.5,
        "writing": 1.0,
        "search": 0.9,
        "code": 1.3,
        "reasoning": 1.2,
        "math": 1.2,
        "design": 1.4,
    }
)
"""A further factor per domain: code and design answers run long, admin confirmations short."""
_BRIEF_SCALE: Final = 0.6
_CHARS_PER_TOKEN: Final = 3.5
_AFFINITY: Final = 0.15

# When no tier lists a domain at the needed depth, the deep part of the task is reasoning:
# scheduling under many constraints, or a search that must weigh what it finds.
_FALLBACK: Final = {"admin": "reasoning", "search": "reasoning", "chat": "reasoning", "writing": "reasoning"}


@dataclass(frozen=True, slots=True)
class RouteHints:
    """Per-call knobs; unset fields fall back to `RouterSettings` defaults."""

    pinned_tier: str | None = None
    """Use this tier (name or alias) whatever the task."""
    stay_margin: float | None = None
    """Stay on an adequate loaded tier unless another saves more than this share of its time."""
    expected_output_tokens: int | None = None
    """Length of a typical medium answer; the estimate scales it by domain and difficulty."""
    max_output_tokens: int | None = None
    """Upper bound on the answer (a request's `max_tokens`): caps the estimate."""

    @classmethod
    def of(cls, value: RouteHints | RouterSettings | Mapping[str, Any] | None) -> RouteHints:
        """Accept `RouteHints`, the `[router]` settings, a mapping of the same keys, or None."""
        if value is None:
            return _NO_HINTS
        if isinstance(value, RouteHints):
            return value
        if isinstance(value, RouterSettings):
            return cls(value.pinned_tier, value.stay_margin, value.expected_output_tokens)
        known = cls.__dataclass_fields__
        unknown = set(value) - set(known)
        if unknown:
            raise ValueError(f"unknown hints {sorted(unknown)}; valid hints: {', '.join(known)}")
        hints = cls(**value)
        if hints.stay_margin is not None and hints.stay_margin < 0:
            raise ValueError(f"stay_margin must be >= 0, got {hints.stay_margin}")
        for name in ("expected_output_tokens", "max_output_tokens"):
            tokens = getattr(hints, name)
            if tokens is not None and tokens <= 0:
                raise ValueError(f"{name} must be > 0, got {tokens}")
        return hints


_NO_HINTS: Final = RouteHints()


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The tier for a task, why, and what it is expected to cost."""

    tier: str
    confidence: float
    """0..1: how clearly the evidence picked the domain and difficulty (1 when pinned)."""
    reasons: tuple[str, ...]
    """Short human-readable explanations, most important first."""
    needs_swap: bool
    """The tier is not the loaded one, so the engine must load it first."""
    expected_seconds: float
    """Swap time if needed plus expected generation time."""
    domain: str
    difficulty: str
    output_tokens: int
    """Expected answer length used for `expected_seconds`."""
    adequate: tuple[str, ...]
    """Tiers whose strengths cover the task, cheapest first."""
    pinned: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The decision as plain JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _TierFacts:
    name: str
    strengths: frozenset[str]
    tokens_per_second: float
    load_seconds: float
    context: int
    depth: int
    """Index of the hardest difficulty the tier lists (-1 if none)."""


@functools.cache
def default_tiers() -> TierCatalogue:
    """The packaged tier catalogue, read once."""
    return Settings().tiers()


# TierCatalogue is an unhashable pydantic model: remember its facts by identity, holding a reference
# so the id cannot be reused while the entry exists.
_FACTS: dict[int, tuple[TierCatalogue, tuple[_TierFacts, ...]]] = {}


def _facts(catalogue: TierCatalogue) -> tuple[_TierFacts, ...]:
    entry = _FACTS.get(id(catalogue))
    if entry is not None and entry[0] is catalogue:
        return entry[1]
    facts = tuple(
        _TierFacts(
            name=name,
            strengths=frozenset(tier.strengths),
            tokens_per_second=tier.tokens_per_second,
            load_seconds=tier.load_seconds,
            context=tier.context,
            depth=max((DIFFICULTIES.index(s) for s in tier.strengths if s in DIFFICULTIES), default=-1),
        )
        for name, tier in catalogue.tiers.items()
    )
    if len(_FACTS) >= 16:
        _FACTS.clear()
    _FACTS[id(catalogue)] = (catalogue, facts)
    return facts


def _resolve(catalogue: TierCatalogue, name: str, what: str) -> str:
    tier = catalogue.resolve(name)
    if tier is None:
        raise ValueError(f"unknown {what} {name!r}; valid tiers: {', '.join(catalogue.tiers)}")
    return tier


def route(
    task: str,
    *,
    loaded_tier: str | None = None,
    context: Conversation | Mapping[str, int] | None = None,
    hints: RouteHints | RouterSettings | Mapping[str, Any] | None = None,
    tiers: TierCatalogue | None = None,
) -> RouteDecision:
    """Choose the tier for `task` (the text of the last user message).

    `loaded_tier` is the tier the engine has loaded (None: nothing, or unknown). `context` describes the
    conversation before this message: a `Conversation` or a mapping with `messages` and `chars`.
    `hints` are per-call knobs (`RouteHints`, the `[router]` settings, or a mapping with `pinned_tier`,
    `stay_margin`, `expected_output_tokens`, `max_output_tokens`). `tiers` defaults to the packaged
    catalogue. Pure and deterministic; raises ValueError for an unknown tier name or hint.
    """
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = RouteHints.of(hints)
    conversation = Conversation.of(context)
    loaded = _resolve(catalogue, loaded_tier, "loaded tier") if loaded_tier is not None else None
    pinned = _resolve(catalogue, knobs.pinned_tier, "pinned tier") if knobs.pinned_tier is not None else None
    margin = knobs.stay_margin if knobs.stay_margin is not None else _DEFAULTS.stay_margin
    base_tokens = knobs.expected_output_tokens or _DEFAULTS.expected_output_tokens

    assessment = assess(read_signals(task, conversation))
    tokens = _output_tokens(assessment, base_tokens, knobs.max_output_tokens)
    facts = _facts(catalogue)
    needed_context = math.ceil((len(task) + conversation.chars) / _CHARS_PER_TOKEN) + tokens
    domain, fits = _adequate(facts, assessment, needed_context)
    costing = _Costing(assessment, tokens, loaded)

    if pinned is not None:
        chosen = next(t for t in facts if t.name == pinned)
        decided, confidence = f"pinned to {pinned}", 1.0
    else:
        chosen, decided = _choose(facts, fits, domain, costing, margin, needed_context)
        confidence = _confidence(assessment)
    reasons = [decided, _why(assessment)]
    if needed_context > chosen.context:
        reasons.append(f"~{needed_context} tokens of context exceed {chosen.name}'s {chosen.context}")
    needs_swap = chosen.name != loaded
    reasons.append(
        (f"swap {chosen.load_seconds:.0f} s + " if needs_swap else "no swap + ")
        + f"~{tokens} tokens at {chosen.tokens_per_second:g} tok/s"
    )
    return RouteDecision(
        tier=chosen.name,
        confidence=round(confidence, 3),
        reasons=tuple(reasons),
        needs_swap=needs_swap,
        expected_seconds=round(costing.seconds(chosen), 2),
        domain=assessment.domain,
        difficulty=assessment.difficulty,
        output_tokens=tokens,
        adequate=tuple(t.name for t in sorted(fits, key=costing.cold_seconds)),
        pinned=pinned is not None,
    )


@dataclass(frozen=True, slots=True)
class _Costing:
    """Expected seconds of running one task on a tier."""

    assessment: Assessment
    tokens: int
    loaded: str | None

    def seconds(self, tier: _TierFacts) -> float:
        """Swap (unless loaded) plus generation."""
        swap = 0.0 if tier.name == self.loaded else tier.load_seconds
        return swap + self.tokens / tier.tokens_per_second

    def cold_seconds(self, tier: _TierFacts) -> float:
        """Load plus generation, whatever is loaded."""
        return tier.load_seconds + self.tokens / tier.tokens_per_second

    def value(self, tier: _TierFacts) -> float:
        """Seconds, discounted by up to `_AFFINITY` for covering the task's secondary domains too
        (deep-coder over deep-logic for a design task full of code)."""
        scores = self.assessment.domain_scores
        evidence = sum(score for _, score in scores if score > 0) or 1.0
        covered = sum(score for name, score in scores if score > 0 and name in tier.strengths)
        return self.seconds(tier) * (1.0 - _AFFINITY * covered / evidence)


def _choose(
    facts: tuple[_TierFacts, ...],
    fits: list[_TierFacts],
    domain: str,
    costing: _Costing,
    margin: float,
    needed_context: int,
) -> tuple[_TierFacts, str]:
    """The tier to use and the reason, from the adequate tiers and the loaded one."""
    assessment = costing.assessment
    what = f"{assessment.domain}/{assessment.difficulty}"
    best = min(fits or _fallback(facts, needed_context), key=lambda t: (costing.value(t), facts.index(t)))
    current = next((t for t in facts if t.name == costing.loaded), None)
    if best is current:
        return best, f"stay on loaded {best.name}: the cheapest tier for {what}, no swap needed"
    if (
        current is not None
        and _can_serve(current, fits, assessment, needed_context)
        and costing.seconds(best) > (1.0 - margin) * costing.seconds(current)
    ):
        role = "adequate" if current in fits else "stronger than needed"
        return current, (
            f"stay on loaded {current.name} ({role} for {what}): ~{costing.seconds(current):.0f} s "
            f"vs ~{costing.seconds(best):.0f} s on {best.name} with its swap"
        )
    if fits:
        via = f" (as {domain})" if domain != assessment.domain else ""
        return best, f"{best.name}: cheapest tier whose strengths cover {what}{via}"
    if _adequate(facts, assessment, 0)[1]:
        return best, f"{best.name}: no tier listing {what} holds ~{needed_context} tokens; the most capable that does"
    return best, f"{best.name}: no tier lists {what}; the most capable"


def _output_tokens(assessment: Assessment, base: int, cap: int | None) -> int:
    scale = LENGTH_BY_DIFFICULTY[assessment.difficulty] * LENGTH_BY_DOMAIN[assessment.domain]
    if assessment.brief:
        scale *= _BRIEF_SCALE
    tokens = max(16, round(base * scale))
    return min(tokens, cap) if cap is not None else tokens


def _adequate(
    facts: tuple[_TierFacts, ...], assessment: Assessment, needed_context: int
) -> tuple[str, list[_TierFacts]]:
    """The domain actually matched (after fallback) and the tiers that cover it at the needed depth."""
    domain = assessment.domain
    for candidate in (domain, _FALLBACK.get(domain)):
        if candidate is None:
            continue
        fits = [
            t
            for t in facts
            if candidate in t.strengths and assessment.difficulty in t.strengths and t.context >= needed_context
        ]
        if fits:
            return candidate, fits
    return domain, []


def _can_serve(tier: _TierFacts, fits: list[_TierFacts], assessment: Assessment, needed_context: int) -> bool:
    """Whether a loaded tier may keep a task: it covers it, or it is deeper than the task needs.

    Strengths decide where a task is sent when a tier must be loaded anyway. Once a deeper tier is
    loaded it also serves easier tasks outside its listed domains: specialties matter at the edge of
    a tier's depth, not below it, and the swap it saves is the expensive part.
    """
    if tier in fits:
        return True
    return tier.depth > DIFFICULTIES.index(assessment.difficulty) and tier.context >= needed_context


def _fallback(facts: tuple[_TierFacts, ...], needed_context: int) -> list[_TierFacts]:
    """When no tier covers a task: the deepest tiers that hold its context (else the widest ones)."""
    holding = [t for t in facts if t.context >= needed_context]
    if not holding:
        widest = max(t.context for t in facts)
        holding = [t for t in facts if t.context == widest]
    deepest = max(t.depth for t in holding)
    return [t for t in holding if t.depth == deepest]


def _confidence(assessment: Assessment) -> float:
    # Close calls on either axis lower confidence; a difficulty two points from any boundary is clear.
    difficulty = 1.0 - math.exp(-assessment.difficulty_margin / 1.5)
    return max(0.3, min(0.95, 0.3 + 0.3 * assessment.domain_margin + 0.4 * difficulty))


def _why(assessment: Assessment) -> str:
    evidence = ", ".join(f"{label} {points:+.1f}" for label, points in assessment.evidence[:3] if abs(points) >= 0.5)
    evidence = evidence or "no strong signal"
    return f"{assessment.domain}, {assessment.difficulty} (score {assessment.score:.1f}: {evidence})"


def explain_policy(tiers: TierCatalogue | None = None, settings: RouterSettings | None = None) -> dict[str, Any]:
    """Describe the policy: tiers with strengths and speeds, settings, vocabulary and cost model."""
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = settings or _DEFAULTS
    return {
        "tiers": [
            {
                "name": name,
                "strengths": list(tier.strengths),
                "tokens_per_second": tier.tokens_per_second,
                "load_seconds": tier.load_seconds,
                "context": tier.context,
                "description": tier.description,
            }
            for name, tier in catalogue.tiers.items()
        ],
        "domains": list(DOMAINS),
        "difficulties": list(DIFFICULTIES),
        "settings": {
            "pinned_tier": knobs.pinned_tier,
            "stay_margin": knobs.stay_margin,
            "expected_output_tokens": knobs.expected_output_tokens,
        },
        "output_tokens": {
            difficulty: {
                domain: round(knobs.expected_output_tokens * scale * LENGTH_BY_DOMAIN[domain]) for domain in DOMAINS
            }
            for difficulty, scale in LENGTH_BY_DIFFICULTY.items()
        },
        "rules": [
            "Classify the task's domain and difficulty from cheap signals in its text.",
            "Adequate tiers list both in their strengths and hold the conversation in their context.",
            "Cost = swap seconds (load_seconds unless loaded) + output tokens / tokens_per_second.",
            "Pick the adequate tier of least cost; a tier that also covers the task's secondary domains "
            f"may cost up to {_AFFINITY:.0%} more.",
            "Stay on the loaded tier when it is adequate or deeper than the task needs, unless the best "
            "alternative, swap included, saves at least stay_margin of its time.",
            "A pinned tier overrides the policy.",
        ],
    }
