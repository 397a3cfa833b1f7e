"""The tier policy: the tier most likely to do the job, going up when unsure, weighing time only among equals.

A learned model (`variet.router.model`) gives the probability of each need (trivial, easy, medium,
medium code, ..., expert); each need names the tiers acceptable for it (by their `strengths` and depth in
`tiers.toml`), so every tier gets a probability of being adequate, of being under-provisioned (too
shallow: a wrong answer), of being over-provisioned (too deep: only seconds lost) or of being the
wrong specialty. The policy picks the tier of least expected cost, where under-provisioning costs
`UNDER_COST` times what over-provisioning does, so an uncertain task goes to the tier that covers all its
likely needs; among tiers within `QUALITY_SLACK` of the least cost, the fastest (load plus generation).

Swap-aware: the loaded tier is kept only when its expected quality cost is within `STAY_TOLERANCE` of
the best choice's, or `SHALLOWER_STAY_TOLERANCE` when it is shallower (a swap costs tens of seconds and the
tier's cache of the conversation, so a tier a little too deep is kept, one likely too shallow is not); then
`stay_margin` weighs time alone (stay unless the swap, included, saves that share of the time).
A pinned tier overrides the policy.
`confidence` is the calibrated probability that the chosen tier is adequate (calibrated on held-out
folds).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Final

from variet.router.assessment import DIFFICULTIES, DOMAINS, Assessment, assess
from variet.router.features import features
from variet.router.model import NEEDS, Prediction, TierModel, default_model
from variet.router.signals import Conversation, read_signals
from variet.shared.config import RouterSettings, Settings
from variet.shared.tiers import TierCatalogue

__all__ = [
    "DEEPER_ADEQUATE_COST",
    "LENGTH_BY_DIFFICULTY",
    "LENGTH_BY_DOMAIN",
    "OVER_COST",
    "QUALITY_SLACK",
    "SHALLOWER_STAY_TOLERANCE",
    "SPECIALTY_COST",
    "STAY_TOLERANCE",
    "TIME_COST",
    "UNDER_COST",
    "RouteDecision",
    "RouteHints",
    "default_tiers",
    "explain_policy",
    "route",
]

_DEFAULTS: Final = RouterSettings()

UNDER_COST: Final = 2.5
"""Expected cost of an under-provisioned tier (a likely wrong answer), in units of an over-provisioned one,
one level of depth short; each further level adds a quarter. Chosen with the two tolerances below by
cross-validation of two kinds over 2526 tasks, then again over 2896, 3259 and 3944 as more files written
apart came in: 5-fold, and leaving out each author who wrote apart from us (each file written apart and the shared
development set, scored by a model trained without it). Against 3.0, 2.5 kept under-provisioning within 5 %
and cut over-provisioning by a point and more in both."""
SPECIALTY_COST: Final = 2.0
"""Expected cost of a tier of the right depth but the wrong specialty (deep-coder for a proof)."""
OVER_COST: Final = 1.0
"""Expected cost of a needlessly deep tier (seconds, not quality)."""
DEEPER_ADEQUATE_COST: Final = 0.1
"""Expected cost of an acceptable tier deeper than the cheapest acceptable one (deep-coder for a task that
balanced does as well): it does the job, slower. Without it a task almost surely of medium code went to
deep-coder at the first hint of a harder need. Cross-validated as `UNDER_COST` is (2896 tasks): 0.1 raised
adequacy on the left-out authors by 0.6 points (5-fold: 0.3) for 0.1 to 0.3 points more under-provisioning;
0.2 and above under-provisioned more than they gained."""
TIME_COST: Final = 0.05
"""Cost of a minute of expected load and generation time: small, so that time decides only between tiers
about equally likely to do the job."""
QUALITY_SLACK: Final = 0.05
"""Tiers whose expected cost is within this of the best are about equally good: the fastest of them is
chosen (fast over balanced for a task almost surely easy, deep-coder over ultra for hard code)."""
STAY_TOLERANCE: Final = 0.7
"""The loaded tier may be kept when its expected quality cost (the verdict costs above, weighted by
their probabilities) is at most this much above the best tier's; `stay_margin` then weighs time.
A tier surely one level too deep costs `OVER_COST` (1.0) more than the right one, so any tolerance below 1
keeps a deeper tier only while the model gives it a fair chance of being needed. Cross-validated as
`UNDER_COST` is (3944 tasks, the shallower tolerance at 1.0, authors left out): 0.6 / 0.7 / 0.8 keep 85.8 /
84.8 / 82.0 % of the swap-aware decisions adequate with 0.94 / 0.84 / 0.73 times the swaps an oracle needs at
full adequacy; on the most mixed order (the shared development set) 1.32 / 1.31 / 1.17 times. 0.7 keeps the
5-fold figure above 85 % with fewer swaps than 0.6. A swap costs tens of seconds and the conversation's cache."""
SHALLOWER_STAY_TOLERANCE: Final = 1.0
"""The same tolerance when the loaded tier is shallower than the best choice. Its expected cost is then mostly
under-provisioning, already weighed `UNDER_COST` times: a tier one level short costs 2.5 x 0.75 = 1.875 times
the probability of a deeper need, so at 1.0 the router swaps up once a deeper need is more likely than not
(about 55 %). Cross-validated as above: 1.0, 1.25 and 1.5 keep about as many swap-aware decisions adequate
(within half a point), but 1.5 left one to one and a half points more of them under-provisioned, for about
10 % fewer swaps; 2.0 let swap-aware under-provisioning reach 6 to 8 %."""

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
    """0..1: the calibrated probability that `tier` is adequate (on held-out data, decisions stated at
    0.8 were adequate about 80 % of the time); 1 when pinned."""
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
    """Tiers more likely adequate than not, cheapest first (may be empty for an ambiguous task)."""
    pinned: bool = False
    adequacy: tuple[tuple[str, float], ...] = ()
    """Each tier's model probability of being adequate, in catalogue order (before calibration)."""

    @property
    def p_adequate(self) -> float:
        """The model's probability that the chosen tier is adequate (before calibration)."""
        return dict(self.adequacy).get(self.tier, 0.0)

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


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """A catalogue's facts and, per need, its acceptable tiers and each tier's verdict."""

    tiers: tuple[_TierFacts, ...]
    verdicts: tuple[tuple[str, ...], ...]
    """verdicts[need][tier]: adequate, under, over or specialty."""
    costs: tuple[tuple[float, ...], ...]
    """costs[tier][need]: the cost of that verdict (see `UNDER_COST`)."""
    adequate: tuple[tuple[int, ...], ...]
    """adequate[tier]: the needs the tier is adequate for."""


