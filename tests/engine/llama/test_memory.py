"""The per-GPU memory budget: declared and estimated needs, and resident sets that cannot fit refused with numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from variet.devtools.tiny_models import CODER, TINY_MODELS, write_tiny_model
from variet.engine.errors import MemoryPlanError
from variet.engine.llama.gguf_facts import read_gguf_facts
from variet.engine.llama.memory import COMPUTE_BUFFER_GB, check_residents, tier_need
from variet.shared.tiers import load_tiers

MACHINE_A = """
gpu_memory_gb = [12, 12]

[tiers.coder]
model = "coder.gguf"
context = 8192
gpus = [1]
memory_gb = [{coder}]
tokens_per_second = 120
load_seconds = 3
resident = true
fim = true

[tiers.fast]
model = "fast.gguf"
context = 65536
gpus = [0, 1]
memory_gb = [10.1, 10.4]
tokens_per_second = 75
load_seconds = 20

[tiers.ultra]
model = "ultra.gguf"
context = 32768
gpus = [1]
memory_gb = [11.2]
args = {{ n-cpu-moe = 30 }}
tokens_per_second = 9
load_seconds = 90
"""



def _isolated_env(home: Path) -> dict[str, str]:
    """The environment with `home` as every per-user folder and no VARIET_ overrides (Windows needs the rest)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    return {**env, "HOME": str(home), "APPDATA": str(home), "LOCALAPPDATA": str(home)}

def _catalogue(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiers.toml"
    path.write_text(text)
    return path


def test_a_resident_that_fits_beside_the_largest_swapping_tier_on_its_gpu_passes(tmp_path: Path) -> None:
    rows = check_residents(load_tiers(_catalogue(tmp_path, MACHINE_A.format(coder=0.8))))
    gpu1 = rows[1]
    assert gpu1.residents == {"coder": 0.8} and gpu1.largest_swapping == ("ultra", 11.2)
    assert gpu1.need_gb == 12.0 and gpu1.fits


def test_a_resident_set_that_cannot_fit_is_refused_naming_the_gpu_the_tiers_and_the_numbers(tmp_path: Path) -> None:
    with pytest.raises(MemoryPlanError) as refused:
        check_residents(load_tiers(_catalogue(tmp_path, MACHINE_A.format(coder=1.5))))
    message = str(refused.value)
    assert "GPU 1: coder 1.5 GB (resident) + ultra 11.2 GB (largest swapping tier) = 12.7 GB of 12 GB" in message
    assert "DOES NOT FIT" in message and "GPU 0" not in message


def _preset(home: Path, tiers: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "variet.cli", "engine", "preset", "--tiers", str(tiers)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"VARIET_CONFIG": os.devnull, "HOME": str(home)})


def test_variet_engine_preset_refuses_an_impossible_resident_set_with_the_numbers(tmp_path: Path) -> None:
    done = _preset(tmp_path, _catalogue(tmp_path, MACHINE_A.format(coder=1.5)))
    assert done.returncode == 2, done.stderr
    assert "= 12.7 GB of 12 GB DOES NOT FIT" in done.stderr and done.stdout == ""
    done = _preset(tmp_path, _catalogue(tmp_path, MACHINE_A.format(coder=0.8)))
    assert done.returncode == 0, done.stderr
    assert "; resident tiers: coder (llama-server --models-max 2)" in done.stdout
    assert ("; GPU 1: coder 0.8 GB (resident) + ultra 11.2 GB (largest swapping tier) = 12 GB of 12 GB fits"
            in done.stdout)


def test_a_need_is_estimated_from_the_gguf_file_and_the_context_split_as_tensor_split_says(tmp_path: Path) -> None:
    write_tiny_model(tmp_path / "fast.gguf", TINY_MODELS[0])
    catalogue = load_tiers(_catalogue(tmp_path, """
[tiers.fast]
model = "fast.gguf"
context = 32768
gpus = [0, 1]
tensor_split = [3, 1]
tokens_per_second = 75
load_seconds = 20
"""))
    need = tier_need(catalogue, "fast")
    facts = read_gguf_facts(tmp_path / "fast.gguf")
    total = (tmp_path / "fast.gguf").stat().st_size + facts.kv_cache_bytes(32768, 2.0)
    assert need.source == "estimated"
    assert need.per_gpu == {0: round(total * 0.75 / 1e9 + COMPUTE_BUFFER_GB, 2),
                            1: round(total * 0.25 / 1e9 + COMPUTE_BUFFER_GB, 2)}


def test_a_tier_partly_on_the_cpu_or_without_its_file_is_unknown_and_says_to_declare_it(tmp_path: Path) -> None:
    catalogue = load_tiers(_catalogue(tmp_path, MACHINE_A.replace("memory_gb = [11.2]\n", "").format(coder=0.8)))
    assert "declare `memory_gb`" in tier_need(catalogue, "ultra").note
    rows = check_residents(catalogue)
    assert rows[1].unknown == ["ultra"] and rows[1].largest_swapping == ("fast", 10.4)


def test_the_fim_tokens_of_a_vocabulary_are_found_as_llama_cpp_finds_them(tmp_path: Path) -> None:
    write_tiny_model(tmp_path / "coder.gguf", CODER)
    write_tiny_model(tmp_path / "fast.gguf", TINY_MODELS[0])
    assert read_gguf_facts(tmp_path / "coder.gguf").fim_missing == ()
    assert read_gguf_facts(tmp_path / "fast.gguf").fim_missing == ("prefix", "suffix", "middle")


def test_the_engine_refuses_to_start_with_residents_that_cannot_fit(tmp_path: Path) -> None:
    _catalogue(tmp_path, MACHINE_A.format(coder=1.5))
    config = tmp_path / "variet.toml"
    config.write_text('[engine]\ntiers_file = "tiers.toml"\nlisten = "127.0.0.1:0"\n')
    done = subprocess.run([sys.executable, "-m", "variet.cli", "engine", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False, env=_isolated_env(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "GPU 1: coder 1.5 GB (resident) + ultra 11.2 GB (largest swapping tier) = 12.7 GB" in done.stderr


def test_doctor_shows_the_budget_per_gpu_and_fails_the_gpu_that_cannot_hold_the_residents(tmp_path: Path) -> None:
    _catalogue(tmp_path, MACHINE_A.format(coder=1.5))
    config = tmp_path / "variet.toml"
    config.write_text('[engine]\ntiers_file = "tiers.toml"\nurl = "http://127.0.0.1:9"\n')
    done = subprocess.run([sys.executable, "-m", "variet.cli", "doctor", "--skip-servers", "--json", "--config",
                           str(config)], capture_output=True, text=True, timeout=120, check=False,
                          env=_isolated_env(tmp_path))
    checks = {check["name"]: check for check in json.loads(done.stdout)}
    assert checks["memory GPU 0"]["outcome"] == "ok"
    assert checks["memory GPU 0"]["detail"] == "fast 10.1 GB (largest swapping tier) = 10.1 GB of 12 GB fits"
    assert checks["memory GPU 1"]["outcome"] == "FAIL"
    assert checks["memory GPU 1"]["detail"] == ("coder 1.5 GB (resident) + ultra 11.2 GB (largest swapping tier) = "
                                                "12.7 GB of 12 GB DOES NOT FIT")
    assert "resident" in checks["memory GPU 1"]["fix"]
