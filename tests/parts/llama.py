"""The real llama-server binary: find the build and run one instance on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from variet.engine.llama.build import cache_root, cached_llama_server
from variet.engine.llama.launcher import stop_process

_POLL_SECONDS = 0.05


def find_llama_server() -> Path:
    """`$VARIET_LLAMA_SERVER`, else the cached build for this machine and `CMAKE_ARGS` (what `variet engine
    install-llama-server` made), else the newest cached one; fails the test (never skips) when there is none."""
    explicit = os.environ.get("VARIET_LLAMA_SERVER")
    if explicit:
        path = Path(explicit).expanduser()
        if not os.access(path, os.X_OK):
            pytest.fail(f"VARIET_LLAMA_SERVER={explicit} is not an executable file")
        return path
    current = cached_llama_server()
    if current is not None:
        return current
    root: Path = cache_root()
    name = "llama-server.exe" if sys.platform == "win32" else "llama-server"
    builds = list(root.glob(f"llama-server/*/bin/{name}"))
    found = [path for path in builds if os.access(path, os.X_OK)]
    if not found:
        pytest.fail(
            f"llama-server not found under {root}: run `variet engine install-llama-server` "
            "(or set VARIET_LLAMA_SERVER to a llama-server binary)"
        )
    return max(found, key=lambda path: path.stat().st_mtime)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_llama_server(*args: str, log: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run `llama-server ARGS` on 127.0.0.1 and yield its base URL once `/health` answers 200.

    The process is terminated (then killed if it lingers) on exit; a start that fails or outlasts
    `timeout` fails the test with the end of the server's log.
    """
    port = _free_port()
    command = [str(find_llama_server()), *args, "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, url, log, timeout)
        yield url
    finally:
        stop_process(process, 10)


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama-server exited with {process.returncode}:\n{_tail(log)}")
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(_POLL_SECONDS)
    pytest.fail(f"llama-server was not healthy within {timeout:g} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
