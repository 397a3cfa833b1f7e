"""Where the installed console scripts (`variet`, `variet-<server>`) are: `bin/` on POSIX, `Scripts\\` as `.exe`
launchers on Windows."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

__all__ = ["console_script"]


def console_script(name: str) -> str:
    """The path of the console script `name` installed with this interpreter's Variet."""
    folder = Path(sysconfig.get_path("scripts"))
    if not folder.is_dir():
        folder = Path(sys.executable).parent
    return str(folder / (f"{name}.exe" if sys.platform == "win32" else name))
