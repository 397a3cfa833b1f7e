"""Judge the router on labelled sets: adequacy, provisioning, swaps, latency, calibration and decision time.

Labelled sets are read by `variet.devtools.router_data`. A chosen tier is adequate when it is acceptable,
under-provisioned when it is shallower than every acceptable tier, over-provisioned when it is deeper
than every one, and otherwise the wrong specialty. Depth is the hardest difficulty a tier lists in its
strengths (fast < balanced < deep-coder = deep-logic < ultra).

A set is judged in columns: with the packaged model (on a set it was trained on, that is the tuned-on
figure), with k-fold cross-validation (each task decided by a model trained without its fold), or, for a
set never trained or tuned on, with the packaged model as it ships. Each column replays the set in file
order twice: stateless (one prompt at a time) and swap-aware (each decision told the tier the previous
one left loaded), beside fixed baselines. Latency follows the router's cost model: a task's answer
length over the tier's decode speed, plus the tier's load time whenever a stream swaps.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from variet.devtools.router_data import Example, find_dev_set, load_examples
from variet.router.assessment import DIFFICULTIES
from variet.router.model import TierModel, default_model
from variet.router.policy import RouteDecision, default_tiers, route
from variet.shared.config import RouterSettings
from variet.shared.tiers import TierCatalogue

__all__ = [
    "CALIBRATION_BINS",
    "STRATEGIES",
    "TARGETS",
    "Column",
    "Evaluation",
    "Example",
    "LabelledSet",
    "Provisioning",
    "Replay",
    "Target",
    "calibration_table",
    "evaluate",
    "evaluate_sets",
    "fewest_swaps",
    "find_dev_set",
    "judge",
    "judge_column",
    "load_examples",
    "summary",
    "tier_depths",
]

Verdict = Literal["adequate", "under", "over", "specialty"]

TARGETS: Final = {
    "adequacy": 0.90,
    "under_provisioning": 0.05,
    "over_provisioning": 0.08,
    "swap_aware_adequacy": 0.85,
    "swaps_over_fewest": 1.2,
    "decision_p99_ms": 1.0,
}
"""The issue's targets: stateless adequacy at least; under- and over-provisioning at most; swap-aware
adequacy at least; swap-aware swaps at most this multiple of the fewest an oracle needs at full adequacy on
the same order (`fewest_swaps`); decision p99 at most."""

STRATEGIES: Final = ("swap-aware", "stateless", "preferred", "always fast", "always balanced", "always ultra")
"""Replayed strategies: the router with and without the loaded tier, the labels' preferred tier, and fixed
tiers."""

CALIBRATION_BINS: Final = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)
"""Edges of the stated-confidence bins of the calibration table."""


def tier_depths(catalogue: TierCatalogue) -> dict[str, int]:
    """Each tier's depth: the index of the hardest difficulty it lists (-1 if none)."""
    return {
        name: max((DIFFICULTIES.index(s) for s in tier.strengths if s in DIFFICULTIES), default=-1)
        for name, tier in catalogue.tiers.items()
    }


def judge(tier: str, acceptable: Sequence[str], depth: dict[str, int]) -> Verdict:
    """How a chosen tier compares with the acceptable ones."""
    if tier in acceptable:
        return "adequate"
    if depth[tier] < min(depth[t] for t in acceptable):
        return "under"
    if depth[tier] > max(depth[t] for t in acceptable):
        return "over"
    return "specialty"


def fewest_swaps(examples: Sequence[Example], tiers: Sequence[str]) -> int:
    """The fewest swaps any policy that is always adequate could make on the set in this order (it would
    have to know every task's label in advance): a lower bound for the swap-aware router at full adequacy."""
    unreachable = len(examples) + 1
    swaps = {tier: 0 if not examples or tier in examples[0].acceptable else unreachable for tier in tiers}
    for example in examples[1:]:
        best = min(swaps.values())
        swaps = {
            tier: min(swaps[tier], best + 1) if tier in example.acceptable else unreachable for tier in tiers
        }
    return min(swaps.values()) if examples else 0


@dataclass(frozen=True, slots=True)
class Provisioning:
    """Counts of verdicts over a set of decisions."""

    total: int = 0
    adequate: int = 0
    under: int = 0
    over: int = 0
    specialty: int = 0

    def share(self, verdict: Verdict) -> float:
        """The share of decisions with this verdict (0 for an empty set)."""
        count: int = getattr(self, verdict)
        return count / self.total if self.total else 0.0

    @classmethod
    def of(cls, verdicts: Sequence[Verdict]) -> Provisioning:
        """Count a list of verdicts."""
        return cls(
            total=len(verdicts),
            adequate=verdicts.count("adequate"),
            under=verdicts.count("under"),
            over=verdicts.count("over"),
            specialty=verdicts.count("specialty"),
        )


