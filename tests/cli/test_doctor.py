"""`variet doctor` against real parts: a healthy engine passes, a broken setup fails with fixes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.parts.engine import RunningEngine
from tests.parts.private import FIX_FILE, expose
from variet.engine.llama.backend import free_port
from variet.shared.secrets import write_private_file

pytestmark = pytest.mark.llama


def doctor(config: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    environ |= {"HOME": str(config.parent), **(env or {})}
    return subprocess.run([sys.executable, "-m", "variet.cli", "doctor", "--config", str(config), "--json", *extra],
                          capture_output=True, text=True, env=environ, timeout=180)


def by_name(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return {check["name"]: check for check in json.loads(done.stdout)}


def test_a_healthy_engine_and_servers_pass_and_optional_parts_only_warn(engine: RunningEngine, tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text(f'[engine]\nurl = "{engine.url}"\n[search]\nurl = "http://127.0.0.1:{free_port()}"\n')
    done = doctor(config)
    checks = by_name(done)
    assert done.returncode == 0, done.stdout
    assert checks["engine"]["outcome"] == "ok"
    assert checks["dashboard"]["outcome"] == "ok" and checks["dashboard"]["detail"].startswith(f"{engine.url}/ui ")
    assert checks["llama-server"]["outcome"] == "ok"
    assert checks["model files"]["outcome"] == "ok"
    assert checks["searxng"]["outcome"] == "warn" and "VARIET_SEARCH_URL" in checks["searxng"]["fix"]
    assert checks["google"]["outcome"] == "warn" and "variet auth google" in checks["google"]["fix"]
    for name in ("inference", "router", "search", "calendar", "gmail"):
        assert checks[f"variet-{name}"]["outcome"] == "ok", checks[f"variet-{name}"]


def test_a_missing_engine_and_a_leaky_token_fail_with_a_fix_each(tmp_path: Path) -> None:
    token = tmp_path / "google-token.json"
    write_private_file(token, json.dumps({"refresh_token": "r", "scopes": []}))
    expose(token)
    config = tmp_path / "variet.toml"
    config.write_text(f'[engine]\nurl = "http://127.0.0.1:{free_port()}"\n[google]\ntoken_file = \'{token}\'\n')
    done = doctor(config, "--skip-servers")
    checks = by_name(done)
    assert done.returncode == 1
    assert checks["engine"]["outcome"] == "FAIL" and "variet engine serve" in checks["engine"]["fix"]
    assert checks["google"]["outcome"] == "FAIL" and checks["google"]["fix"].startswith(FIX_FILE)
    assert str(token) in checks["google"]["fix"]


def test_an_invalid_settings_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text("[engine]\nlisten_on = 1\n")
    checks = by_name(doctor(config, "--skip-servers"))
    assert checks["settings"]["outcome"] == "FAIL" and str(config) in checks["settings"]["detail"]


def test_peers_and_rpc_workers_are_checked_each_with_a_fix(engine: RunningEngine, tmp_path: Path) -> None:
    loose = tmp_path / "loose.key"
    write_private_file(loose, "k")
    expose(loose)
    gone = free_port()
    (tmp_path / "tiers.toml").write_text(
        '[tiers.split]\nmodel = "m.gguf"\ncontext = 4096\ntokens_per_second = 10\nload_seconds = 10\n'
        f'rpc = ["127.0.0.1:{gone}", "127.0.0.1:LISTENING"]\n')
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        tiers = (tmp_path / "tiers.toml").read_text().replace("LISTENING", str(port))
        (tmp_path / "tiers.toml").write_text(tiers)
        config = tmp_path / "variet.toml"
        config.write_text(
            f'[engine]\nurl = "{engine.url}"\ntiers_file = "tiers.toml"\n'
            f'[[engine.peers]]\nname = "box-b"\nurl = "{engine.url}"\n'
            f'[[engine.peers]]\nname = "box-c"\nurl = "http://127.0.0.1:{gone}"\n'
            f'[[engine.peers]]\nname = "box-d"\nurl = "{engine.url}"\napi_key_file = \'{loose}\'\n')
        checks = by_name(doctor(config, "--skip-servers"))
    assert checks["peer box-b"]["outcome"] == "ok" and "deep-logic" in checks["peer box-b"]["detail"]
    assert checks["peer box-c"]["outcome"] == "FAIL" and "variet engine serve" in checks["peer box-c"]["fix"]
    assert checks["peer box-d"]["outcome"] == "FAIL" and FIX_FILE in checks["peer box-d"]["detail"]
    assert checks[f"rpc 127.0.0.1:{gone}"]["outcome"] == "FAIL"
    assert "variet engine rpc-worker" in checks[f"rpc 127.0.0.1:{gone}"]["fix"]
    assert checks[f"rpc 127.0.0.1:{port}"]["outcome"] == "ok" and "split" in checks[f"rpc 127.0.0.1:{port}"]["detail"]


class _FlakySpawn:
    """Fault injection for the doctor's server start: the OS fails to create the process `failures` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    def __call__(self, params: Any, mode: str) -> _FlakySpawn:
        return self

    async def __aenter__(self) -> _FlakySpawn:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError(1359, "Internal error")
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def list_tools(self) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(tools=[SimpleNamespace(name="web_search")])


@pytest.mark.anyio
async def test_a_server_whose_process_the_os_failed_to_create_once_is_started_again() -> None:
    from variet.cli.doctor import _list_server_tools

    once = _FlakySpawn(failures=1)
    assert await _list_server_tools(once, None) == ["web_search"]
    assert once.attempts == 2

    always = _FlakySpawn(failures=2)
    with pytest.raises(OSError, match="Internal error"):
        await _list_server_tools(always, None)
    assert always.attempts == 2
