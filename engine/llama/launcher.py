"""Run `variet engine serve` as a child process on a free loopback port (the demo, tests and benchmarks).

`launch_engine` starts it, waits until `/health` answers, yields its URL and process, and stops it (and,
through the engine, llama-server with every model instance) on exit, on errors and on Ctrl-C. On Windows the
engine gets a process group of its own, so that it can be asked to stop with CTRL_BREAK (uvicorn's graceful
shutdown, as SIGTERM on POSIX) without the console's Ctrl-C reaching it twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx2

from variet.contract import EngineStatus
from variet.engine.llama.backend import free_port
from variet.shared.errors import VarietError

__all__ = ["EngineProcess", "launch_engine", "stop_process"]

_START_TIMEOUT = 60.0
_POLL_SECONDS = 0.05
_STOP_TIMEOUT = 20.0
_NEW_GROUP = 0x00000200 if sys.platform == "win32" else 0
"""CREATE_NEW_PROCESS_GROUP (creation flags are Windows's; 0 means none elsewhere)."""
_group_leaders: set[int] = set()
"""Windows: processes started here in a group of their own, the only ones CTRL_BREAK may be sent to (sent
to any other, it reaches every process on the console, this one included)."""


@dataclass
class EngineProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def status(self) -> EngineStatus:
        """The engine's `/variet/status`."""
        return EngineStatus.model_validate_json(httpx2.get(f"{self.url}/variet/status", timeout=10).content)


@contextlib.contextmanager
def launch_engine(config: Path, *, binary: Path | None = None, env: Mapping[str, str] | None = None,
                  listen_host: str = "127.0.0.1", log: Path | None = None,
                  wait: bool = True, verbose: bool = True, port: int | None = None) -> Iterator[EngineProcess]:
    """Start the engine with `config`; `binary` overrides the llama-server it runs, `port` the free port it takes.

    `verbose` logs debug messages (all of them, third-party ones included) to the engine's log file.
    """
    port = port or free_port()
    log = log or config.with_suffix(f".{port}.log")
    environ = {**os.environ, **(env or {})}
    if binary is not None:
        environ["VARIET_ENGINE_LLAMA_SERVER"] = str(binary)
    command = [sys.executable, "-m", "variet.cli", *(["-v"] if verbose else []), "engine", "serve",
               "--config", str(config), "--listen", f"{listen_host}:{port}"]
    if sys.platform == "win32":
        # The engine writes its log itself: a console program's output redirected to a file is what Wine
        # cannot give a Windows CPython (it dies at start-up), and it is the service's way too.
        log.write_bytes(b"")
        process = subprocess.Popen([*command, "--log-file", str(log)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ,
                                   creationflags=_NEW_GROUP)
    else:
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environ)
    if _NEW_GROUP:
        _group_leaders.add(process.pid)
    running = EngineProcess(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        if wait:
            _wait_healthy(running)
        yield running
    finally:
        stop_process(process, _STOP_TIMEOUT)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ask the process to stop, then kill it if it has not exited within `timeout` seconds; always reaped.

    Asking is SIGTERM on POSIX, and CTRL_BREAK on Windows for a process leading its own process group (as
    `launch_engine` starts it); where that cannot be delivered it is killed (TerminateProcess) at once.
    """
    if sys.platform == "win32":
        try:
            if process.pid not in _group_leaders:
                raise OSError("not the leader of a process group")
            process.send_signal(signal.CTRL_BREAK_EVENT)
        except OSError:
            process.kill()
        finally:
            _group_leaders.discard(process.pid)
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_healthy(engine: EngineProcess) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise VarietError(f"the engine exited with code {engine.process.returncode}; its log is {engine.log}:\n"
                              + engine.log.read_text(errors="replace")[-3000:])
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(f"{engine.url}/health", timeout=2).status_code == 200:
                return
        time.sleep(_POLL_SECONDS)
    raise VarietError(f"the engine did not become healthy within {_START_TIMEOUT:.0f} s; its log is {engine.log}")