@dataclass(frozen=True, slots=True)
class Replay:
    """One strategy fed a whole set as a stream."""

    name: str
    tiers: tuple[str, ...]
    swaps: int
    """Changes of loaded tier after the first load."""
    stream_seconds: float
    """Mean expected seconds per request: generation plus the loads the stream needed."""
    ready_seconds: float
    """Mean expected generation seconds per request, as if each request found its tier loaded."""
    fixed_seconds: float
    """`ready_seconds` with every answer the configured `expected_output_tokens` long."""
    provisioning: Provisioning

    @property
    def swaps_per_100(self) -> float:
        return 100.0 * self.swaps / len(self.tiers) if self.tiers else 0.0


@dataclass(frozen=True, slots=True)
class Column:
    """One labelled set judged one way."""

    label: str
    """The set's name (`dev set`, `tuning`, `held-out`, or a file name)."""
    method: str
    """How it was judged: `full set, tuned on`, `k-fold CV`, or `never tuned on`."""
    count: int
    replays: dict[str, Replay]
    calibration: tuple[tuple[float, bool], ...]
    """(stated confidence, adequate) of each stateless decision."""
    fewest_swaps: int
    """`fewest_swaps` of the set in its order."""

    @property
    def honest(self) -> bool:
        """Judged on tasks the deciding model was not trained on."""
        return self.method != "full set, tuned on"

    @property
    def swap_ratio(self) -> float:
        """Swap-aware swaps over stateless ones."""
        stateless = self.replays["stateless"].swaps
        return self.replays["swap-aware"].swaps / stateless if stateless else 0.0

    @property
    def swaps_over_fewest(self) -> float:
        """Swap-aware swaps over the fewest an always-adequate oracle needs on the same order."""
        swaps = self.replays["swap-aware"].swaps
        return swaps / self.fewest_swaps if self.fewest_swaps else (math.inf if swaps else 0.0)


