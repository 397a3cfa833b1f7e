"""On Windows, llama-server.exe lives and dies with the engine: a Job Object, and CTRL_BREAK to stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.parts.engine import run_engine, write_config
from tests.parts.processes import alive, ensure_console, tree_of
from tests.parts.waiting import wait_until
from variet.engine.llama.launcher import stop_process

pytestmark = [pytest.mark.llama, pytest.mark.windows_only]

CHAT = {"model": "fast", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


def test_on_windows_an_engine_killed_outright_leaves_no_llama_server_exe(tiny_dir: Path) -> None:
    with run_engine(write_config(tiny_dir)) as running:
        assert httpx2.post(f"{running.url}/v1/chat/completions", json=CHAT, timeout=60).status_code == 200
        router: Any = running.status().backend.pid
        tree = tree_of(router)
        assert len(tree) >= 2, tree  # the router and the fast instance
        running.process.kill()  # TerminateProcess: no clean-up code of the engine runs
        running.process.wait()
        wait_until("llama-server.exe and its instance to exit", lambda: not any(alive(p) for p in tree), timeout=30)


def test_on_windows_ctrl_break_stops_the_engine_gracefully_and_llama_server_with_it(tiny_dir: Path) -> None:
    ensure_console()  # as in a terminal or under Task Scheduler: the engine and llama-server share it
    with run_engine(write_config(tiny_dir)) as running:
        assert httpx2.post(f"{running.url}/v1/chat/completions", json=CHAT, timeout=60).status_code == 200
        tree = tree_of(running.status().backend.pid)
        stop_process(running.process, 30)
        assert running.process.returncode == 0, running.log.read_text(errors="replace")[-2000:]
        assert [pid for pid in tree if alive(pid)] == []
