"""`variet engine service install|uninstall|status`: run the engine at logon or at boot, without .bat files.

- Windows: a Task Scheduler task ("Variet Engine") registered with `schtasks /Create /XML`: the engine's
  own command with `--config`, restarted when it fails, no time limit, normal priority, its log in
  `%LOCALAPPDATA%\\variet\\logs\\engine.log`. `--at logon` (the default) runs it in your session when you log
  on and needs no administrator; `--at startup` runs it at boot before anyone logs on (as you, without a
  stored password: S4U) and needs an elevated prompt.
- Linux: a systemd user unit (`~/.config/systemd/user/variet-engine.service`), restarted on failure, its log
  in the journal (`journalctl --user -u variet-engine`); `--at startup` also needs lingering
  (`loginctl enable-linger`), which the command names.

The task and unit texts are pure functions of a `ServiceSpec`, so they are tested on any platform.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["TASK_NAME", "UNIT_NAME", "ServiceSpec", "add_parser", "service_spec", "systemd_unit", "task_xml"]

TASK_NAME = "Variet Engine"
UNIT_NAME = "variet-engine.service"
_RESTART_EVERY = "PT1M"
_RESTART_COUNT = 999


@dataclass(frozen=True)
class ServiceSpec:
    """What the service runs, from where, when, and where its log goes."""

    command: list[str]
    """The engine's command line: this Python, `-m variet.cli engine serve --config FILE` (and the log file)."""
    working_dir: Path
    at: str
    """`logon` or `startup`."""
    log_file: Path | None
    """Windows: the file the engine logs to; Linux: None (the journal)."""


def service_spec(config: Path, *, at: str = "logon", platform: str = sys.platform,
                 python: str = sys.executable, logs: Path | None = None) -> ServiceSpec:
    """The spec for serving `config` (made absolute) with this interpreter."""
    from variet.shared.paths import logs_dir

    config = config.expanduser().absolute()
    command = [python, "-m", "variet.cli", "engine", "serve", "--config", str(config)]
    log_file = None
    if platform == "win32":
        log_file = (logs or logs_dir(platform=platform)) / "engine.log"
        command += ["--log-file", str(log_file)]
    return ServiceSpec(command=command, working_dir=config.parent, at=at, log_file=log_file)


