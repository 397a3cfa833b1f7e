"""`variet engine service`: the engine at logon or boot, as a Task Scheduler task on Windows, a systemd user
unit on Linux; the texts are checked here on any platform."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from variet.cli.service import TASK_NAME, service_spec, systemd_unit, task_xml

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
PYTHON = r"C:\Program Files\Python313\python.exe"
LOGS = Path(r"C:\Users\me\AppData\Local\variet\logs")


def windows_task(at: str) -> ET.Element:
    spec = service_spec(Path("/home/me/My Settings/variet.toml"), at=at, platform="win32", python=PYTHON, logs=LOGS)
    text = task_xml(spec, r"BOX\me")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
    return ET.fromstring(text.split("\n", 1)[1])


def test_the_task_runs_the_engine_with_its_config_and_log_file_restarting_it_on_failure() -> None:
    task = windows_task("logon")
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == PYTHON
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS)
    config = str(Path("/home/me/My Settings/variet.toml").absolute())
    assert arguments == (f'-m variet.cli engine serve --config "{config}" --log-file '
                         f'{LOGS / "engine.log"}')
    assert task.findtext("t:Actions/t:Exec/t:WorkingDirectory", namespaces=NS) == str(Path(config).parent)
    assert task.findtext("t:Settings/t:RestartOnFailure/t:Interval", namespaces=NS) == "PT1M"
    assert task.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT0S"  # never stopped for time
    assert task.findtext("t:Settings/t:Priority", namespaces=NS) == "4"  # not Task Scheduler's below-normal 7
    assert task.findtext("t:Settings/t:DisallowStartIfOnBatteries", namespaces=NS) == "false"


def test_at_logon_it_runs_in_the_users_session_and_at_startup_before_anyone_logs_on() -> None:
    logon = windows_task("logon")
    assert logon.findtext("t:Triggers/t:LogonTrigger/t:UserId", namespaces=NS) == r"BOX\me"
    assert logon.findtext("t:Principals/t:Principal/t:LogonType", namespaces=NS) == "InteractiveToken"
    startup = windows_task("startup")
    assert startup.find("t:Triggers/t:BootTrigger", NS) is not None
    assert startup.findtext("t:Principals/t:Principal/t:LogonType", namespaces=NS) == "S4U"
    assert startup.findtext("t:Principals/t:Principal/t:RunLevel", namespaces=NS) == "LeastPrivilege"


@pytest.mark.posix_only  # a Linux unit names Linux paths; the Windows counterpart is the task's test above
def test_the_systemd_unit_restarts_the_engine_and_quotes_paths_with_spaces() -> None:
    spec = service_spec(Path("/home/me/My Settings/variet.toml"), platform="linux", python="/usr/bin/python3")
    unit = systemd_unit(spec)
    assert ('ExecStart=/usr/bin/python3 -m variet.cli engine serve --config "/home/me/My Settings/variet.toml"'
            in unit.splitlines())
    assert "Restart=on-failure" in unit and "WantedBy=default.target" in unit
    assert spec.log_file is None  # the journal keeps it


@pytest.mark.posix_only
def test_on_linux_install_writes_the_user_unit_and_says_what_to_run_without_systemctl(tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text("[engine]\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": str(tmp_path / "nothing")}

    def variet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "variet.cli", "engine", "service", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    assert variet("status").returncode == 3
    done = variet("install", "--config", str(config))
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "xdg" / "systemd" / "user" / "variet-engine.service"
    assert f"--config {config}" in unit.read_text()
    assert "systemctl --user enable --now variet-engine.service" in done.stdout
    assert variet("status").returncode == 0
    assert variet("uninstall").returncode == 0 and not unit.exists()


@pytest.mark.windows_only
def test_on_windows_install_registers_the_task_status_shows_it_and_uninstall_removes_it(tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text("[engine]\n")
    # Wine 8's Task Scheduler stores a task (without its triggers and action) and its schtasks /Query prints
    # nothing: there the stored file is what shows it was registered.
    stored = Path(os.environ.get("SystemRoot", r"C:\windows"), "system32", "tasks", TASK_NAME)

    def variet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "variet.cli", "engine", "service", *args],
                              capture_output=True, text=True, timeout=120)

    try:
        done = variet("install", "--config", str(config), "--no-start")
        assert done.returncode == 0, done.stdout + done.stderr
        status = variet("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert TASK_NAME in status.stdout or (under_wine() and stored.is_file()), status.stdout
    finally:
        removed = variet("uninstall")
    # Wine 8's schtasks fails to end or delete a task it stored; real Windows removes it.
    assert removed.returncode == 0 or under_wine(), removed.stdout + removed.stderr


def under_wine() -> bool:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    try:
        winreg.CloseKey(winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Software\Wine"))
    except OSError:
        return False
    return True
