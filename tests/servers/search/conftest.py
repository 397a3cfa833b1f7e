"""Fixtures for the search server: the fixture engine, a real searx in front of it, closed ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.parts.searx import FixtureEngine, LoopbackServer, running_searx


@pytest.fixture(scope="session")
def _fixture_engine() -> Iterator[FixtureEngine]:
    engine = FixtureEngine()
    with LoopbackServer(engine.app) as server:
        engine.url = server.url
        yield engine


@pytest.fixture
def engine(_fixture_engine: FixtureEngine) -> Iterator[FixtureEngine]:
    """The engine behind searx, with a clean request log and no failure set."""
    _fixture_engine.reset()
    yield _fixture_engine
    _fixture_engine.reset()


@pytest.fixture(scope="session")
def searx_url(_fixture_engine: FixtureEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real searx whose engines query the fixture engine (started once per session)."""
    with running_searx(_fixture_engine.url, tmp_path_factory.mktemp("searx")) as searx:
        yield searx.url




@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback URL that accepts connections (in the kernel backlog) but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    """The MCP protocol mode of the in-process client: 2025-11-25 handshake, or the current revision."""
    return str(request.param)