def task_xml(spec: ServiceSpec, user: str) -> str:
    """The Task Scheduler definition (schema 1.2) for `spec`, run as `user` (DOMAIN\\name)."""
    user = escape(user)
    if spec.at == "startup":
        trigger = "<BootTrigger><Enabled>true</Enabled></BootTrigger>"
        logon_type = "S4U"
    else:
        trigger = f"<LogonTrigger><Enabled>true</Enabled><UserId>{user}</UserId></LogonTrigger>"
        logon_type = "InteractiveToken"
    arguments = escape(subprocess.list2cmdline(spec.command[1:]))
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Variet engine: llama-server's tiers behind one API (variet engine service install)</Description>
    <URI>\\{TASK_NAME}</URI>
  </RegistrationInfo>
  <Triggers>
    {trigger}
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{user}</UserId>
      <LogonType>{logon_type}</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>4</Priority>
    <RestartOnFailure>
      <Interval>{_RESTART_EVERY}</Interval>
      <Count>{_RESTART_COUNT}</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(spec.command[0])}</Command>
      <Arguments>{arguments}</Arguments>
      <WorkingDirectory>{escape(str(spec.working_dir))}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def systemd_unit(spec: ServiceSpec) -> str:
    """The systemd user unit for `spec` (SIGTERM stops the engine and, through it, llama-server)."""
    command = " ".join(_systemd_quote(part) for part in spec.command)
    return f"""[Unit]
Description=Variet engine: llama-server's tiers behind one API (variet engine service install)
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
ExecStart={command}
WorkingDirectory={_systemd_quote(str(spec.working_dir))}
Restart=on-failure
RestartSec=5
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""


def _systemd_quote(part: str) -> str:
    if part and not any(c in part for c in ' \t"\'\\$%;'):
        return part
    return '"' + part.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%") + '"'


def add_parser(cmds: Any) -> None:
    service = cmds.add_parser("service", help="run the engine at logon or boot (Task Scheduler / systemd --user)")
    actions = service.add_subparsers(dest="service_command", required=True, metavar="ACTION")
    install = actions.add_parser("install", help="register the engine to start at logon (or at boot) and start it")
    install.add_argument("--config", help="variet.toml the engine serves (default: $VARIET_CONFIG or the "
                                          "settings folder's variet.toml)")
    install.add_argument("--at", choices=("logon", "startup"), default="logon",
                         help="logon (default; no administrator needed) or startup (before anyone logs on)")
    install.add_argument("--print", action="store_true", dest="print_only",
                         help="print the task XML / unit file instead of installing it")
    install.add_argument("--no-start", action="store_true", help="register only; start at the next logon or boot")
    install.set_defaults(handler=_install)
    uninstall = actions.add_parser("uninstall", help="stop the engine and remove the task / unit")
    uninstall.set_defaults(handler=_uninstall)
    status = actions.add_parser("status", help="whether the task / unit is installed and running, and its log")
    status.set_defaults(handler=_status)


def _install(args: argparse.Namespace) -> int:
    from variet.shared.config import config_path
    from variet.shared.errors import ConfigError

    config = config_path(args.config)
    if not config.is_file():
        raise ConfigError(f"{config}: no settings file; write one (see config/variet.example.toml) or pass --config")
    spec = service_spec(config, at=args.at)
    if sys.platform == "win32":
        return _install_task(spec, print_only=args.print_only, start=not args.no_start)
    return _install_unit(spec, print_only=args.print_only, start=not args.no_start)


def _install_task(spec: ServiceSpec, *, print_only: bool, start: bool) -> int:
    user = f"{os.environ.get('USERDOMAIN', '')}\\{os.environ.get('USERNAME', '')}".lstrip("\\")
    xml = task_xml(spec, user)
    if print_only:
        print(xml, end="")
        return 0
    assert spec.log_file is not None
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="variet-task-") as folder:
        definition = Path(folder) / "task.xml"
        definition.write_text(xml, encoding="utf-16")
        done = _schtasks("/Create", "/TN", TASK_NAME, "/XML", str(definition), "/F")
    if done != 0:
        hint = " (--at startup needs an elevated prompt: run as administrator)" if spec.at == "startup" else ""
        print(f"variet: schtasks could not register the task{hint}", file=sys.stderr)
        return done
    if start:
        _schtasks("/Run", "/TN", TASK_NAME)
    print(f"registered the task {TASK_NAME!r} ({spec.at}); log: {spec.log_file}")
    print("check it with `variet engine service status`; remove it with `variet engine service uninstall`")
    return 0


def _install_unit(spec: ServiceSpec, *, print_only: bool, start: bool) -> int:
    unit = systemd_unit(spec)
    if print_only:
        print(unit, end="")
        return 0
    path = _unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit, encoding="utf-8")
    print(f"wrote {path}")
    steps = [["systemctl", "--user", "daemon-reload"],
             ["systemctl", "--user", "enable", *(["--now"] if start else []), UNIT_NAME]]
    if shutil.which("systemctl") is None:
        print("systemctl is not here: on a systemd system run\n  " + "\n  ".join(" ".join(s) for s in steps))
        return 0
    for step in steps:
        if subprocess.run(step).returncode != 0:
            print(f"variet: `{' '.join(step)}` failed; run it yourself once a user session bus runs", file=sys.stderr)
            return 1
    if spec.at == "startup":
        print(f"to start it at boot before you log in: sudo loginctl enable-linger {os.environ.get('USER', '$USER')}")
    print(f"log: journalctl --user -u {UNIT_NAME}")
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    if sys.platform == "win32":
        _schtasks("/End", "/TN", TASK_NAME)
        return _schtasks("/Delete", "/TN", TASK_NAME, "/F")
    path = _unit_path()
    if shutil.which("systemctl") is not None:
        subprocess.run(["systemctl", "--user", "disable", "--now", UNIT_NAME])
    if path.exists():
        path.unlink()
        print(f"removed {path}")
    if shutil.which("systemctl") is not None:
        subprocess.run(["systemctl", "--user", "daemon-reload"])
    return 0


def _status(args: argparse.Namespace) -> int:
    if sys.platform == "win32":
        from variet.shared.paths import logs_dir

        code = _schtasks("/Query", "/TN", TASK_NAME, "/FO", "LIST", "/V")
        print(f"log: {logs_dir() / 'engine.log'}")
        return code
    path = _unit_path()
    if not path.exists():
        print(f"not installed ({path} does not exist): run `variet engine service install`")
        return 3
    if shutil.which("systemctl") is None:
        print(f"{path} is written, but systemctl is not here to say whether it runs")
        return 0
    return subprocess.run(["systemctl", "--user", "status", "--no-pager", UNIT_NAME]).returncode


def _schtasks(*args: str) -> int:
    return subprocess.run(["schtasks", *args]).returncode


def _unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME
