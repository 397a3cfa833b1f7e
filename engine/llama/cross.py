"""Cross-building `llama-server.exe` on Linux: clang and lld targeting MinGW-w64 (Debian's `clang`, `lld`,
`mingw-w64`), static, so the exe needs no DLL beside it.

clang rather than MinGW GCC: GCC's build crashes in llama-server's router mode on the first proxied request
(a `thread_local` destructor corrupting the heap: mingw-w64 bug 527, GCC PR 80816), on Wine and Windows alike.
clang uses MinGW GCC's libstdc++ (the `-posix` thread model, for `std::thread`), which brings two gaps that two
small sources written here close:
- Debian's MinGW libstdc++ keeps `std::call_once`'s state in GCC's emulated TLS while clang emits native TLS
  references, so `once.cpp` defines `std::__once_callable`, `std::__once_call` and `__once_proxy` natively.
- MinGW-w64 10 (Debian 12) declares `SetThreadInformation` but not `THREAD_POWER_THROTTLING_STATE`, which
  ggml-cpu.c passes to it; `compat.h` supplies the struct when the headers lack it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from variet.engine.errors import CrossToolchainError

__all__ = ["TRIPLE", "cross_cmake_args", "missing_tools", "toolchain_args"]

TRIPLE = "x86_64-w64-mingw32"
_SYSROOT = Path("/usr") / TRIPLE
_GCC_ROOT = Path("/usr/lib/gcc") / TRIPLE
_TOOLS = {"clang": "clang", "clang++": "clang", "ld.lld": "lld", f"{TRIPLE}-windres": "mingw-w64"}

_ONCE_CPP = """\
// std::call_once state with native TLS (Debian's MinGW libstdc++ was built with emulated TLS).
namespace std {
__thread void* __once_callable;
__thread void (*__once_call)();
}
extern "C" void __once_proxy() { std::__once_call(); }
"""

_COMPAT_H = """\
/* THREAD_POWER_THROTTLING_STATE for MinGW-w64 headers older than 11 (used by ggml-cpu.c). */
#ifndef VARIET_COMPAT_H
#define VARIET_COMPAT_H
typedef struct _THREAD_POWER_THROTTLING_STATE {
    unsigned long Version;
    unsigned long ControlMask;
    unsigned long StateMask;
} THREAD_POWER_THROTTLING_STATE;
#define THREAD_POWER_THROTTLING_CURRENT_VERSION 1
#define THREAD_POWER_THROTTLING_EXECUTION_SPEED 0x1
#endif
"""


def missing_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The Debian packages still needed for the cross-build (empty when all are there)."""
    packages = {package for tool, package in _TOOLS.items() if which(tool) is None}
    if which("cmake") is None:
        packages.add("cmake")
    return sorted(packages)


def _gcc_dir(root: Path = _GCC_ROOT) -> Path:
    # The posix thread model's libstdc++ has std::thread and std::mutex; the win32 one (GCC 12) has not.
    candidates = [path for path in root.glob("*-posix") if (path / "include" / "c++").is_dir()]
    if not candidates:
        raise CrossToolchainError(f"MinGW-w64's posix-thread libstdc++ is missing under {root}; "
                                  "install it with: apt-get install mingw-w64")

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.name))

    return max(candidates, key=version)


def _lacks_power_throttling(include: Path) -> bool:
    return not any("THREAD_POWER_THROTTLING_STATE" in header.read_text(errors="replace")
                   for header in include.glob("*.h") if header.name in ("winnt.h", "processthreadsapi.h"))


def cross_cmake_args(work: Path) -> list[str]:
    """The CMake arguments selecting clang + lld for Windows x86-64, with the shims built into `work`.

    Raises `CrossToolchainError` naming the Debian packages to install when a tool is missing.
    """
    if missing := missing_tools():
        raise CrossToolchainError(
            "cross-building llama-server.exe needs clang, lld and MinGW-w64; install them with: "
            f"apt-get install --no-install-recommends {' '.join(missing)}")
    work.mkdir(parents=True, exist_ok=True)
    (work / "once.cpp").write_text(_ONCE_CPP)
    once = work / "once.o"
    done = subprocess.run(["clang++", f"--target={TRIPLE}", "-O2", "-c", str(work / "once.cpp"), "-o", str(once)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CrossToolchainError(f"clang could not build the call_once shim: {done.stderr.strip()[-500:]}")
    compat = None
    if _lacks_power_throttling(_SYSROOT / "include"):
        compat = work / "compat.h"
        compat.write_text(_COMPAT_H)
    return toolchain_args(_gcc_dir(), once=once, compat=compat)


def toolchain_args(gcc: Path, *, once: Path, compat: Path | None, sysroot: Path = _SYSROOT) -> list[str]:
    """The CMake arguments for clang + lld targeting MinGW-w64 with GCC's libstdc++ from `gcc`
    (`/usr/lib/gcc/x86_64-w64-mingw32/<version>-posix`), linking the `once` object and force-including
    `compat` into C sources when given."""
    cxx = gcc / "include" / "c++"
    cxx_flags = f"-nostdinc++ -isystem {cxx} -isystem {cxx / TRIPLE} -isystem {cxx / 'backward'}"
    return [
        "-DCMAKE_SYSTEM_NAME=Windows",
        "-DCMAKE_SYSTEM_PROCESSOR=x86_64",
        "-DCMAKE_C_COMPILER=clang",
        "-DCMAKE_CXX_COMPILER=clang++",
        f"-DCMAKE_C_COMPILER_TARGET={TRIPLE}",
        f"-DCMAKE_CXX_COMPILER_TARGET={TRIPLE}",
        f"-DCMAKE_RC_COMPILER={TRIPLE}-windres",
        f"-DCMAKE_FIND_ROOT_PATH={sysroot}",
        "-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER",
        "-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY",
        "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY",
        f"-DCMAKE_C_FLAGS={f'-include {compat}' if compat else ''}",
        f"-DCMAKE_CXX_FLAGS={cxx_flags}",
        # -static: one exe, no MinGW runtime DLLs beside it.
        f"-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -static -L{gcc}",
        # The posix thread model's libstdc++ calls into winpthread.
        f"-DCMAKE_CXX_STANDARD_LIBRARIES={once} -lwinpthread",
    ]
