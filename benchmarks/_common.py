"""Shared pieces for the benchmark scripts: tiny tiers, a real engine subprocess, statistics, tables."""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from variet.devtools.tiny_models import write_tiny_tiers
from variet.engine.llama.backend import free_port
from variet.engine.llama.build import install_llama_server
from variet.engine.llama.launcher import EngineProcess, launch_engine

BACKEND_KEY = "variet-benchmark"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def peak_rss_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tiny_tiers(scale: int = 1, *, real_fast: bool = False, coder: bool = False) -> Path:
    """Tiny tiers in a fresh folder; `scale` widens them so each token costs more, as on real tiers;
    `real_fast` makes `fast` the real model (the embedded default); `coder` adds the resident FIM tier."""
    directory = Path(tempfile.mkdtemp(prefix="variet-bench-"))
    write_tiny_tiers(directory, scale=scale, real_fast=real_fast, coder=coder)
    (directory / "bench.toml").write_text('[engine]\ntiers_file = "tiers.toml"\nbackend_args = { threads = 1 }\n'
                                          'prompt_cache_dir = "prompt-cache"\n')
    return directory


@contextmanager
def engine(directory: Path, *, extra: str = "") -> Iterator[EngineProcess]:
    """The real engine on tiny tiers, as a subprocess on a free loopback port."""
    binary = install_llama_server(say=lambda m: print(m, file=sys.stderr))
    config = directory / f"bench-{free_port()}.toml"
    config.write_text((directory / "bench.toml").read_text() + extra)
    # A known backend key lets benchmarks call the same llama-server directly, beside the engine.
    # Not verbose: measured as users run it (debug logging costs CPU on every call to llama-server).
    with launch_engine(config, binary=binary, env={"VARIET_BACKEND_API_KEY": BACKEND_KEY}, verbose=False) as launched:
        yield launched