@functools.cache
def default_tiers() -> TierCatalogue:
    """The packaged tier catalogue, read once."""
    return Settings().tiers()


# TierCatalogue is an unhashable pydantic model: remember its facts by identity, holding a reference
# so the id cannot be reused while the entry exists.
_FACTS: dict[int, tuple[TierCatalogue, _Catalogue]] = {}


def _facts(catalogue: TierCatalogue) -> _Catalogue:
    entry = _FACTS.get(id(catalogue))
    if entry is not None and entry[0] is catalogue:
        return entry[1]
    tiers = tuple(
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
    verdicts = tuple(_verdicts(tiers, need_index) for need_index in range(len(NEEDS)))
    costs = tuple(
        tuple(_verdict_cost(verdicts[need], tiers, column) for need in range(len(NEEDS)))
        for column in range(len(tiers))
    )
    adequate = tuple(
        tuple(need for need in range(len(NEEDS)) if verdicts[need][column] == "adequate")
        for column in range(len(tiers))
    )
    facts = _Catalogue(tiers, verdicts, costs, adequate)
    if len(_FACTS) >= 16:
        _FACTS.clear()
    _FACTS[id(catalogue)] = (catalogue, facts)
    return facts


def _verdicts(tiers: tuple[_TierFacts, ...], need_index: int) -> tuple[str, ...]:
    """How each tier compares with the tiers acceptable for a need, as the labelling rule judges it."""
    need = NEEDS[need_index]
    accepted = [t for t in tiers if need.accepts(t.strengths, t.depth)]
    if not accepted:
        listing = [t for t in tiers if not need.specialties or need.specialties & t.strengths] or list(tiers)
        able = [t for t in listing if need.difficulty in t.strengths]
        if able:
            # Only deeper tiers than the need asks for: the shallowest of them.
            shallowest = min(t.depth for t in able)
            accepted = [t for t in able if t.depth == shallowest]
        else:
            # No tier covers the need: the deepest tiers that list its specialty (else the deepest) will do.
            deepest = max(t.depth for t in listing)
            accepted = [t for t in listing if t.depth == deepest]
    low, high = min(t.depth for t in accepted), max(t.depth for t in accepted)
    return tuple(
        "adequate" if t in accepted else "under" if t.depth < low else "over" if t.depth > high else "specialty"
        for t in tiers
    )


def _resolve(catalogue: TierCatalogue, name: str, what: str) -> str:
    tier = catalogue.resolve(name)
    if tier is None:
        raise ValueError(f"unknown {what} {name!r}; valid tiers: {', '.join(catalogue.tiers)}")
    return tier


def _verdict_cost(verdicts: tuple[str, ...], tiers: tuple[_TierFacts, ...], column: int) -> float:
    """The cost of tier `column`'s verdict in a need's row of verdicts."""
    verdict = verdicts[column]
    if verdict == "under":
        # The further short of the shallowest acceptable tier, the likelier a wrong answer.
        low = min(t.depth for t, v in zip(tiers, verdicts, strict=True) if v != "under")
        return UNDER_COST * (0.75 + 0.25 * (low - tiers[column].depth))
    if verdict == "adequate":
        # Acceptable but deeper than the cheapest acceptable tier (the need's preferred one): slower for nothing.
        low = min(t.depth for t, v in zip(tiers, verdicts, strict=True) if v == "adequate")
        return DEEPER_ADEQUATE_COST if tiers[column].depth > low else 0.0
    return {"over": OVER_COST, "specialty": SPECIALTY_COST}[verdict]


def route(
    task: str,
    *,
    loaded_tier: str | None = None,
    context: Conversation | Mapping[str, int] | None = None,
    hints: RouteHints | RouterSettings | Mapping[str, Any] | None = None,
    tiers: TierCatalogue | None = None,
    model: TierModel | None = None,
) -> RouteDecision:
    """Choose the tier for `task` (the text of the last user message).

    `loaded_tier` is the tier the engine has loaded (None: nothing, or unknown). `context` describes the
    conversation before this message: a `Conversation` or a mapping with `messages` and `chars`.
    `hints` are per-call knobs (`RouteHints`, the `[router]` settings, or a mapping with `pinned_tier`,
    `stay_margin`, `expected_output_tokens`, `max_output_tokens`). `tiers` defaults to the packaged
    catalogue and `model` to the packaged need model (read once, on first use). Pure and deterministic;
    raises ValueError for an unknown tier name or hint.
    """
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = RouteHints.of(hints)
    conversation = Conversation.of(context)
    loaded = _resolve(catalogue, loaded_tier, "loaded tier") if loaded_tier is not None else None
    pinned = _resolve(catalogue, knobs.pinned_tier, "pinned tier") if knobs.pinned_tier is not None else None
    margin = knobs.stay_margin if knobs.stay_margin is not None else _DEFAULTS.stay_margin
    base_tokens = knobs.expected_output_tokens or _DEFAULTS.expected_output_tokens
    need_model = model if model is not None else default_model()

    signals = read_signals(task, conversation)
    assessment = assess(signals)
    prediction = need_model.predict(features(signals, assessment))
    needs = prediction.probabilities
    top = max(range(len(needs)), key=needs.__getitem__)
    difficulty = NEEDS[top].difficulty
    tokens = _output_tokens(assessment.domain, difficulty, assessment.brief, base_tokens, knobs.max_output_tokens)
    facts = _facts(catalogue)
    needed_context = math.ceil((len(task) + conversation.chars) / _CHARS_PER_TOKEN) + tokens
    odds = _Odds.of(facts, needs)
    timing = _Timing(tokens, loaded)

    if pinned is not None:
        chosen = next(t for t in facts.tiers if t.name == pinned)
        decided, confidence = f"pinned to {pinned}", 1.0
    else:
        chosen, decided = _choose(facts.tiers, odds, timing, margin, needed_context)
        confidence = need_model.calibrated(odds.adequate[facts.tiers.index(chosen)])
    reasons = [decided, _model_reason(prediction), _why(assessment)]
    if needed_context > chosen.context:
        reasons.append(f"~{needed_context} tokens of context exceed {chosen.name}'s {chosen.context}")
    needs_swap = chosen.name != loaded
    reasons.append(
        (f"swap {chosen.load_seconds:.0f} s + " if needs_swap else "no swap + ")
        + f"~{tokens} tokens at {chosen.tokens_per_second:g} tok/s"
    )
    likely = sorted(
        (t for t, p in zip(facts.tiers, odds.adequate, strict=True) if p >= 0.5), key=timing.cold_seconds
    )
    return RouteDecision(
        tier=chosen.name,
        confidence=round(confidence, 3),
        reasons=tuple(reasons),
        needs_swap=needs_swap,
        expected_seconds=round(timing.seconds(chosen), 2),
        domain=assessment.domain,
        difficulty=difficulty,
        output_tokens=tokens,
        adequate=tuple(t.name for t in likely),
        pinned=pinned is not None,
        adequacy=tuple((t.name, round(p, 4)) for t, p in zip(facts.tiers, odds.adequate, strict=True)),
    )


@dataclass(frozen=True, slots=True)
class _Odds:
    """Per tier: the probability of being adequate, and the expected cost of its verdicts."""

    adequate: tuple[float, ...]
    quality_cost: tuple[float, ...]

    @classmethod
    def of(cls, facts: _Catalogue, needs: tuple[float, ...]) -> _Odds:
        adequate = tuple(sum(needs[need] for need in fits) for fits in facts.adequate)
        costs = tuple(sum(p * c for p, c in zip(needs, row, strict=True)) for row in facts.costs)
        return cls(adequate, costs)


@dataclass(frozen=True, slots=True)
class _Timing:
    """Expected seconds of running one task on a tier."""

    tokens: int
    loaded: str | None

    def seconds(self, tier: _TierFacts) -> float:
        """Swap (unless loaded) plus generation."""
        swap = 0.0 if tier.name == self.loaded else tier.load_seconds
        return swap + self.tokens / tier.tokens_per_second

    def cold_seconds(self, tier: _TierFacts) -> float:
        """Load plus generation, whatever is loaded."""
        return tier.load_seconds + self.tokens / tier.tokens_per_second


def _choose(
    tiers: tuple[_TierFacts, ...], odds: _Odds, timing: _Timing, margin: float, needed_context: int
) -> tuple[_TierFacts, str]:
    """The tier to use and the reason: least expected cost from a cold start, unless the loaded tier is
    about as likely to be adequate and staying saves time."""
    holding = [i for i, t in enumerate(tiers) if t.context >= needed_context]
    if not holding:
        widest = max(t.context for t in tiers)
        holding = [i for i, t in enumerate(tiers) if t.context == widest]

    def cost(i: int) -> float:
        return odds.quality_cost[i] + TIME_COST * timing.cold_seconds(tiers[i]) / 60.0

    # Tiers within QUALITY_SLACK of the least cost are about equally good: take the fastest of them.
    floor = min(cost(i) for i in holding)
    near = [i for i in holding if cost(i) <= floor + QUALITY_SLACK]
    best = min(near, key=lambda i: (timing.cold_seconds(tiers[i]), cost(i), i))
    chosen = tiers[best]
    p_best = odds.adequate[best]
    held = (
        ""
        if len(holding) == len(tiers)
        else f"; only {', '.join(tiers[i].name for i in holding)} hold ~{needed_context} tokens of context"
    )
    current = next((i for i, t in enumerate(tiers) if t.name == timing.loaded), None)
    if current == best:
        return chosen, f"stay on loaded {chosen.name}: the best tier here (p adequate {p_best:.2f}), no swap"
    reason = (
        f"{chosen.name}: least expected cost (p adequate {p_best:.2f}; under-provisioning weighs {UNDER_COST:g}x)"
        + held
    )
    if current is None or current not in holding:
        return chosen, reason
    loaded = tiers[current]
    p_loaded = odds.adequate[current]
    tolerance = SHALLOWER_STAY_TOLERANCE if loaded.depth < chosen.depth else STAY_TOLERANCE
    if odds.quality_cost[current] > odds.quality_cost[best] + tolerance:
        return chosen, f"{reason}; loaded {loaded.name} is less likely adequate (p {p_loaded:.2f})"
    stay, swap = timing.seconds(loaded), timing.seconds(chosen)
    if swap > (1.0 - margin) * stay:
        return loaded, (
            f"stay on loaded {loaded.name}: about as likely adequate (p {p_loaded:.2f} vs {p_best:.2f} on "
            f"{chosen.name}), ~{stay:.0f} s vs ~{swap:.0f} s with a swap"
        )
    return chosen, f"{reason}; saves more than {margin:.0%} of the time of staying on {loaded.name}"


def _output_tokens(domain: str, difficulty: str, brief: bool, base: int, cap: int | None) -> int:
    scale = LENGTH_BY_DIFFICULTY[difficulty] * LENGTH_BY_DOMAIN[domain]
    if brief:
        scale *= _BRIEF_SCALE
    tokens = max(16, round(base * scale))
    return min(tokens, cap) if cap is not None else tokens


def _model_reason(prediction: Prediction) -> str:
    needs = prediction.probabilities
    ranked = sorted(range(len(needs)), key=lambda i: -needs[i])
    likely = ", ".join(f"{NEEDS[i].name} {needs[i]:.2f}" for i in ranked[:2] if needs[i] >= 0.05)
    pushes = ", ".join(_evidence_label(name) for name, _ in prediction.evidence)
    return f"model: {likely}" + (f" (most from {pushes})" if pushes else "")


_KINDS: Final = {"w": "'{}'", "h": "opens with '{}'", "k": "code '{}'"}
_SIGNALS: Final = {
    "cue": "{} words",
    "head": "asks for {}",
    "evidence": "{} evidence",
    "domain": "looks like {}",
    "difficulty": "looks {}",
    "assessed": "looks like {}",
    "lang": "{} code",
    "script": "{} script",
}

_COUNTED: Final = {
    "lines": "code lines",
    "math": "math marks",
    "marks": "code marks",
    "items": "list items",
    "earlier": "earlier messages",
    "score": "signals' difficulty score",
    "code_blocks": "code blocks",
    "stack_trace": "a stack trace",
    "material": "quoted material",
}


def _evidence_label(name: str) -> str:
    """A feature name as words: 'prove', '...oof>', asks for proof, 0 code lines, ..."""
    kind, _, rest = name.partition("|")
    if kind == "g":
        return "'" + rest.replace("<", "").replace(">", "") + "...'"
    if kind in _KINDS:
        return _KINDS[kind].format(rest)
    group, _, value = rest.partition(":")
    if group in _SIGNALS:
        return _SIGNALS[group].format(value.replace(":", "/"))
    if value.isdigit():
        bucket = int(value)
        what = _COUNTED.get(group, group)
        return f"no {what}" if bucket == 0 else f"{2 ** (bucket - 1)}+ {what}"
    return _COUNTED.get(rest, rest.replace("_", " "))


def _why(assessment: Assessment) -> str:
    evidence = ", ".join(f"{label} {points:+.1f}" for label, points in assessment.evidence[:3] if abs(points) >= 0.5)
    evidence = evidence or "no strong signal"
    return f"signals: {assessment.domain}, {assessment.difficulty} (score {assessment.score:.1f}: {evidence})"


def explain_policy(
    tiers: TierCatalogue | None = None, settings: RouterSettings | None = None, *, model: TierModel | None = None
) -> dict[str, Any]:
    """Describe the policy: tiers with strengths and speeds, settings, the needs, the cost model, and the
    learned model with its cross-validated figures and their limits (reads the weights on first use)."""
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = settings or _DEFAULTS
    need_model = model if model is not None else default_model()
    return {
        "tiers": _tier_table(catalogue),
        "domains": list(DOMAINS),
        "difficulties": list(DIFFICULTIES),
        "needs": _acceptable_by_need(_facts(catalogue)),
        "settings": {
            "pinned_tier": knobs.pinned_tier,
            "stay_margin": knobs.stay_margin,
            "expected_output_tokens": knobs.expected_output_tokens,
        },
        "costs": {
            "under_provisioned": UNDER_COST,
            "wrong_specialty": SPECIALTY_COST,
            "over_provisioned": OVER_COST,
            "deeper_than_needed": DEEPER_ADEQUATE_COST,
            "quality_slack": QUALITY_SLACK,
            "stay_tolerance": STAY_TOLERANCE,
            "stay_tolerance_shallower": SHALLOWER_STAY_TOLERANCE,
        },
        "output_tokens": _output_token_table(knobs.expected_output_tokens),
        "model": _model_summary(need_model),
        "rules": list(_RULES),
    }


def _tier_table(catalogue: TierCatalogue) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "strengths": list(tier.strengths),
            "tokens_per_second": tier.tokens_per_second,
            "load_seconds": tier.load_seconds,
            "context": tier.context,
            "description": tier.description,
        }
        for name, tier in catalogue.tiers.items()
    ]


