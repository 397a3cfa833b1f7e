"""The pinned Node tools `scripts/node-tools` installs: MCP Inspector CLI, MCP conformance suite, Claude Code.

`node_tools()` asks the script (`--check`, milliseconds) whether the pinned set is installed and fails the
test, never skips, when it is not. `NodeTools.env()` is the environment to run them in: their bin dir
(with Node >= 22 when the system's is older) first on PATH, and nothing else from ours unless asked.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

__all__ = ["SCRIPT", "NodeTools", "Ran", "node_tools", "run_tool"]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "node-tools"
_BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class NodeTools:
    bin_dir: Path

    @property
    def inspector(self) -> str:
        return str(self.bin_dir / "inspector")

    @property
    def conformance(self) -> str:
        return str(self.bin_dir / "conformance")

    @property
    def claude(self) -> str:
        return str(self.bin_dir / "claude")

    def env(self, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A minimal environment with `home` as HOME (so no user configuration leaks in) plus `extra`."""
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{_BASE_PATH}",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            **(extra or {}),
        }


def node_tools() -> NodeTools:
    """The installed tools; fails the test with what to run when they are missing or not the pinned set."""
    try:
        done = subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        pytest.fail(f"cannot run {SCRIPT}: {exc}")
    if done.returncode != 0:
        pytest.fail(done.stderr.strip() or "the pinned Node tools are missing: run scripts/node-tools")
    return NodeTools(Path(done.stdout.strip()))


@dataclass(frozen=True)
class Ran:
    """A finished tool run, printable as a failure message."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (f"$ {' '.join(self.command)}\nexit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}"
                f"\n--- stderr\n{self.stderr[-4000:]}")


async def run_tool(command: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None) -> Ran:
    """Run a tool to completion; a cancelled run (bound it with `anyio.fail_after`) kills it."""
    done = await anyio.run_process(list(command), env=dict(env), cwd=cwd, check=False)
    return Ran(list(command), done.returncode, done.stdout.decode(errors="replace"),
               done.stderr.decode(errors="replace"))
