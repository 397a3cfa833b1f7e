"""Judge the router on a labelled set: adequacy, provisioning, expected latency, swaps and decision time.

A labelled set is JSON lines with `prompt`, `acceptable` (tiers that do the job) and `preferred` (the
cheapest of them); `id` and `domain` are optional. A chosen tier is adequate when it is acceptable,
under-provisioned when it is shallower than every acceptable tier, over-provisioned when it is deeper
than every one, and otherwise the wrong specialty. Depth is the hardest difficulty a tier lists in its
strengths (fast < balanced < deep-coder = deep-logic < ultra).

Latency follows the router's cost model: a task's answer length over the tier's decode speed, plus the
tier's load time whenever a stream has to swap. Answer lengths are either the router's per-task
estimate (the same whichever tier runs the task) or the configured `expected_output_tokens` for every
task. The stream replay feeds the set in file order, from a cold start, to each strategy.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from variet.router.assessment import DIFFICULTIES
from variet.router.policy import RouteDecision, default_tiers, route
from variet.shared.config import RouterSettings, TierCatalogue

__all__ = [
    "STRATEGIES",
    "TARGETS",
    "Evaluation",
    "Example",
    "Provisioning",
    "Replay",
    "Target",
    "evaluate",
    "judge",
    "load_examples",
    "summary",
]

Verdict = Literal["adequate", "under", "over", "specialty"]

TARGETS: Final = {
    "adequacy": 0.90,
    "under_provisioning": 0.05,
    "swap_ratio": 1 / 3,
    "latency_ratio": 0.5,
    "decision_p99_ms": 1.0,
}
"""The issue's targets: adequacy at least; under-provisioning at most; swap-aware swaps at most this
share of the stateless policy's; mean latency at most this share of always-ultra; decision p99 at most."""

STRATEGIES: Final = ("swap-aware", "stateless", "preferred", "always balanced", "always ultra")
"""Replayed strategies: the router with and without the loaded tier, the labels' preferred tier, and two
fixed tiers."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled task."""

    id: str
    prompt: str
    acceptable: tuple[str, ...]
    preferred: str
    domain: str = ""


def load_examples(path: str | os.PathLike[str]) -> list[Example]:
    """Read a labelled set; errors name the file and the line."""
    examples: list[Example] = []
    file = Path(path)
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                acceptable = tuple(str(tier) for tier in row["acceptable"])
                examples.append(
                    Example(
                        id=str(row.get("id", f"line-{number}")),
                        prompt=str(row["prompt"]),
                        acceptable=acceptable,
                        preferred=str(row.get("preferred", acceptable[0])),
                        domain=str(row.get("domain", "")),
                    )
                )
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ValueError(f"{file}:{number}: not a labelled task ({exc!r})") from exc
    return examples


def _depths(catalogue: TierCatalogue) -> dict[str, int]:
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
    """One strategy fed the whole set as a stream."""

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
    count: int
    stay_margin: float
    fixed_tokens: int
    splits: dict[str, Provisioning]
    """Stateless decisions judged over the whole set and its even and odd ids."""
    replays: dict[str, Replay]
    decision_cpu_ms: tuple[float, float]
    """p50 and p99 of one `route` call in CPU time of the calling thread."""
    decision_wall_ms: tuple[float, float]
    """The same in wall-clock time, which also counts preemption by other processes."""
    decision_calls: int
    targets: tuple[Target, ...]


