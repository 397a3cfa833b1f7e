"""The agent loops recorded from Claude Code (and converted as OpenClaude sends them) under
benchmarks/data/agent_loops/, by `benchmarks/record_agent_loops.py`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["LOOPS", "loop"]

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "agent_loops"
LOOPS = tuple(sorted(path.stem for path in DATA.glob("*.json")))
"""File stems: `claude-code-<task>` and `openclaude-<task>`."""


def loop(name: str) -> list[dict[str, Any]]:
    """The request bodies of one recorded loop, in order (unpacked from the stored pool)."""
    stored = json.loads((DATA / f"{name}.json").read_text())
    return [{**stored["shared"], **{k: v for k, v in body.items() if k != "messages"},
             "messages": [stored["pool"][i] for i in body["messages"]]} for body in stored["bodies"]]
