"""A child process and everything it starts, as one unit: asked to stop, killed, and dying with the engine.

llama-server in router mode spawns one process per loaded tier, so stopping it means stopping a tree.
- POSIX: the child leads a session of its own (`start_new_session`), so the tree is its process group:
  SIGTERM to the group asks, SIGKILL kills. On Linux the child also asks the kernel for SIGTERM when the
  engine dies, even by SIGKILL (`PR_SET_PDEATHSIG`). Files the tree writes are private (umask 077).
- Windows: the child is put in a Job Object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`; what it starts joins
  the job too. Only the engine holds the job's handle, so when the engine ends, however it ends, Windows
  closes the handle and kills the whole tree. The child also leads a process group of its own
  (`CREATE_NEW_PROCESS_GROUP`) so that CTRL_BREAK reaches it and its children, not the engine; killing is
  `TerminateJobObject`. Files are private through the owner-only ACL of the folders they are written in.
  The child runs for a moment before it joins the job (Python cannot start it suspended), before it could
  have started anything; an engine killed in exactly that moment would leave it running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

__all__ = ["ProcessTree"]


def _posix_child_setup() -> None:
    """In the child before exec: private files, and SIGTERM from Linux when the engine dies (see above)."""
    os.umask(0o077)
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


class ProcessTree:
    """One child and its descendants. Use `spawn_options()` when starting it, then `adopt(pid)` at once."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._job: int | None = None

    def spawn_options(self) -> dict[str, Any]:
        """Keyword arguments for `subprocess.Popen` or `asyncio.create_subprocess_exec`."""
        if sys.platform == "win32":
            return {"creationflags": _windows.CREATE_NEW_PROCESS_GROUP}
        return {"start_new_session": True, "preexec_fn": _posix_child_setup}

    def adopt(self, pid: int) -> None:
        """Take the started child in: on Windows, into a kill-on-close Job Object."""
        self.pid = pid
        if sys.platform == "win32":
            self._job = _windows.kill_on_close_job()
            _windows.assign(self._job, pid)

    def interrupt(self) -> bool:
        """Ask the tree to stop (SIGTERM to the group, or CTRL_BREAK to its process group on Windows).

        False when it could not be asked (already gone, or on Windows no console shared with it).
        """
        if self.pid is None:
            return False
        try:
            if sys.platform == "win32":
                os.kill(self.pid, signal.CTRL_BREAK_EVENT)
            else:
                os.killpg(self.pid, signal.SIGTERM)
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """Kill every process of the tree now (SIGKILL to the group, or TerminateJobObject). Idempotent."""
        if self.pid is None:
            return
        if sys.platform == "win32":
            if self._job is not None:
                _windows.terminate(self._job)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill what is left and let go of the job (Windows); on POSIX, the same as `kill`."""
        self.kill()
        if sys.platform == "win32" and self._job is not None:
            _windows.close(self._job)
            self._job = None


if sys.platform == "win32":
    from variet.engine.llama import _windows_job as _windows
