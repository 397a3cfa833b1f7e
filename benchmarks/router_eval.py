"""Evaluate the tier router on labelled sets and print the figures beside the issue's targets.

Usage (from the repository root):
    .venv/bin/python benchmarks/router_eval.py                       # dev set, tuning files, held-out files
    .venv/bin/python benchmarks/router_eval.py ../shared/router/dev-set.jsonl
    .venv/bin/python benchmarks/router_eval.py benchmarks/data/router-tuning.jsonl benchmarks/data/router-holdout.jsonl
Options: --folds K (default 5), --no-cv, --stay-margin M, --rounds N (timing passes), --check (exit 1 when
a target is missed).

A set the packaged model was trained on (the shared development set, `benchmarks/data/router-tuning.jsonl`)
is judged twice: with the packaged model (tuned-on figures) and by k-fold cross-validation (each task
decided by a model trained, with the same settings, on the training corpus without the task's fold). Any
other set, such as `benchmarks/data/router-holdout.jsonl`, was never trained or tuned on and is judged with
the packaged model as it ships. The shared development set is found next to the repository, or next to
one of its parent folders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from variet.devtools.router_eval import Example, LabelledSet, evaluate_sets, find_dev_set, load_examples
from variet.devtools.router_report import render
from variet.devtools.router_training import DEFAULT_TRAINING_FILES, HOLDOUT_FILES, Hyperparameters, out_of_fold
from variet.shared.config import RouterSettings

_LABELS = {"dev-set.jsonl": "dev set", "router-tuning.jsonl": "tuning", "router-tuning-apart.jsonl": "tuning apart",
           "router-holdout.jsonl": "held-out"}


def _label(path: Path) -> str:
    """A set's column name: the known files by role, `router-holdout-N.jsonl` as "held-out N", others by name."""
    if path.name in _LABELS:
        return _LABELS[path.name]
    number = path.name.removeprefix("router-holdout-").removesuffix(".jsonl")
    return f"held-out {number}" if number.isdigit() else path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the tier router on labelled JSONL sets.")
    parser.add_argument("datasets", nargs="*", type=Path, help="labelled JSONL sets (default: dev, tuning, held-out)")
    parser.add_argument("--folds", type=int, default=Hyperparameters().folds, help="cross-validation folds (5)")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation (no training)")
    parser.add_argument("--stay-margin", type=float, default=None, help="override [router] stay_margin (0.25)")
    parser.add_argument("--rounds", type=int, default=20, help="timing passes over the sets (default 20)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    dev = find_dev_set()
    corpus_files = [*([dev] if dev else []), *DEFAULT_TRAINING_FILES]
    datasets = args.datasets or [*corpus_files, *HOLDOUT_FILES]
    for path in datasets:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    if dev is None:
        print("note: the shared development set was not found; the packaged model was trained with it", file=sys.stderr)

    corpus: list[Example] = [e for path in corpus_files for e in load_examples(path)]
    trained = {path.resolve() for path in corpus_files}
    seen = {e.prompt for e in corpus}
    sets = []
    for path in datasets:
        examples = tuple(load_examples(path))
        trained_on = path.resolve() in trained
        if not trained_on and any(e.prompt in seen for e in examples):
            print(f"note: {path} shares prompts with the training corpus", file=sys.stderr)
        sets.append(LabelledSet(_label(path), examples, trained_on))

    settings = RouterSettings() if args.stay_margin is None else RouterSettings(stay_margin=args.stay_margin)
    hyper = Hyperparameters(folds=args.folds)
    result = evaluate_sets(
        sets,
        cross_validate=None if args.no_cv else lambda tasks: out_of_fold(tasks, hyper),
        corpus=corpus,
        folds=args.folds,
        settings=settings,
        timing_rounds=args.rounds,
        source=", ".join(str(path) for path in datasets),
    )
    print(render(result))
    return 0 if result.passed or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
