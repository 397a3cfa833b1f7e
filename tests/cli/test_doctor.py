"""`variet doctor` against real parts: a healthy engine passes, a broken setup fails with fixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.parts.engine import RunningEngine
from variet.engine.backend import free_port

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
    token.write_text(json.dumps({"refresh_token": "r", "scopes": []}))
    token.chmod(0o644)
    config = tmp_path / "variet.toml"
    config.write_text(f'[engine]\nurl = "http://127.0.0.1:{free_port()}"\n[google]\ntoken_file = "{token}"\n')
    done = doctor(config, "--skip-servers")
    checks = by_name(done)
    assert done.returncode == 1
    assert checks["engine"]["outcome"] == "FAIL" and "variet engine serve" in checks["engine"]["fix"]
    assert checks["google"]["outcome"] == "FAIL" and checks["google"]["fix"] == f"chmod 600 {token}"


def test_an_invalid_settings_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text("[engine]\nlisten_on = 1\n")
    checks = by_name(doctor(config, "--skip-servers"))
    assert checks["settings"]["outcome"] == "FAIL" and str(config) in checks["settings"]["detail"]
