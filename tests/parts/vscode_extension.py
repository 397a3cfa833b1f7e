"""The VS Code extension (`vscode/`) built for tests: its npm packages installed, compiled and packaged.

`compiled_extension(node)` runs `npm ci` when `package-lock.json` changed since the last install (a stamp in
`node_modules` holds the lock file's hash), then `tsc`; `package_vsix(node, folder, out)` packages an
extension folder with the extension's own `vsce`, as `make vscode` does. Both fail the test, never skip.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.parts.node import NodeTools

__all__ = ["EXTENSION", "compiled_extension", "node_env", "npm_env", "package_vsix"]

EXTENSION = Path(__file__).resolve().parents[2] / "vscode"
_STAMP = EXTENSION / "node_modules" / ".variet-lock-sha256"


def node_env(node: NodeTools, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for running tests: the pinned Node first on PATH, HOME, and `extra`."""
    return {
        "PATH": f"{node.bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        **(extra or {}),
    }


def npm_env(node: NodeTools) -> dict[str, str]:
    """The user's environment (npm needs its registry, proxy and CA settings) with the pinned Node first."""
    return {**os.environ, "PATH": f"{node.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_UPDATE_NOTIFIER": "1"}


def _run(node: NodeTools, *command: str, cwd: Path = EXTENSION) -> None:
    try:
        done = subprocess.run(list(command), cwd=cwd, env=npm_env(node), capture_output=True, text=True,
                              timeout=600, check=False)
    except OSError as exc:
        pytest.fail(f"cannot run {command[0]}: {exc}")
    if done.returncode != 0:
        pytest.fail(f"$ {' '.join(command)} (in {cwd})\nexit {done.returncode}\n{done.stdout[-4000:]}\n"
                    f"{done.stderr[-4000:]}")


def compiled_extension(node: NodeTools) -> Path:
    """`vscode/` with its packages installed and `out/` compiled; returns the folder."""
    lock = hashlib.sha256((EXTENSION / "package-lock.json").read_bytes()).hexdigest()
    if not _STAMP.is_file() or _STAMP.read_text().strip() != lock:
        _run(node, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
        _STAMP.write_text(lock + "\n")
    _run(node, str(EXTENSION / "node_modules" / ".bin" / "tsc"), "-p", ".")
    return EXTENSION


def package_vsix(node: NodeTools, folder: Path, out: Path) -> Path:
    """`folder` (an extension with a package.json) packaged as `out` by vsce, without its dependencies."""
    _run(node, str(EXTENSION / "node_modules" / ".bin" / "vsce"), "package", "--no-dependencies",
         "--allow-missing-repository", "--skip-license", "--out", str(out), cwd=folder)
    return out
