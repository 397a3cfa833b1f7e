"""Train the router's need model from labelled tasks: features, vocabulary, logistic regression, calibration.

Deterministic from its inputs: the same labelled files give byte-identical weights. The model is a
multinomial logistic regression with an L2 penalty, fitted by L-BFGS in plain numpy over sparse rows.
Confidence is calibrated by isotonic regression of the policy's out-of-fold probability that its chosen
tier is adequate against whether it was (k-fold over the training tasks, so every point is held out).

Usage (from the repository root; the shared development set is read when it is found):
    .venv/bin/python -m variet.devtools.router_training
    .venv/bin/python -m variet.devtools.router_training --data benchmarks/data/router-tuning.jsonl --out m.npz
The held-out files (`benchmarks/data/router-holdout*.jsonl`) are never read here: the script refuses them.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from variet.devtools.router_data import (
    DEFAULT_TRAINING_FILES,
    HOLDOUT_FILES,
    MODEL_FILE,
    Example,
    find_dev_set,
    load_examples,
    repo_root,
)
from variet.devtools.router_eval import judge, tier_depths
from variet.router.assessment import assess
from variet.router.features import features
from variet.router.model import NEEDS, TierModel
from variet.router.policy import default_tiers, route
from variet.router.signals import read_signals
from variet.shared.tiers import TierCatalogue

__all__ = [
    "DEFAULT_TRAINING_FILES",
    "HOLDOUT_FILES",
    "MODEL_FILE",
    "Hyperparameters",
    "featurize",
    "folds",
    "isotonic",
    "need_index",
    "out_of_fold",
    "repo_root",
    "train",
    "train_calibrated",
]

Matrix = npt.NDArray[np.float64]
_MOST_SURE: Final = 0.99


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """Chosen by cross-validation on the training tasks, 5-fold and leaving out each author who wrote apart:
    with 2526 tasks, an l2 of 3e-4 beat 1e-3 by about a point of adequacy on the left-out authors and made as
    few swaps; 1e-4 made more swaps for no more adequacy."""

    l2: float = 3e-4
    """Penalty on the squared weights, per task."""
    min_count: int = 2
    """A text feature must occur in this many training tasks to get a weight."""
    iterations: int = 300
    folds: int = 5
    seed: int = 13


def need_index(acceptable: Sequence[str], catalogue: TierCatalogue | None = None) -> int:
    """The need whose acceptable tiers (in the catalogue) are the label's; else the closest set."""
    facts = _tier_facts(catalogue or default_tiers())
    wanted = set(acceptable)
    best, best_score = 0, -1.0
    for i, need in enumerate(NEEDS):
        accepted = {name for name, strengths, depth in facts if need.accepts(strengths, depth)}
        if accepted == wanted:
            return i
        score = len(accepted & wanted) / len(accepted | wanted) if accepted | wanted else 0.0
        if score > best_score:
            best, best_score = i, score
    return best


def _tier_facts(catalogue: TierCatalogue) -> list[tuple[str, frozenset[str], int]]:
    difficulties = ("easy", "medium", "hard", "expert")
    return [
        (
            name,
            frozenset(tier.strengths),
            max((difficulties.index(s) for s in tier.strengths if s in difficulties), default=-1),
        )
        for name, tier in catalogue.tiers.items()
    ]


def featurize(prompt: str) -> list[tuple[str, float]]:
    """The named features of one task, exactly as `route()` computes them."""
    signals = read_signals(prompt)
    return features(signals, assess(signals))


