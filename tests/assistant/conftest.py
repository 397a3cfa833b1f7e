"""Fixtures for the assistant's tests: the fake Google, and a real searx in front of the fixture engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.google import _google_server, google_fake
from tests.parts.searx import FixtureEngine, LoopbackServer, running_searx

__all__ = ["_google_server", "google_fake", "searx", "web"]


@pytest.fixture(scope="session")
def web() -> Iterator[FixtureEngine]:
    """The search engine behind searx (its results are the "web" the bot searches)."""
    engine = FixtureEngine()
    with LoopbackServer(engine.app) as server:
        engine.url = server.url
        yield engine


@pytest.fixture(scope="session")
def searx(web: FixtureEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real searx querying `web` (started once per session)."""
    with running_searx(web.url, tmp_path_factory.mktemp("searx")) as running:
        yield running.url
