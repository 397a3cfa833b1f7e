from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from variet.engine.tiny_models import write_tiny_tiers

from tests.parts.engine import RunningEngine, run_engine, write_config


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-tiers")
    write_tiny_tiers(directory)
    return directory


@pytest.fixture(scope="session")
def engine(tiny_dir: Path) -> Iterator[RunningEngine]:
    """One engine shared by tests that do not break it."""
    with run_engine(write_config(tiny_dir, extra_engine="max_wait_seconds = 30")) as running:
        yield running


@pytest.fixture
def own_engine(tiny_dir: Path) -> Iterator[RunningEngine]:
    """A fresh engine for a test that kills or reconfigures things."""
    with run_engine(write_config(tiny_dir)) as running:
        yield running
