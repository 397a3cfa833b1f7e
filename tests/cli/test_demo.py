"""`variet demo`: the main job end to end, and no process left behind, also after Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.llama


def variet_processes(marker: Path) -> list[str]:
    """Processes whose command line mentions the demo's folder (engine, llama-server, its instances)."""
    out = subprocess.run(["pgrep", "-af", str(marker)], capture_output=True, text=True).stdout.splitlines()
    return [line for line in out if "pgrep" not in line]


def demo_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}


def test_the_demo_routes_and_runs_varied_tasks_and_prints_a_table(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "variet.cli", "demo", "--dir", str(tmp_path / "tiers")],
                          capture_output=True, text=True, env=demo_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("task"))
    assert all(word in header for word in ("tier", "why", "swap", "TTFT ms", "tok/s"))
    rows = lines[lines.index(header) + 2:]
    tiers = {row.split()[row.split().index(t)] for row in rows for t in row.split()
             if t in ("fast", "balanced", "deep-coder", "deep-logic", "ultra")}
    assert len(tiers) >= 3, done.stdout
    assert "swaps" in done.stdout and "loading" in done.stderr
    assert variet_processes(tmp_path) == []


def test_ctrl_c_during_the_demo_stops_everything_it_started(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "variet.cli", "demo", "--dir", str(tmp_path / "tiers")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=demo_env())
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the engine and the MCP servers run
        if line.startswith("4/4"):
            break
    assert variet_processes(tmp_path), "the engine should be running now"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while variet_processes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert variet_processes(tmp_path) == []