@dataclass(frozen=True, slots=True)
class _Rows:
    """Sparse rows: the columns and values of row r are indices[indptr[r]:indptr[r + 1]]."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: Matrix
    owner: npt.NDArray[np.int64]
    """The row of each stored value."""


def _rows(named: Sequence[Sequence[tuple[str, float]]], index: dict[str, int]) -> _Rows:
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for row in named:
        for name, value in row:
            column = index.get(name)
            if column is not None:
                indices.append(column)
                values.append(value)
        indptr.append(len(indices))
    pointers = np.asarray(indptr, dtype=np.int64)
    return _Rows(
        pointers,
        np.asarray(indices, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        np.repeat(np.arange(len(named), dtype=np.int64), np.diff(pointers)),
    )


def _vocabulary(named: Sequence[Sequence[tuple[str, float]]], min_count: int) -> list[str]:
    counts: dict[str, int] = {}
    for row in named:
        for name in {name for name, _ in row}:
            counts[name] = counts.get(name, 0) + 1
    # Hand-made signals always count; text features need support in several tasks.
    return sorted(name for name, count in counts.items() if count >= min_count or name.startswith("s|"))


def train(
    named: Sequence[Sequence[tuple[str, float]]],
    needs: Sequence[int],
    hyper: Hyperparameters = Hyperparameters(),
    *,
    info: dict[str, object] | None = None,
) -> TierModel:
    """Fit the model on featurized tasks and their need indices (identity calibration)."""
    vocabulary = _vocabulary(named, hyper.min_count)
    index = {name: i for i, name in enumerate(vocabulary)}
    rows = _rows(named, index)
    targets = np.zeros((len(named), len(NEEDS)))
    targets[np.arange(len(named)), np.asarray(needs)] = 1.0
    weights, bias = _fit(rows, targets, len(vocabulary), hyper)
    return TierModel(
        vocabulary,
        weights.astype(np.float32),
        bias.astype(np.float32),
        ((), ()),
        {
            "tasks": len(named),
            "l2": hyper.l2,
            "min_count": hyper.min_count,
            **(info or {}),
        },
    )


def _fit(rows: _Rows, targets: Matrix, width: int, hyper: Hyperparameters) -> tuple[Matrix, Matrix]:
    count, classes = targets.shape
    size = width * classes
    cells = (rows.indices[:, None] * classes + np.arange(classes)).ravel()

    def objective(theta: Matrix) -> tuple[float, Matrix]:
        weights = theta[:size].reshape(width, classes)
        bias = theta[size:]
        gathered = weights[rows.indices] * rows.values[:, None]
        logits = np.add.reduceat(gathered, rows.indptr[:-1], axis=0) + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
        log_p = logits - log_norm
        loss = -float((targets * log_p).sum()) / count + 0.5 * hyper.l2 * float((weights**2).sum())
        residual = (np.exp(log_p) - targets) / count
        spread = residual[rows.owner] * rows.values[:, None]
        # One pass over (feature, need) cells rather than one pass per need.
        summed = np.bincount(cells, spread.ravel(), minlength=size).astype(np.float64)
        grad_w: Matrix = summed.reshape(width, classes) + hyper.l2 * weights
        return loss, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])

    theta = _lbfgs(objective, np.zeros(size + classes), hyper.iterations)
    return theta[:size].reshape(width, classes), theta[size:]


def _lbfgs(objective: Callable[[Matrix], tuple[float, Matrix]], theta: Matrix, iterations: int) -> Matrix:
    """Limited-memory BFGS with a backtracking line search; deterministic."""
    memory: list[tuple[Matrix, Matrix, float]] = []
    loss, grad = objective(theta)
    for _ in range(iterations):
        direction = -grad
        alphas = []
        for s, y, rho in reversed(memory):
            alpha = rho * float(s @ direction)
            direction -= alpha * y
            alphas.append(alpha)
        if memory:
            s, y, _rho = memory[-1]
            direction *= float(s @ y) / float(y @ y)
        for (s, y, rho), alpha in zip(memory, reversed(alphas), strict=True):
            beta = rho * float(y @ direction)
            direction += (alpha - beta) * s
        slope = float(grad @ direction)
        if slope >= 0:
            direction, slope, memory = -grad, -float(grad @ grad), []
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_loss, new_grad = objective(candidate)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = candidate - theta, new_grad - grad
        sy = float(s @ y)
        if sy > 1e-12:
            memory.append((s, y, 1.0 / sy))
            if len(memory) > 10:
                memory.pop(0)
        converged = abs(loss - new_loss) < 1e-9 * max(1.0, abs(loss))
        theta, loss, grad = candidate, new_loss, new_grad
        if converged or float(np.abs(grad).max()) < 1e-6:
            break
    return theta


def folds(examples: Sequence[Example], k: int, seed: int) -> list[int]:
    """A fold number for each example: a seeded shuffle dealt round-robin, so folds differ by one at most.
    Identical prompts share a fold, so no prompt is ever both trained on and scored."""
    prompts = sorted({e.prompt for e in examples})
    random.Random(seed).shuffle(prompts)
    fold_of = {prompt: i % k for i, prompt in enumerate(prompts)}
    return [fold_of[e.prompt] for e in examples]


def out_of_fold(
    examples: Sequence[Example],
    hyper: Hyperparameters = Hyperparameters(),
    *,
    extra: Sequence[Example] = (),
    named: Sequence[Sequence[tuple[str, float]]] | None = None,
) -> tuple[list[TierModel], list[int]]:
    """One model per fold, trained on the other folds plus `extra`, and each example's fold."""
    rows = named if named is not None else [featurize(e.prompt) for e in examples]
    extra_rows = [featurize(e.prompt) for e in extra]
    needs = [need_index(e.acceptable) for e in examples]
    extra_needs = [need_index(e.acceptable) for e in extra]
    fold_of = folds(examples, hyper.folds, hyper.seed)
    held = {e.prompt for e in examples}
    kept_extra = [i for i, e in enumerate(extra) if e.prompt not in held]
    models = []
    for fold in range(hyper.folds):
        chosen = [i for i, f in enumerate(fold_of) if f != fold]
        models.append(
            train(
                [rows[i] for i in chosen] + [extra_rows[i] for i in kept_extra],
                [needs[i] for i in chosen] + [extra_needs[i] for i in kept_extra],
                hyper,
            )
        )
    return models, fold_of


