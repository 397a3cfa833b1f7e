"""Owner-only files in tests, on either platform: open one to others, or ask whether it is private.

POSIX: mode bits. Windows: an ACL entry letting Everyone read, set through the product's own SDDL helper.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from variet.shared.secrets import exposure

__all__ = ["FIX_FILE", "FIX_FOLDER", "expose", "is_private"]

FIX_FILE = "icacls" if sys.platform == "win32" else "chmod 600"
"""What the refusal of a file others may read names as the fix."""
FIX_FOLDER = "icacls" if sys.platform == "win32" else "chmod 700"


def expose(path: Path) -> None:
    """Let everyone read `path` (and, for a folder, list it)."""
    if sys.platform == "win32":
        from variet.shared import winacl

        sid = winacl.current_user_sid()
        winacl.set_sddl(str(path), f"D:P(A;;FA;;;{sid})(A;;FR;;;WD)")
    else:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def is_private(path: Path) -> bool:
    """Whether only the owner (and, on Windows, SYSTEM and Administrators) may open `path`."""
    if sys.platform == "win32":
        return exposure(path) is None
    return not stat.S_IMODE(path.stat().st_mode) & 0o077
