"""Where Variet keeps its files, by platform: settings, caches, state and logs.

| what | Linux and macOS (unchanged) | Windows |
|---|---|---|
| settings (`variet.toml`, the Google sign-in) | `~/.config/variet` | `%APPDATA%\\variet` |
| caches (llama-server builds, models, prompt caches) | `~/.cache/variet` | `%LOCALAPPDATA%\\variet\\cache` |
| state (the Discord assistant's pins) | `~/.local/state/variet` | `%LOCALAPPDATA%\\variet\\state` |
| logs (the engine run as a service) | `~/.local/state/variet/logs` | `%LOCALAPPDATA%\\variet\\logs` |

(The llama-server build cache also honours `VARIET_CACHE_DIR`.) On POSIX the paths keep their `~` (expand them
where they are used, as settings paths are); on Windows they are absolute. Each function takes the platform
and the environment, so tests choose them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath

__all__ = ["cache_dir", "config_dir", "logs_dir", "state_dir"]

_APP = "variet"


def _windows(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    base = environ.get(variable) or str(PureWindowsPath(environ.get("USERPROFILE") or "~", fallback))
    return Path(base) / _APP


def config_dir(*, platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> Path:
    """Settings and secrets: `~/.config/variet`, or `%APPDATA%\\variet` (roaming, as Windows apps keep settings)."""
    environ = os.environ if environ is None else environ
    if platform == "win32":
        return _windows(environ, "APPDATA", "AppData/Roaming")
    return Path("~/.config") / _APP


def cache_dir(*, platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> Path:
    """Caches that can be made again: `~/.cache/variet`, or `%LOCALAPPDATA%\\variet\\cache`."""
    environ = os.environ if environ is None else environ
    if platform == "win32":
        return _windows(environ, "LOCALAPPDATA", "AppData/Local") / "cache"
    return Path("~/.cache") / _APP


def state_dir(*, platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> Path:
    """State kept across runs: `~/.local/state/variet`, or `%LOCALAPPDATA%\\variet\\state`."""
    environ = os.environ if environ is None else environ
    if platform == "win32":
        return _windows(environ, "LOCALAPPDATA", "AppData/Local") / "state"
    return Path("~/.local/state") / _APP


def logs_dir(*, platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> Path:
    """Logs of the engine run at boot: `~/.local/state/variet/logs`, or `%LOCALAPPDATA%\\variet\\logs`."""
    environ = os.environ if environ is None else environ
    if platform == "win32":
        return _windows(environ, "LOCALAPPDATA", "AppData/Local") / "logs"
    return state_dir(platform=platform, environ=environ) / "logs"
