"""Secrets and other private files: from an environment variable or a file only its owner can read.

One rule everywhere (API keys, bot and MCP tokens, the Google sign-in, caches of the user's content):
- POSIX: files 0600 (or stricter), folders 0700. A file group or others may read is refused with
  `chmod 600 FILE`.
- Windows: mode bits mean nothing there, so files and folders are created with a protected ACL granting
  the current user, SYSTEM and Administrators alone (see `variet.shared.winacl`), and a file whose ACL lets
  anyone else in is refused with the `icacls` command that fixes it.

A file is refused, never silently tightened: it may be shared on purpose, and the owner should know.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from variet.shared import winacl
from variet.shared.errors import ConfigError

__all__ = [
    "Exposure",
    "exposure",
    "make_private_dir",
    "read_secret_file",
    "require_private",
    "secret_from",
    "write_private_file",
]


@dataclass(frozen=True)
class Exposure:
    """Why others may read a file, and the command that makes it private again."""

    detail: str
    """What is wrong: `mode 644`, or `its ACL lets Users in`."""
    fix: str
    """The command to run: `chmod 600 FILE`, or `icacls "FILE" /inheritance:r ...`."""


def exposure(path: str | os.PathLike[str], *, folder: bool = False) -> Exposure | None:
    """How others may read `path` (a file, or a folder when `folder`), or None when only its owner may.

    Raises FileNotFoundError when there is no such file.
    """
    file = Path(path)
    if sys.platform == "win32":
        problem = winacl.private_problem(str(file), folder=folder)
        return None if problem is None else Exposure(*problem)
    mode = stat.S_IMODE(file.stat().st_mode)
    if not mode & 0o077:
        return None
    return Exposure(f"mode {mode:o}", f"chmod {700 if folder else 600} {file}")


def require_private(path: str | os.PathLike[str], what: str = "secrets", *, folder: bool = False) -> None:
    """Raise `ConfigError` naming the fix when others may read `path`; FileNotFoundError when it is missing."""
    found = exposure(path, folder=folder)
    if found is not None:
        raise ConfigError(f"{path}: {found.detail}; {what} must be private: run `{found.fix}`")


def read_secret_file(path: str | os.PathLike[str]) -> str:
    """Read a secret from a file that only its owner may read, refused (with the fix) otherwise."""
    file = Path(path).expanduser()
    try:
        require_private(file)
    except FileNotFoundError:
        raise ConfigError(f"{file}: secret file not found") from None
    secret = file.read_text(encoding="utf-8").strip()
    if not secret:
        raise ConfigError(f"{file}: secret file is empty")
    return secret


def secret_from(env_var: str, file: str | os.PathLike[str] | None, *,
                environ: Mapping[str, str] | None = None) -> str | None:
    """The secret in `env_var` when set and not blank, else the one in the private `file`, else None.

    Raises `ConfigError` when the file is missing, empty or readable by others.
    """
    value = (os.environ if environ is None else environ).get(env_var, "").strip()
    if value:
        return value
    return read_secret_file(file) if file else None


def make_private_dir(path: Path) -> None:
    """Create the folder `path` private to its owner (0700 / owner-only ACL), and missing parents as usual.

    An existing folder is left as it is; check it with `exposure(path, folder=True)` where it matters.
    """
    if sys.platform != "win32":
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        winacl.create_private_dir(str(path))


def write_private_file(path: Path, text: str) -> None:
    """Write `text` atomically to a file only its owner can read, creating a private folder for it."""
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = _create_private(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if fd != -1:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _create_private(path: Path) -> int:
    """A new file, private from its creation (so no one can open it before it is locked down)."""
    if sys.platform == "win32":
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return winacl.open_private_file(str(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    return fd
