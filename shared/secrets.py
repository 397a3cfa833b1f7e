"""Secrets in files: readable only by their owner (mode 0600 or stricter), or refused with the fix."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

from variet.shared.errors import ConfigError

__all__ = ["loose_mode", "read_secret_file", "write_private_file"]


def loose_mode(path: Path) -> int | None:
    """The permission bits of `path` when its group or others may use it, else None (private).

    Raises FileNotFoundError when there is no such file.
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode if mode & 0o077 else None


def read_secret_file(path: str | os.PathLike[str]) -> str:
    """Read a secret from a file that only its owner may read or write (mode 0600 or stricter)."""
    file = Path(path).expanduser()
    try:
        mode = loose_mode(file)
    except FileNotFoundError:
        raise ConfigError(f"{file}: secret file not found") from None
    if mode is not None:
        raise ConfigError(f"{file}: mode is {mode:o}; secrets must be private: run `chmod 600 {file}`")
    secret = file.read_text(encoding="utf-8").strip()
    if not secret:
        raise ConfigError(f"{file}: secret file is empty")
    return secret


def write_private_file(path: Path, text: str) -> None:
    """Write `text` atomically to a file only its owner can read (0600), creating a 0700 folder."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if fd != -1:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