def _acceptable_by_need(facts: _Catalogue) -> dict[str, list[str]]:
    return {
        need.name: [t.name for t, v in zip(facts.tiers, facts.verdicts[i], strict=True) if v == "adequate"]
        for i, need in enumerate(NEEDS)
    }


def _output_token_table(base: int) -> dict[str, dict[str, int]]:
    """Expected answer length per difficulty and domain (before a request's `max_tokens` cap)."""
    return {
        difficulty: {domain: round(base * scale * LENGTH_BY_DOMAIN[domain]) for domain in DOMAINS}
        for difficulty, scale in LENGTH_BY_DIFFICULTY.items()
    }


_MODEL_LIMITS: Final = (
    "Cross-validated figures are on tasks written and labelled for this project; a new user's phrasing and "
    "judgement differ. benchmarks/router_eval.py also reports sets never trained or tuned on: one written by the "
    "same hand (optimistic) and four written apart by people who never saw any labelled task, which score lower "
    "and vary by hand: people disagree on how deep a task must go (the README gives them all).",
    f"Swap-aware routing keeps a loaded tier whose expected cost is within {STAY_TOLERANCE:g} of the best "
    f"choice's ({SHALLOWER_STAY_TOLERANCE:g} when the loaded tier is shallower): it trades a few points of "
    "adequacy, mostly over-provisioning, for fewer swaps; the benchmark prints the fewest swaps an oracle "
    "that knew every label would need beside the router's.",
    "The model predicts needs, not tier names: a catalogue with other strengths is routed through the same "
    "needs but was not evaluated.",
    "Only the last message's text and the conversation's size are read; most training tasks are English, so "
    "other languages lean on word pieces and signals.",
)


