"""`variet engine rpc-worker`: llama.cpp's RPC worker (`rpc-server`), which lends this box's device to a tier
served by an engine on another box (`rpc = ["HOST:PORT"]` in that engine's tiers.toml).

The RPC protocol has no authentication, and llama.cpp calls the worker unsafe on an open network: whoever
reaches its port can store tensors in and run graphs on this box's memory and devices. So, as the engine
refuses a LAN bind without an API key, the worker binds to loopback unless the user passes
`--allow-remote-unauthenticated`, and the README shows how to reach a loopback worker safely: an SSH tunnel
from the engine's box, or a private overlay network (WireGuard, Tailscale) whose address is the one bound.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from variet.engine.llama.build import cached_rpc_server
from variet.shared.config import Settings
from variet.shared.errors import ConfigError
from variet.shared.net import is_loopback

__all__ = ["ALLOW_REMOTE_FLAG", "DEFAULT_RPC_LISTEN", "check_rpc_bind", "find_rpc_server", "rpc_worker_command",
           "run_rpc_worker"]

DEFAULT_RPC_LISTEN = "127.0.0.1:50052"
"""llama.cpp's default RPC port, on loopback."""
ALLOW_REMOTE_FLAG = "--allow-remote-unauthenticated"
_RPC_SERVER = "rpc-server"
_STOP_SECONDS = 10.0


def check_rpc_bind(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback bind unless the user said, with the flag, that they know it is unauthenticated."""
    if is_loopback(host) or allow_remote:
        return
    raise ConfigError(
        f"refusing to listen on {host}: llama.cpp's RPC protocol has no authentication, so anyone who reaches the "
        f"port can use this box's memory and devices. Keep the worker on 127.0.0.1 and reach it through an SSH "
        f"tunnel from the engine's box (`ssh -N -L 50052:127.0.0.1:50052 THIS-BOX`, then rpc = "
        f"[\"127.0.0.1:50052\"] in its tiers.toml), or bind the address of a private overlay network "
        f"(WireGuard, Tailscale) and pass {ALLOW_REMOTE_FLAG} to say you know it is unauthenticated"
    )


def find_rpc_server(settings: Settings) -> Path:
    """The `rpc-server` next to `[engine] llama_server` if that is set, else the cached build's."""
    if settings.engine.llama_server:
        server = settings.relative_path(settings.engine.llama_server)
        path = server.with_name(_RPC_SERVER + server.suffix)  # rpc-server.exe beside llama-server.exe
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: build llama.cpp's RPC worker (cmake target ggml-rpc-server, "
                              f"-DGGML_RPC=ON) next to [engine] llama_server, or unset llama_server and run "
                              f"`variet engine install-llama-server`")
        return path
    cached = cached_rpc_server()
    if cached is None:
        raise ConfigError("llama.cpp's RPC worker is not built yet: run `variet engine install-llama-server` "
                          "(it builds rpc-server beside llama-server; takes minutes)")
    return cached


def rpc_worker_command(binary: Path, host: str, port: int, *, threads: int | None = None,
                       device: str | None = None, cache: bool = False) -> list[str]:
    """The `rpc-server` command line."""
    command = [str(binary), "--host", host, "--port", str(port)]
    if threads is not None:
        command += ["--threads", str(threads)]
    if device is not None:
        command += ["--device", device]
    if cache:
        command.append("--cache")
    return command


def run_rpc_worker(command: list[str]) -> None:
    """Become the worker: signals and the exit code are its own. Does not return.

    POSIX replaces this process (exec). Windows has no such exec (`os.execv` starts a new process and
    ends this one, so a console or Task Scheduler would lose track of the worker): there the worker runs
    as a child tied to this process (a Job Object), Ctrl-C asks it to stop, and its exit code is ours.
    """
    if sys.platform != "win32":
        os.execv(command[0], command)
    from variet.engine.llama.process_tree import ProcessTree

    tree = ProcessTree()
    with subprocess.Popen(command, **tree.spawn_options()) as worker:
        try:
            tree.adopt(worker.pid)
            try:
                code = worker.wait()
            except KeyboardInterrupt:
                tree.interrupt()
                try:
                    code = worker.wait(_STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    tree.kill()
                    code = worker.wait()
        finally:
            tree.close()
    raise SystemExit(code)
