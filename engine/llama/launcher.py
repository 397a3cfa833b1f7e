"""Run `variet engine serve` as a child process on a free loopback port (the demo, tests and benchmarks).

`launch_engine` starts it, waits until `/health` answers, yields its URL and process, and stops it (and,
through the engine, llama-server with every model instance) on exit, on errors and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
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
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "variet.cli", *(["-v"] if verbose else []), "engine", "serve",
             "--config", str(config), "--listen", f"{listen_host}:{port}"],
            stdout=out, stderr=subprocess.STDOUT, env=environ,
        )
    running = EngineProcess(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        if wait:
            _wait_healthy(running)
        yield running
    finally:
        stop_process(process, _STOP_TIMEOUT)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds; always reaped."""
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
