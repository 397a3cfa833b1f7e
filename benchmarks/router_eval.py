"""Evaluate the tier router on a labelled set and print the figures beside the issue's targets.

Usage: .venv/bin/python benchmarks/router_eval.py [DATASET.jsonl] [--stay-margin M] [--rounds N]
DATASET defaults to ../shared/router/dev-set.jsonl next to the repository. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from variet.devtools.router_eval import evaluate, load_examples
from variet.devtools.router_report import render
from variet.shared.config import RouterSettings

DEFAULT_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "router" / "dev-set.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the tier router on a labelled JSONL set.")
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATASET, help="labelled JSONL set")
    parser.add_argument("--stay-margin", type=float, default=None, help="override [router] stay_margin (0.25)")
    parser.add_argument("--rounds", type=int, default=20, help="timing passes over the set (default 20)")
    args = parser.parse_args(argv)
    if not args.dataset.is_file():
        parser.error(f"{args.dataset}: no such file")
    settings = RouterSettings() if args.stay_margin is None else RouterSettings(stay_margin=args.stay_margin)
    examples = load_examples(args.dataset)
    result = evaluate(examples, settings=settings, timing_rounds=args.rounds, source=str(args.dataset))
    print(render(result))
    return 0 if all(t.passed for t in result.targets) else 1


if __name__ == "__main__":
    sys.exit(main())
