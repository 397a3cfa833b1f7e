"""llama.cpp's RPC worker, run as users run it (`variet engine rpc-worker`) on a loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.parts.llama import find_llama_server
from variet.engine.llama.launcher import stop_process

_START_TIMEOUT = 30.0
_POLL_SECONDS = 0.05


@contextlib.contextmanager
def running_rpc_worker(port: int, log: Path, *, debug: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """`variet engine rpc-worker --listen 127.0.0.1:PORT`, using the rpc-server built beside the tests'
    llama-server; yields the process (the worker itself: the command execs it) once the port accepts.

    `debug` makes the worker log every command it serves (`GGML_RPC_DEBUG`): `[alloc_buffer]`, `[set_tensor]`,
    `[graph_compute]` ..."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_") and k != "GGML_RPC_DEBUG"}
    environ["VARIET_ENGINE_LLAMA_SERVER"] = str(find_llama_server())
    if debug:
        environ["GGML_RPC_DEBUG"] = "1"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "variet.cli", "engine", "rpc-worker", "--listen", f"127.0.0.1:{port}",
             "--threads", "1"], stdout=out, stderr=subprocess.STDOUT, env=environ)
    try:
        _wait_listening(process, port, log)
        yield process
    finally:
        stop_process(process, 10)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the RPC worker exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return  # the worker serves one client at a time and drops one that says nothing
        time.sleep(_POLL_SECONDS)
    pytest.fail(f"the RPC worker did not listen on 127.0.0.1:{port} within {_START_TIMEOUT:g} s")
