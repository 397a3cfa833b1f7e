"""What the third-party clients connect to: every Variet MCP server as a host would launch it, with a
settings file pointing them at the real engine, a real searx and the fake Google, all on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.google import FakeGoogle, _google_server, google_fake
from tests.parts.console import console_script
from tests.parts.engine import RunningEngine
from tests.parts.node import NodeTools, node_tools
from tests.parts.searx import FixtureEngine, LoopbackServer, running_searx
from variet.servers.google import CALENDAR_READONLY, GMAIL_READONLY

__all__ = [
    "SERVERS",
    "TIERS",
    "McpServers",
    "_google_server",
    "export_mcp_json",
    "google_fake",
    "mcp_servers",
    "node",
    "refusing_proxy",
    "searx_url",
    "server_command",
]

SERVERS = ("inference", "router", "search", "calendar", "gmail")
"""Every Variet MCP server, as `variet-<name>`."""
TIERS = frozenset({"fast", "balanced", "deep-coder", "deep-logic", "ultra"})
"""The tiers the engine serves (the tiny stand-ins carry the real names)."""


def server_command(name: str) -> str:
    """The console script a host runs for `variet-<name>` (installed with this interpreter)."""
    return console_script(f"variet-{name}")


def export_mcp_json(folder: Path, settings: Path) -> Path:
    """`.mcp.json` in `folder` as `variet hosts export --host claude-code` writes it for `settings`."""
    path = folder / ".mcp.json"
    command = [sys.executable, "-m", "variet.cli", "hosts", "export", "--host", "claude-code",
               "--config", str(settings), "--output", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"$ {' '.join(command)}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}")
    assert set(json.loads(path.read_text())["mcpServers"]) == {f"variet-{name}" for name in SERVERS}
    return path


@dataclass(frozen=True)
class McpServers:
    """The exported `.mcp.json` for every server, its settings, and the folder (the project) holding both."""

    mcp_json: Path
    settings: Path
    folder: Path


@pytest.fixture(scope="session")
def node() -> NodeTools:
    return node_tools()


@pytest.fixture
def refusing_proxy() -> Iterator[str]:
    """A loopback proxy URL nothing listens on (the port stays bound, so connections are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(scope="session")
def searx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real searx whose only engine is a loopback fixture: a search for `q` finds `q result 1 (page 1)`..."""
    fixture = FixtureEngine()
    with LoopbackServer(fixture.app) as server:
        fixture.url = server.url
        with running_searx(fixture.url, tmp_path_factory.mktemp("searx")) as searx:
            yield searx.url


@pytest.fixture(scope="session")
def _exported(
    tmp_path_factory: pytest.TempPathFactory, engine: RunningEngine, searx_url: str,
    _google_server: tuple[object, str],
) -> McpServers:
    """Settings for the real engine, searx and the fake Google, exported once (the CLI takes half a second)."""
    folder = tmp_path_factory.mktemp("mcp-servers")
    google = _google_server[1]
    settings = folder / "variet.toml"
    settings.write_text(
        f'[engine]\nurl = "{engine.url}"\n'
        f'[search]\nurl = "{searx_url}"\n'
        f'[google]\napi_endpoint = "{google}"\ntoken_uri = "{google}token"\n'
        f'token_file = "{folder / "google-token.json"}"\n'
    )
    return McpServers(export_mcp_json(folder, settings), settings, folder)


@pytest.fixture
def mcp_servers(_exported: McpServers, google_fake: FakeGoogle, tmp_path: Path) -> McpServers:
    """The exported `.mcp.json` copied into this test's folder (its project), and a fresh 0600 read-only token
    for this test's fake Google."""
    token = _exported.folder / "google-token.json"
    token.unlink(missing_ok=True)
    token.touch(mode=0o600)
    token.write_text(json.dumps(google_fake.authorize({CALENDAR_READONLY, GMAIL_READONLY})))
    mcp_json = tmp_path / ".mcp.json"
    mcp_json.write_text(_exported.mcp_json.read_text())
    return McpServers(mcp_json, _exported.settings, tmp_path)
