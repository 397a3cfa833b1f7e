"""Launch the real engine (`variet engine serve`) on tiny tiers and a real llama-server, on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.parts.llama import find_llama_server
from tests.parts.waiting import wait_until
from variet.contract import EngineStatus
from variet.engine.llama.backend import free_port
from variet.engine.llama.launcher import EngineProcess, launch_engine
from variet.shared.errors import VarietError

_START_TIMEOUT = 60.0
_POLL = 0.05


def llama_server_binary() -> Path:
    """The llama-server the tests drive (see `find_llama_server`): fails, never skips, when it is missing."""
    return find_llama_server()


def write_config(directory: Path, *, extra_engine: str = "", tiers_file: str = "tiers.toml") -> Path:
    """A variet.toml for tiny tiers in `directory` with test-friendly engine settings.

    Each config gets a prompt cache folder of its own beside it (unless `extra_engine` sets one), so engines
    never share one with each other or with the user's.
    """
    name = f"variet-{free_port()}"
    config = directory / f"{name}.toml"
    cache = "" if "prompt_cache_dir" in extra_engine else f'prompt_cache_dir = "{name}-prompt-cache"\n'
    config.write_text(
        "[engine]\n"
        f'tiers_file = "{tiers_file}"\n'
        "backend_args = { threads = 1 }\n"
        f"{cache}"
        f"{extra_engine}\n"
    )
    return config


class RunningEngine(EngineProcess):
    """The launched engine, plus a bounded wait on its status for tests."""

    def wait_for(self, predicate: str, check: Callable[[EngineStatus], bool], timeout: float = 30.0) -> EngineStatus:
        """Poll /variet/status until `check(status)` is true; fail with the last status otherwise."""
        last: list[EngineStatus] = []

        def ready() -> EngineStatus | None:
            last[:] = [self.status()]
            return last[0] if check(last[0]) else None

        return wait_until(predicate, ready, timeout=timeout, interval=_POLL,
                          describe=lambda: f"last status: {last[0] if last else None}")


@contextmanager
def run_engine(config: Path, *, listen_host: str = "127.0.0.1", env: dict[str, str] | None = None,
               wait: bool = True, port: int | None = None) -> Iterator[RunningEngine]:
    """Start the engine as a subprocess and stop it (and its llama-server) afterwards; `port`: a given one."""
    environ = {k: v for k, v in os.environ.items() if k != "VARIET_CONFIG"} | (env or {})
    try:
        with launch_engine(config, binary=llama_server_binary(), env=environ, listen_host=listen_host,
                           wait=wait, port=port) as launched:
            yield RunningEngine(url=launched.url, process=launched.process, log=launched.log)
    except VarietError as exc:
        pytest.fail(str(exc))
