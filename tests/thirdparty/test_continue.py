"""The Continue CLI (`cn`, the agent of Continue's VS Code extension), run headless (`cn -p`) on the file
`variet hosts export --host continue` writes, and kept offline.

It needs no account: with a local `--config` file it talks only to the models' `apiBase` (the engine, or the
scripted OpenAI-compatible stub) and starts the MCP servers the file lists. HOME is an empty folder,
telemetry is off, and HTTP(S)_PROXY names a loopback port that refuses connections, so anything that honours
it and is not bound for loopback fails instead of leaving the machine (the CLI's version check does, quietly).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tests.fakes.openai_stub import ToolCall, serve_openai_stub
from tests.parts.engine import RunningEngine
from tests.parts.node import Ran, run_tool
from tests.thirdparty.conftest import SERVERS, TIERS

pytestmark = [pytest.mark.anyio, pytest.mark.llama, pytest.mark.node]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "continue-cli"
_TIMEOUT = 180


@pytest.fixture(scope="session")
def cn() -> Path:
    """The pinned `cn`; fails, never skips, when it is not installed."""
    done = subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.fail(done.stderr.strip() or "the pinned Continue CLI is missing: run scripts/continue-cli")
    return Path(done.stdout.strip()) / "cn"


@pytest.fixture
def exported(engine: RunningEngine, tmp_path: Path) -> Iterator[Path]:
    """`config.yaml` as `variet hosts export --host continue` writes it for a settings file naming the engine."""
    settings = tmp_path / "variet.toml"
    settings.write_text(f'[engine]\nurl = "{engine.url}"\n')
    config = tmp_path / "config.yaml"
    command = [sys.executable, "-m", "variet.cli", "hosts", "export", "--host", "continue", "--config", str(settings),
               "--output", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"$ {' '.join(command)}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}")
    text = config.read_text()
    assert all(f'name: "variet-{name}"' in text for name in SERVERS)
    yield config


def _offline_env(cn: Path, home: Path, proxy: str) -> dict[str, str]:
    return {
        "PATH": f"{cn.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "CONTINUE_CLI_ENABLE_TELEMETRY": "0",
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
    }


async def _cn(cn: Path, env: dict[str, str], cwd: Path, prompt: str, config: Path, *args: str) -> Ran:
    with anyio.fail_after(_TIMEOUT):
        ran = await run_tool([str(cn), "-p", prompt, "--config", str(config), *args], env=env, cwd=cwd)
    assert ran.returncode == 0, ran
    return ran


async def _requests(engine: RunningEngine) -> dict[str, int]:
    status = await anyio.to_thread.run_sync(engine.status)
    tiers: dict[str, Any] = status.tiers
    return {name: tier.requests for name, tier in tiers.items()}


async def test_continue_answers_from_the_engine_through_the_exported_auto_model(
    cn: Path, engine: RunningEngine, exported: Path, refusing_proxy: str, tmp_path: Path
) -> None:
    """The exported file as it is: Continue's first model (`Variet auto`) on the engine, its five servers started."""
    (tmp_path / "home").mkdir()
    (tmp_path / "project").mkdir()
    before = await _requests(engine)
    ran = await _cn(cn, _offline_env(cn, tmp_path / "home", refusing_proxy), tmp_path / "project", "Say hello.",
                    exported)
    after = await _requests(engine)
    served = [tier for tier in TIERS if after[tier] > before[tier]]
    assert served, f"no request reached the engine: {before} -> {after}\n{ran}"
    assert ran.stdout.strip(), ran


def _tier_of(route: str) -> str:
    match = re.search(r'\\?"tier\\?":\s*\\?"([^"\\]+)', route)
    return match.group(1) if match else "?"


async def test_continue_calls_a_variet_tool_and_edits_a_file_with_what_the_model_received(
    cn: Path, exported: Path, refusing_proxy: str, tmp_path: Path
) -> None:
    """The agent loop: prompt -> route_task (variet-router, backed by the real engine) -> Continue's own Read
    and Edit -> answer. The model is the scripted stub (the exported models' apiBase points at it; everything
    else is the export as written); the edit is built from the tool result the model received."""
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    notes = project / "NOTES.md"
    notes.write_text("# Notes\n\nTODO: which tier handles swaps?\n")
    script = [
        ToolCall("route_task", {"task": "Explain how llama.cpp router mode swaps models."}),
        ToolCall("Read", {"filepath": str(notes)}),
        ToolCall("Edit", lambda results: {"file_path": str(notes), "old_string": "TODO: which tier handles swaps?",
                                          "new_string": f"Routed to: {_tier_of(results[0])}"}),
    ]
    with serve_openai_stub(script, final_text="Updated NOTES.md.") as stub:
        config = tmp_path / "config.yaml"
        text = await anyio.Path(exported).read_text()
        api_base = re.compile(r'apiBase: "[^"]*"')
        assert len(api_base.findall(text)) == len(TIERS) + 1
        config.write_text(api_base.sub(f'apiBase: "{stub.url}/v1"', text))
        ran = await _cn(cn, _offline_env(cn, home, refusing_proxy), project,
                        "Find out which tier handles swaps and note it in NOTES.md.", config, "--allow", "Edit")
    results = stub.results()
    assert len(results) == len(script), ran  # every step's result reached the model
    route, read, edit = results
    tier = _tier_of(route)
    assert tier in TIERS, results
    assert "TODO: which tier handles swaps?" in read
    assert "error" not in edit.lower()[:200], edit
    assert notes.read_text() == f"# Notes\n\nRouted to: {tier}\n"
    assert "Updated NOTES.md." in ran.stdout
    requests = stub.chat_requests()
    assert {body["model"] for body in requests} == {"auto"}
    offered = {tool["function"]["name"] for tool in requests[0]["tools"]}
    assert {"route_task", "list_tiers", "web_search", "Read", "Edit"} <= offered, sorted(offered)
