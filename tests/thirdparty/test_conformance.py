"""The official MCP conformance suite against every server over streamable HTTP.

Only the server scenarios that apply to servers like ours run; the others need the suite's own fixture
tools, prompts and resources (`test_simple_text`, `test://static-text`, ...) or a capability we do not
offer. A new scenario in a newer suite fails the classification test until it is sorted into one list.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.parts.node import NodeTools, Ran, run_tool
from tests.thirdparty.conftest import SERVERS, server_command
from variet.engine.llama.backend import free_port
from variet.engine.llama.launcher import stop_process

pytestmark = pytest.mark.node

APPLICABLE = ("server-initialize", "ping", "tools-list", "server-sse-multiple-streams", "dns-rebinding-protection")
# `--stateless` keeps no sessions, so there is no standalone GET stream to open several of.
STATELESS_APPLICABLE = tuple(s for s in APPLICABLE if s != "server-sse-multiple-streams")
NOT_APPLICABLE = {
    "logging-set-level": "no logging capability",
    "completion-complete": "no prompts or resource templates to complete",
    "tools-call-simple-text": "calls the suite's fixture tool",
    "tools-call-image": "calls the suite's fixture tool",
    "tools-call-audio": "calls the suite's fixture tool",
    "tools-call-embedded-resource": "calls the suite's fixture tool",
    "tools-call-mixed-content": "calls the suite's fixture tool",
    "tools-call-with-logging": "calls the suite's fixture tool",
    "tools-call-error": "calls the suite's fixture tool",
    "tools-call-with-progress": "calls the suite's fixture tool",
    "tools-call-sampling": "calls the suite's fixture tool",
    "tools-call-elicitation": "calls the suite's fixture tool",
    "json-schema-2020-12": "calls the suite's fixture tool",
    "elicitation-sep1034-defaults": "calls the suite's fixture tool",
    "elicitation-sep1330-enums": "calls the suite's fixture tool",
    "server-sse-polling": "calls the suite's fixture tool (test_reconnection)",
    "resources-list": "no resources",
    "resources-read-text": "reads the suite's fixture resource",
    "resources-read-binary": "reads the suite's fixture resource",
    "resources-templates-read": "reads the suite's fixture resource",
    "resources-subscribe": "no resources",
    "resources-unsubscribe": "no resources",
    "prompts-list": "no prompts",
    "prompts-get-simple": "gets the suite's fixture prompt",
    "prompts-get-with-args": "gets the suite's fixture prompt",
    "prompts-get-embedded-resource": "gets the suite's fixture prompt",
    "prompts-get-with-image": "gets the suite's fixture prompt",
}
_START_TIMEOUT = 30.0


def _run_suite(name: str, stateless: bool, node: NodeTools, folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The whole active suite, run once against `variet-<name> --transport http [--stateless]`: each
    scenario's checks. One run costs about a second; one run per scenario would cost a Node start each.
    """
    with _http_server(name, folder, stateless=stateless) as url:
        command = [node.conformance, "server", "--url", url, "--output-dir", str(folder / "results")]
        done = subprocess.run(command, env=node.env(folder), capture_output=True, text=True, timeout=120,
                              check=False)
    checks: dict[str, list[dict[str, Any]]] = {}
    for path in (folder / "results").glob("*/checks.json"):
        scenario = path.parent.name.removeprefix("server-").rsplit("-", 6)[0]
        checks[scenario] = json.loads(path.read_text())
    if not checks:
        pytest.fail(f"the suite wrote no results:\n{Ran(command, done.returncode, done.stdout, done.stderr)}")
    return checks


@pytest.fixture(scope="module", params=SERVERS)
def suite(
    request: pytest.FixtureRequest, node: NodeTools, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    name = str(request.param)
    return _run_suite(name, False, node, tmp_path_factory.mktemp(f"conformance-{name}"))


@pytest.fixture(scope="module", params=SERVERS)
def stateless_suite(
    request: pytest.FixtureRequest, node: NodeTools, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    name = str(request.param)
    return _run_suite(name, True, node, tmp_path_factory.mktemp(f"conformance-{name}-stateless"))


@contextmanager
def _http_server(name: str, folder: Path, *, stateless: bool) -> Iterator[str]:
    """`variet-<name> --transport http` on a loopback port, with empty settings; yields the /mcp URL."""
    (folder / "variet.toml").write_text("")
    port = free_port()
    env = {**os.environ, "VARIET_CONFIG": str(folder / "variet.toml")}
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [server_command(name), "--transport", "http", "--host", "127.0.0.1", "--port", str(port),
             *(["--stateless"] if stateless else [])],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        _wait_listening(process, name, url, log)
        yield url
    finally:
        stop_process(process, 10)


def _wait_listening(process: subprocess.Popen[bytes], name: str, url: str, log: Path) -> None:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"variet-{name} exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()  # accepting connections
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"variet-{name} did not listen within {_START_TIMEOUT:g} s:\n{log.read_text()}")


@pytest.mark.anyio
async def test_every_server_scenario_of_the_pinned_suite_is_classified(node: NodeTools, tmp_path: Path) -> None:
    with anyio.fail_after(60):
        ran = await run_tool([node.conformance, "list", "--server"], env=node.env(tmp_path))
    assert ran.returncode == 0, ran
    listed = {line.strip()[2:].split(" ")[0] for line in ran.stdout.splitlines() if line.strip().startswith("- ")}
    assert listed == set(APPLICABLE) | set(NOT_APPLICABLE), ran


@pytest.mark.parametrize("scenario", APPLICABLE)
def test_server_passes_the_conformance_scenario(suite: dict[str, list[dict[str, Any]]], scenario: str) -> None:
    assert scenario in suite, sorted(suite)
    checks = suite[scenario]
    assert checks
    bad = [check for check in checks if check["status"] not in ("SUCCESS", "INFO")]
    assert not bad, json.dumps(bad, indent=2)


@pytest.mark.parametrize("scenario", STATELESS_APPLICABLE)
def test_stateless_server_passes_the_conformance_scenario(
    stateless_suite: dict[str, list[dict[str, Any]]], scenario: str
) -> None:
    assert scenario in stateless_suite, sorted(stateless_suite)
    bad = [check for check in stateless_suite[scenario] if check["status"] not in ("SUCCESS", "INFO")]
    assert stateless_suite[scenario] and not bad, json.dumps(bad, indent=2)