def evaluate(
    examples: Sequence[Example],
    *,
    tiers: TierCatalogue | None = None,
    settings: RouterSettings | None = None,
    timing_rounds: int = 20,
    source: str = "",
) -> Evaluation:
    """Run the router over a labelled set, stateless and swap-aware, against fixed baselines."""
    catalogue = tiers if tiers is not None else default_tiers()
    knobs = settings or RouterSettings()
    depth = _depths(catalogue)
    for example in examples:
        unknown = {*example.acceptable, example.preferred} - set(catalogue.tiers)
        if unknown:
            raise ValueError(f"{example.id}: tiers {sorted(unknown)} are not in the catalogue")

    stateless: list[RouteDecision] = [route(e.prompt, hints=knobs, tiers=catalogue) for e in examples]

    def swap_aware(index: int, loaded: str | None) -> str:
        return route(examples[index].prompt, loaded_tier=loaded, hints=knobs, tiers=catalogue).tier

    strategies: dict[str, Callable[[int, str | None], str]] = {
        "swap-aware": swap_aware,
        "stateless": lambda index, _loaded: stateless[index].tier,
        "preferred": lambda index, _loaded: examples[index].preferred,
    }
    for fixed in ("balanced", "ultra"):
        if fixed in catalogue.tiers:
            strategies[f"always {fixed}"] = _always(fixed)
    tokens = [d.output_tokens for d in stateless]
    replays = {
        name: _replay(name, examples, choose, tokens, knobs.expected_output_tokens, catalogue, depth)
        for name, choose in strategies.items()
    }

    verdicts = [judge(d.tier, e.acceptable, depth) for d, e in zip(stateless, examples, strict=True)]
    splits = {"all": Provisioning.of(verdicts)}
    for part in ("even", "odd"):
        splits[part] = Provisioning.of(
            [v for i, (v, e) in enumerate(zip(verdicts, examples, strict=True)) if _split(e, i) == part]
        )

    cpu, wall, calls = _decision_times(examples, catalogue, knobs, timing_rounds)
    return Evaluation(
        source=source,
        count=len(examples),
        stay_margin=knobs.stay_margin,
        fixed_tokens=knobs.expected_output_tokens,
        splits=splits,
        replays=replays,
        decision_cpu_ms=cpu,
        decision_wall_ms=wall,
        decision_calls=calls,
        targets=_targets(splits["all"], replays, cpu[1]),
    )


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


def _split(example: Example, index: int) -> str:
    digits = "".join(ch for ch in example.id if ch.isdigit())
    number = int(digits) if digits else index
    return "even" if number % 2 == 0 else "odd"


def _decision_times(
    examples: Sequence[Example], catalogue: TierCatalogue, knobs: RouterSettings, rounds: int
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
            route(example.prompt, loaded_tier=loaded, hints=knobs, tiers=catalogue)
            cpu.append(cpu_clock() - cpu_start)
            wall.append(wall_clock() - wall_start)
    return _percentiles(cpu), _percentiles(wall), len(cpu)


def _percentiles(samples: list[int]) -> tuple[float, float]:
    if not samples:
        return 0.0, 0.0
    samples.sort()
    return samples[len(samples) // 2] / 1e6, samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e6


def _targets(everything: Provisioning, replays: dict[str, Replay], p99: float) -> tuple[Target, ...]:
    aware, stateless = replays["swap-aware"], replays["stateless"]
    targets = [
        Target("adequacy", everything.share("adequate"), TARGETS["adequacy"], at_least=True),
        Target("under-provisioning", everything.share("under"), TARGETS["under_provisioning"]),
        Target(
            "swaps swap-aware/stateless",
            aware.swaps / stateless.swaps if stateless.swaps else 0.0,
            TARGETS["swap_ratio"],
        ),
    ]
    ultra = replays.get("always ultra")
    if ultra is not None and ultra.fixed_seconds:
        # Judged at the configured answer length, so that the figure measures the choice of tiers and
        # not the answer-length model; `render` prints the per-task estimate beside it.
        ratio = stateless.fixed_seconds / ultra.fixed_seconds
        targets.append(Target("latency router/always-ultra, fixed length", ratio, TARGETS["latency_ratio"]))
    targets.append(Target("decision p99 ms (CPU)", p99, TARGETS["decision_p99_ms"]))
    return tuple(targets)


def summary(e: Evaluation) -> dict[str, Any]:
    """The headline figures as plain data."""
    return {
        "targets": {t.name: {"value": t.value, "limit": t.limit, "passed": t.passed} for t in e.targets},
        "adequacy": {name: split.share("adequate") for name, split in e.splits.items()},
    }
