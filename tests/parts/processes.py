"""Whether processes are alive, and which `llama-server` processes make up a tree, on Linux and Windows."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

__all__ = ["alive", "ensure_console", "kill_hard", "tree_of"]


def kill_hard(pid: int) -> None:
    """End `pid` at once, as a crash would: SIGKILL on POSIX, TerminateProcess on Windows."""
    # On Windows os.kill with any signal but the two console events is TerminateProcess.
    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped does not count)."""
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = ctypes.c_void_p
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(ctypes.c_void_p(handle), ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(ctypes.c_void_p(handle))
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def ensure_console() -> None:
    """Windows: make sure this process has a console its children share, the way CTRL_BREAK reaches them (a
    program started from a terminal or by Task Scheduler has one); skip the test where none can be had
    (Wine 8 run headless cannot allocate one, nor deliver console control events)."""
    if sys.platform != "win32":
        return
    import ctypes

    import pytest

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetConsoleWindow.restype = ctypes.c_void_p
    if kernel32.GetConsoleWindow() or kernel32.AllocConsole():
        return
    pytest.skip("no console to carry CTRL_BREAK here (Wine run headless); a terminal or Task Scheduler has one")


def tree_of(root: int) -> list[int]:
    """`root` and its descendants that are alive (Windows: by parent process id; Linux: by process group)."""
    if sys.platform != "win32":
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == root and fields[0] != "Z":
                members.append(int(stat.parent.name))
        return members
    parents = _windows_parents()
    found = [root] if alive(root) else []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found += children
        frontier += children
    return found


def _windows_parents() -> dict[int, int]:
    """Every process's parent id, from a Toolhelp snapshot."""
    import ctypes
    from ctypes import wintypes

    class Entry(ctypes.Structure):
        _fields_ = [("dwSize", wintypes.DWORD), ("cntUsage", wintypes.DWORD), ("th32ProcessID", wintypes.DWORD),
                    ("th32DefaultHeapID", ctypes.c_size_t), ("th32ModuleID", wintypes.DWORD),
                    ("cntThreads", wintypes.DWORD), ("th32ParentProcessID", wintypes.DWORD),
                    ("pcPriClassBase", ctypes.c_long), ("dwFlags", wintypes.DWORD),
                    ("szExeFile", ctypes.c_wchar * 260)]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateToolhelp32Snapshot.restype = ctypes.c_void_p
    snapshot = ctypes.c_void_p(kernel32.CreateToolhelp32Snapshot(0x2, 0))  # TH32CS_SNAPPROCESS
    entry = Entry()
    entry.dwSize = ctypes.sizeof(Entry)
    parents: dict[int, int] = {}
    try:
        more = kernel32.Process32FirstW(snapshot, ctypes.byref(entry))
        while more:
            parents[int(entry.th32ProcessID)] = int(entry.th32ParentProcessID)
            more = kernel32.Process32NextW(snapshot, ctypes.byref(entry))
    finally:
        kernel32.CloseHandle(snapshot)
    return parents