@dataclass(frozen=True, slots=True)
class Target:
    """A figure beside the issue's target."""

    name: str
    value: float
    limit: float
    at_least: bool = False

    @property
    def passed(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything `render` prints."""

    source: str
    stay_margin: float
    fixed_tokens: int
    columns: tuple[Column, ...]
    decision_cpu_ms: tuple[float, float]
    """p50 and p99 of one `route` call in CPU time of the calling thread."""
    decision_wall_ms: tuple[float, float]
    """The same in wall-clock time, which also counts preemption by other processes."""
    decision_calls: int
    model_info: dict[str, Any] = field(default_factory=dict)
    folds: int = 0

    @property
    def targets(self) -> tuple[tuple[Column, tuple[Target, ...]], ...]:
        """The issue's targets on every column judged on unseen tasks (and the decision time)."""
        return tuple((column, _column_targets(column)) for column in self.columns if column.honest)

    @property
    def decision_target(self) -> Target:
        return Target("decision p99 ms (CPU)", self.decision_cpu_ms[1], TARGETS["decision_p99_ms"])

    @property
    def passed(self) -> bool:
        return self.decision_target.passed and all(t.passed for _, targets in self.targets for t in targets)


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """A labelled set to judge and whether the packaged model was trained on it."""

    label: str
    examples: tuple[Example, ...]
    trained_on: bool


def judge_column(
    label: str,
    method: str,
    examples: Sequence[Example],
    model_for: Callable[[int], TierModel],
    *,
    tiers: TierCatalogue | None = None,
    settings: RouterSettings | None = None,
) -> Column:
    """Replay a set in order with the model `model_for(i)` deciding task i, stateless and swap-aware."""
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = settings or RouterSettings()
    depth = tier_depths(catalogue)
    for example in examples:
        unknown = {*example.acceptable, example.preferred} - set(catalogue.tiers)
        if unknown:
            raise ValueError(f"{example.id}: tiers {sorted(unknown)} are not in the catalogue")

    stateless: list[RouteDecision] = [
        route(e.prompt, hints=knobs, tiers=catalogue, model=model_for(i)) for i, e in enumerate(examples)
    ]

    def swap_aware(index: int, loaded: str | None) -> str:
        prompt = examples[index].prompt
        return route(prompt, loaded_tier=loaded, hints=knobs, tiers=catalogue, model=model_for(index)).tier

    strategies: dict[str, Callable[[int, str | None], str]] = {
        "swap-aware": swap_aware,
        "stateless": lambda index, _loaded: stateless[index].tier,
        "preferred": lambda index, _loaded: examples[index].preferred,
    }
    for fixed in ("fast", "balanced", "ultra"):
        if fixed in catalogue.tiers:
            strategies[f"always {fixed}"] = _always(fixed)
    tokens = [d.output_tokens for d in stateless]
    replays = {
        name: _replay(name, examples, choose, tokens, knobs.expected_output_tokens, catalogue, depth)
        for name, choose in strategies.items()
    }
    calibration = tuple(
        (d.confidence, d.tier in e.acceptable) for d, e in zip(stateless, examples, strict=True)
    )
    return Column(label, method, len(examples), replays, calibration, fewest_swaps(examples, list(catalogue.tiers)))


def _always(tier: str) -> Callable[[int, str | None], str]:
    return lambda _index, _loaded: tier


def _replay(
    name: str,
    examples: Sequence[Example],
    choose: Callable[[int, str | None], str],
    tokens: Sequence[int],
    fixed_tokens: int,
    catalogue: TierCatalogue,
    depth: dict[str, int],
) -> Replay:
    loaded: str | None = None
    chosen: list[str] = []
    swaps = 0
    stream = ready = fixed = 0.0
    for index in range(len(examples)):
        tier = choose(index, loaded)
        facts = catalogue.tiers[tier]
        generation = tokens[index] / facts.tokens_per_second
        ready += generation
        fixed += fixed_tokens / facts.tokens_per_second
        stream += generation
        if tier != loaded:
            stream += facts.load_seconds
            swaps += loaded is not None
            loaded = tier
        chosen.append(tier)
    count = len(examples) or 1
    verdicts = [judge(t, e.acceptable, depth) for t, e in zip(chosen, examples, strict=True)]
    return Replay(
        name=name,
        tiers=tuple(chosen),
        swaps=swaps,
        stream_seconds=stream / count,
        ready_seconds=ready / count,
        fixed_seconds=fixed / count,
        provisioning=Provisioning.of(verdicts),
    )


def evaluate(
    examples: Sequence[Example],
    *,
    tiers: TierCatalogue | None = None,
    settings: RouterSettings | None = None,
    timing_rounds: int = 20,
    source: str = "",
    model: TierModel | None = None,
    trained_on: bool = False,
) -> Evaluation:
    """Judge one set with one model (the packaged one by default), without cross-validation."""
    chosen = model if model is not None else default_model()
    method = "full set, tuned on" if trained_on else "never tuned on"
    column = judge_column(source or "labelled set", method, examples, lambda _i: chosen, tiers=tiers, settings=settings)
    return _finish(source, [column], examples, tiers, settings, timing_rounds, chosen, folds=0)


def evaluate_sets(
    sets: Sequence[LabelledSet],
    *,
    cross_validate: Callable[[Sequence[Example]], tuple[list[TierModel], list[int]]] | None = None,
    corpus: Sequence[Example] = (),
    folds: int = 0,
    tiers: TierCatalogue | None = None,
    settings: RouterSettings | None = None,
    timing_rounds: int = 20,
    source: str = "",
    model: TierModel | None = None,
) -> Evaluation:
    """Judge several sets: each with the packaged model, and the ones it was trained on also by k-fold
    cross-validation over the training `corpus` (`cross_validate(corpus)` gives one model per fold and each
    corpus task's fold; a judged task is decided by the model of its fold)."""
    packaged = model if model is not None else default_model()
    fold_model: dict[str, TierModel] = {}
    if cross_validate is not None and any(s.trained_on for s in sets):
        models, fold_of = cross_validate(corpus)
        # The fold models decide with the packaged confidence calibration (fitted on these same folds).
        calibration = packaged.calibration
        fold_model = {
            e.prompt: models[f].with_calibration(calibration) for e, f in zip(corpus, fold_of, strict=True)
        }
    columns: list[Column] = []
    for labelled in sets:
        examples = labelled.examples
        method = "full set, tuned on" if labelled.trained_on else "never tuned on"
        columns.append(
            judge_column(labelled.label, method, examples, lambda _i: packaged, tiers=tiers, settings=settings)
        )
        if labelled.trained_on and fold_model:
            missing = [e.id for e in examples if e.prompt not in fold_model]
            if missing:
                raise ValueError(f"{labelled.label}: tasks {missing[:3]} ... are not in the training corpus")
            columns.append(
                judge_column(
                    labelled.label,
                    f"{folds}-fold CV",
                    examples,
                    lambda i, examples=examples: fold_model[examples[i].prompt],  # type: ignore[misc]
                    tiers=tiers,
                    settings=settings,
                )
            )
    everything = [e for s in sets for e in s.examples]
    return _finish(source, columns, everything, tiers, settings, timing_rounds, packaged, folds=folds)


def _finish(
    source: str,
    columns: Sequence[Column],
    examples: Sequence[Example],
    tiers: TierCatalogue | None,
    settings: RouterSettings | None,
    rounds: int,
    model: TierModel,
    *,
    folds: int,
) -> Evaluation:
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = settings or RouterSettings()
    cpu, wall, calls = _decision_times(examples, catalogue, knobs, rounds, model)
    return Evaluation(
        source=source,
        stay_margin=knobs.stay_margin,
        fixed_tokens=knobs.expected_output_tokens,
        columns=tuple(columns),
        decision_cpu_ms=cpu,
        decision_wall_ms=wall,
        decision_calls=calls,
        model_info=dict(model.info),
        folds=folds,
    )


def _decision_times(
    examples: Sequence[Example], catalogue: TierCatalogue, knobs: RouterSettings, rounds: int, model: TierModel
) -> tuple[tuple[float, float], tuple[float, float], int]:
    """p50/p99 in ms of CPU time and of wall-clock time, and the number of calls timed."""
    loaded_cycle: list[str | None] = [None, *catalogue.tiers]
    cpu: list[int] = []
    wall: list[int] = []
    cpu_clock, wall_clock = time.thread_time_ns, time.perf_counter_ns
    for round_ in range(rounds):
        for index, example in enumerate(examples):
            loaded = loaded_cycle[(index + round_) % len(loaded_cycle)]
            wall_start, cpu_start = wall_clock(), cpu_clock()
            route(example.prompt, loaded_tier=loaded, hints=knobs, tiers=catalogue, model=model)
            cpu.append(cpu_clock() - cpu_start)
            wall.append(wall_clock() - wall_start)
    return _percentiles(cpu), _percentiles(wall), len(cpu)


def _percentiles(samples: list[int]) -> tuple[float, float]:
    if not samples:
        return 0.0, 0.0
    samples.sort()
    return samples[len(samples) // 2] / 1e6, samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e6


def _column_targets(column: Column) -> tuple[Target, ...]:
    stateless = column.replays["stateless"].provisioning
    aware = column.replays["swap-aware"].provisioning
    return (
        Target("adequacy", stateless.share("adequate"), TARGETS["adequacy"], at_least=True),
        Target("under-provisioning", stateless.share("under"), TARGETS["under_provisioning"]),
        Target("over-provisioning", stateless.share("over"), TARGETS["over_provisioning"]),
        Target("swap-aware adequacy", aware.share("adequate"), TARGETS["swap_aware_adequacy"], at_least=True),
        Target("swap-aware swaps / oracle's fewest", column.swaps_over_fewest, TARGETS["swaps_over_fewest"]),
    )


def calibration_table(points: Sequence[tuple[float, bool]]) -> list[tuple[float, float, int, float, float]]:
    """Per stated-confidence bin: (low edge, high edge, decisions, mean stated confidence, share adequate)."""
    rows = []
    for low, high in itertools.pairwise(CALIBRATION_BINS):
        inside = [(c, ok) for c, ok in points if low <= c < high]
        if inside:
            stated = sum(c for c, _ in inside) / len(inside)
            observed = sum(ok for _, ok in inside) / len(inside)
            rows.append((low, min(high, 1.0), len(inside), stated, observed))
    return rows


def summary(e: Evaluation) -> dict[str, Any]:
    """The headline figures as plain data."""
    return {
        "columns": {
            f"{column.label} ({column.method})": {
                "stateless": column.replays["stateless"].provisioning.share("adequate"),
                "swap-aware": column.replays["swap-aware"].provisioning.share("adequate"),
                "swap ratio": column.swap_ratio,
                "swaps over fewest": column.swaps_over_fewest,
            }
            for column in e.columns
        },
        "targets": {
            f"{column.label} ({column.method})": {t.name: {"value": t.value, "passed": t.passed} for t in targets}
            for column, targets in e.targets
        },
        "decision_p99_ms": e.decision_cpu_ms[1],
    }