def isotonic(xs: Sequence[float], outcomes: Sequence[bool], *, points: int = 12) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators fit of outcome rate against x, as at most `points` (x, rate) knots."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    blocks: list[list[float]] = []  # [sum of outcomes, count, sum of x]
    for i in order:
        blocks.append([float(outcomes[i]), 1.0, float(xs[i])])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            total, count, xsum = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
            blocks[-1][2] += xsum
    knots_x = [b[2] / b[1] for b in blocks]
    # Never claim more than a block's size supports: two pseudo-decisions at the block's own prediction pull
    # a small block towards what the model said (a lone miss at 0.3 reads 0.2, not 0), then stay monotone.
    knots_y: list[float] = []
    for total, count, xsum in blocks:
        shrunk = (total + 2.0 * xsum / count) / (count + 2.0)
        knots_y.append(max(shrunk, knots_y[-1]) if knots_y else shrunk)
    if len(knots_x) > points:
        keep = sorted({round(i * (len(knots_x) - 1) / (points - 1)) for i in range(points)})
        knots_x = [knots_x[i] for i in keep]
        knots_y = [knots_y[i] for i in keep]
    # A few hundred labelled tasks, labelled by people who disagree at the edges, support no more than 0.99.
    return [round(x, 4) for x in knots_x], [round(min(y, _MOST_SURE), 4) for y in knots_y]


def train_calibrated(
    examples: Sequence[Example], hyper: Hyperparameters = Hyperparameters(), *, info: dict[str, object] | None = None
) -> TierModel:
    """The model on all examples, with its confidence calibrated on out-of-fold decisions and the
    cross-validated figures of those decisions (stateless, and swap-aware in the examples' order) in its
    `info["cross_validated"]`."""
    named = [featurize(e.prompt) for e in examples]
    needs = [need_index(e.acceptable) for e in examples]
    models, fold_of = out_of_fold(examples, hyper, named=named)
    catalogue = default_tiers()
    depth = tier_depths(catalogue)
    predicted: list[float] = []
    verdicts: list[str] = []
    aware: list[str] = []
    tiers: list[str] = []
    loaded: str | None = None
    swaps = 0
    for example, fold in zip(examples, fold_of, strict=True):
        decision = route(example.prompt, tiers=catalogue, model=models[fold])
        predicted.append(decision.p_adequate)
        verdicts.append(judge(decision.tier, example.acceptable, depth))
        staying = route(example.prompt, loaded_tier=loaded, tiers=catalogue, model=models[fold]).tier
        aware.append(judge(staying, example.acceptable, depth))
        swaps += loaded is not None and staying != loaded
        loaded = staying
        tiers.append(decision.tier)
    count = max(len(examples), 1)
    figures = {
        "folds": hyper.folds,
        "tasks": len(examples),
        **{kind: round(verdicts.count(kind) / count, 4) for kind in ("adequate", "under", "over", "specialty")},
        "swap_aware_adequate": round(aware.count("adequate") / count, 4),
        "swaps_per_100": {
            "stateless": round(100 * sum(a != b for a, b in itertools.pairwise(tiers)) / count, 1),
            "swap_aware": round(100 * swaps / count, 1),
        },
    }
    adequate = [verdict == "adequate" for verdict in verdicts]
    model = train(named, needs, hyper, info={**(info or {}), "cross_validated": figures})
    return model.with_calibration(isotonic(predicted, adequate))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the router's need model from labelled JSONL tasks.")
    parser.add_argument("--data", type=Path, action="append", help="labelled JSONL (default: the tuning set)")
    parser.add_argument("--dev-set", type=Path, default=None, help="the shared development set (default: found)")
    parser.add_argument("--no-dev-set", action="store_true", help="train without the shared development set")
    parser.add_argument("--out", type=Path, default=MODEL_FILE, help="weights file to write")
    args = parser.parse_args(argv)
    files = list(args.data or DEFAULT_TRAINING_FILES)
    if not args.no_dev_set:
        dev = args.dev_set or find_dev_set()
        if dev is None:
            parser.error("the shared development set was not found: pass --dev-set PATH or --no-dev-set")
        files.insert(0, dev)
    for path in files:
        if path.resolve() in HOLDOUT_FILES:
            parser.error(f"{path} is a held-out part: it is never trained on")
    examples = [example for path in files for example in load_examples(path)]
    model = train_calibrated(examples, info={"trained_on": [path.name for path in files]})
    model.save(args.out)
    size = args.out.stat().st_size
    print(f"{args.out}: {len(examples)} tasks, {model.vocabulary_size} features, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
