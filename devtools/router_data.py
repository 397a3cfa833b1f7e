"""The router's labelled tasks: where they live and how they are read.

A labelled set is JSON lines with `prompt`, `acceptable` (tiers that do the job) and `preferred` (the
cheapest of them); `id` and `domain` are optional. The repository keeps a tuning part (trained and tuned
on) and a held-out part (only ever reported on); the shared development set lives beside the repository.
Both `router_eval` (judging) and `router_training` (fitting) read tasks through this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_TRAINING_FILES",
    "HOLDOUT_FILES",
    "MODEL_FILE",
    "Example",
    "find_dev_set",
    "load_examples",
    "repo_root",
]


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled task."""

    id: str
    prompt: str
    acceptable: tuple[str, ...]
    preferred: str
    domain: str = ""


def repo_root() -> Path:
    """The source tree this tooling works on: the working directory or a parent of it that holds the labelled
    tasks (a checkout; installed, this package is not in one), else the folder above this file."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "benchmarks" / "data" / "router-tuning.jsonl").is_file():
            return folder
    return Path(__file__).resolve().parents[1]


_REPO: Final = repo_root()
MODEL_FILE: Final = _REPO / "router" / "data" / "tier-model.npz"
"""Where the packaged weights live in the source tree (the router reads them as package data)."""
DEFAULT_TRAINING_FILES: Final = tuple(
    _REPO / "benchmarks" / "data" / name for name in ("router-tuning.jsonl", "router-tuning-apart.jsonl")
)
"""The tuning part of the labelled tasks in the repository (the shared development set is added when found):
ours, and tasks written apart by seventeen other hands (once held out, see `benchmarks/data/README.md`)."""
HOLDOUT_FILES: Final = tuple(
    _REPO / "benchmarks" / "data" / name
    for name in (
        "router-holdout.jsonl",
        "router-holdout-19.jsonl",
        "router-holdout-20.jsonl",
        "router-holdout-21.jsonl",
        "router-holdout-22.jsonl",
    )
)
"""Never trained or tuned on, only reported by `benchmarks/router_eval.py`: our own held-out file, then four
written apart by people who never saw any other labelled task."""


def find_dev_set(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The shared development set, `shared/router/dev-set.jsonl` beside the repository or beside one of its
    parent folders (a git worktree sits deeper than the main checkout); None when it is not there."""
    repo = Path(start) if start is not None else _REPO
    for folder in repo.resolve().parents:
        candidate = folder / "shared" / "router" / "dev-set.jsonl"
        if candidate.is_file():
            return candidate
    return None


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
