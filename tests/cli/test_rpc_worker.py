"""`variet engine rpc-worker`: loopback by default; any other address refused unless the user says they know
the protocol is unauthenticated. Nothing here binds anything but loopback: the refusal comes before any bind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from variet.engine.llama.rpc_worker import ALLOW_REMOTE_FLAG, check_rpc_bind, rpc_worker_command
from variet.shared.errors import ConfigError


@pytest.mark.parametrize("listen", ["0.0.0.0:50052", "192.168.1.30:50052", "[::]:50052"])
def test_a_non_loopback_listen_address_is_refused_before_anything_runs_with_the_safe_ways_named(listen: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    done = subprocess.run([sys.executable, "-m", "variet.cli", "engine", "rpc-worker", "--listen", listen],
                          capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    message = done.stderr
    assert "refusing to listen on" in message and "no authentication" in message
    assert "ssh -N -L 50052:127.0.0.1:50052" in message and "WireGuard" in message and ALLOW_REMOTE_FLAG in message


def test_loopback_needs_no_flag_and_the_flag_lets_an_overlay_address_through() -> None:
    check_rpc_bind("127.0.0.1", allow_remote=False)
    check_rpc_bind("::1", allow_remote=False)
    check_rpc_bind("100.64.0.7", allow_remote=True)  # a Tailscale address, say; checked, never bound here
    with pytest.raises(ConfigError, match="refusing"):
        check_rpc_bind("100.64.0.7", allow_remote=False)


def test_the_worker_command_is_llama_cpps_rpc_server_with_the_chosen_address() -> None:
    command = rpc_worker_command(Path("/opt/rpc-server"), "127.0.0.1", 50052, threads=2,
                                 device="CUDA0", cache=True)
    assert command == [str(Path("/opt/rpc-server")), "--host", "127.0.0.1", "--port", "50052", "--threads", "2",
                       "--device", "CUDA0", "--cache"]


def test_the_worker_runs_in_the_foreground_and_its_exit_code_is_the_commands() -> None:
    worker = "import sys; print('worker up', flush=True); sys.exit(7)"
    runner = ("import sys; from variet.engine.llama.rpc_worker import run_rpc_worker; "
              f"run_rpc_worker([sys.executable, '-c', {worker!r}])")
    done = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (7, "worker up\n"), done.stderr