def _model_summary(model: TierModel) -> dict[str, Any]:
    info = model.info
    return {
        "kind": "multinomial logistic regression (numpy, L2, L-BFGS) over words, the first words, "
        "four-letter pieces of words, words of pasted code and hand-made signals",
        "trained_on": info.get("trained_on"),
        "tasks": info.get("tasks"),
        "features": model.vocabulary_size,
        "cross_validated": info.get("cross_validated"),
        "limits": list(_MODEL_LIMITS),
    }


_RULES: Final = (
    "A learned model (logistic regression over words, character n-grams, pasted code and hand-made signals) "
    "gives the probability of each need: trivial, easy, medium, medium code, medium reasoning, hard code, "
    "hard reasoning, hard code or reasoning, expert.",
    "Each need names its acceptable tiers by strengths and depth; so each tier gets a probability of being "
    "adequate, under-provisioned, over-provisioned or the wrong specialty.",
    f"Expected cost of a tier: under-provisioned {UNDER_COST:g}, wrong specialty {SPECIALTY_COST:g}, "
    f"over-provisioned {OVER_COST:g}, acceptable but deeper than needed {DEEPER_ADEQUATE_COST:g}, each weighted "
    f"by its probability; when unsure, the policy goes up, not down. Among the tiers within {QUALITY_SLACK:g} of "
    "the least cost, the fastest (load plus generation) is chosen.",
    f"Stay on the loaded tier only when its expected quality cost is within {STAY_TOLERANCE:g} of the best "
    f"choice's ({SHALLOWER_STAY_TOLERANCE:g} when it is shallower: its cost is then under-provisioning, already "
    f"weighed {UNDER_COST:g}x); then stay unless the swap, included, saves stay_margin of the time.",
    "confidence is the chosen tier's probability of being adequate, calibrated on held-out folds.",
    "A pinned tier overrides the policy; tiers that cannot hold the conversation are not chosen.",
    "Agent loops (the engine's `auto`, which remembers tasks; route() itself is stateless): the task is the "
    "newest text a person wrote, never tool results or host reminders; a turn that continues it stays on the "
    "task's tier, moving up at most once, when the conversation outgrows that tier's context; a new message "
    "of the person is a new decision.",
)
