"""Fixtures shared by the whole suite. Real-part launchers live in tests/parts/, fakes in tests/fakes/."""

from __future__ import annotations

import socket
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.parts.engine import RunningEngine, run_engine, write_config

WINDOWS = sys.platform == "win32"

_NOT_ON_WINDOWS = {
    "posix_only": "needs POSIX (mode bits, signals or shell scripts)",
    "searx": "needs Debian's searx, a Linux service",
    "browser": "needs Debian's Chromium and chromedriver",
    "codeserver": "needs code-server, installed on Linux only",
    "node": "needs the Node clients, installed on Linux only",
}
"""Markers whose tests the Windows lane skips, and why (they run on Linux, where nothing is skipped)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if WINDOWS:
            for name, why in _NOT_ON_WINDOWS.items():
                if item.get_closest_marker(name) is not None:
                    item.add_marker(pytest.mark.skip(reason=f"on Windows: {why}"))
                    break
        elif item.get_closest_marker("windows_only") is not None:
            item.add_marker(pytest.mark.skip(reason="needs Windows"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """On Windows, how many tests were skipped and why, in one table (the lane's honest account)."""
    if not WINDOWS:
        return
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped on Windows")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:5d}  {reason}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five tiny GGUF tiers with their tiers.toml, generated once per run."""
    from variet.devtools.tiny_models import write_tiny_tiers

    directory = tmp_path_factory.mktemp("tiny-tiers")
    write_tiny_tiers(directory)
    return directory


@pytest.fixture(scope="session")
def real_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded default: the real SmolLM2 model as `fast` (fetched once into the cache), generated tiers else."""
    from variet.devtools.tiny_models import write_tiny_tiers

    directory = tmp_path_factory.mktemp("real-tiers")
    write_tiny_tiers(directory, real_fast=True)
    return directory


@pytest.fixture(scope="session")
def coder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated tiers plus the resident FIM tier `coder`, four times wider so that swaps take a while."""
    from variet.devtools.tiny_models import write_tiny_tiers

    directory = tmp_path_factory.mktemp("coder-tiers")
    write_tiny_tiers(directory, coder=True, scale=4)
    return directory


@pytest.fixture(scope="session")
def real_engine(real_dir: Path) -> Iterator[RunningEngine]:
    """One real engine on the embedded default (the real model as `fast`), shared by tests that do not break it."""
    with run_engine(write_config(real_dir)) as running:
        yield running


@pytest.fixture(scope="session")
def engine(tiny_dir: Path) -> Iterator[RunningEngine]:
    """One real engine (real llama-server, tiny tiers) shared by tests that do not break it."""
    with run_engine(write_config(tiny_dir, extra_engine="max_wait_seconds = 30")) as running:
        yield running


@pytest.fixture
def own_engine(tiny_dir: Path) -> Iterator[RunningEngine]:
    """A fresh engine for a test that kills or reconfigures things."""
    with run_engine(write_config(tiny_dir)) as running:
        yield running


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL where connections are refused: the port is bound (so nobody takes it) but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
