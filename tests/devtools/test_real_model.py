"""The embedded default's real model: fetched once, verified, reused; and the tiers written around it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from variet.devtools.real_model import REAL_MODEL, fetch_real_model
from variet.devtools.tiny_models import write_tiny_tiers
from variet.shared.tiers import load_tiers

REAL_TIERS = Path(__file__).parents[2] / "config" / "tiers.toml"


def test_a_damaged_cached_model_is_replaced_by_a_verified_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIET_CACHE_DIR", str(tmp_path))
    cached = tmp_path / "models" / REAL_MODEL.file_name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF but truncated")
    said: list[str] = []
    path = fetch_real_model(say=said.append)
    assert path == cached and path.stat().st_size == REAL_MODEL.size
    assert said and "downloading" in said[0]
    said.clear()
    assert fetch_real_model(say=said.append) == cached and said == [], "a verified copy is reused as is"


def test_the_embedded_default_makes_fast_the_real_model_in_machine_a_proportions(tmp_path: Path) -> None:
    written = write_tiny_tiers(tmp_path, real_fast=True)
    tiers = load_tiers(written.tiers_file)
    fast = tiers.tiers["fast"]
    assert tiers.model_path("fast") == fetch_real_model() and fast.context == REAL_MODEL.context
    assert fast.args["jinja"] is True and Path(str(fast.args["chat-template-file"])).is_file()
    assert not (tmp_path / "fast.gguf").exists()
    real = tomllib.loads(REAL_TIERS.read_text())["tiers"]
    for name, tier in tiers.tiers.items():
        assert tier.tokens_per_second / fast.tokens_per_second == pytest.approx(
            real[name]["tokens_per_second"] / real["fast"]["tokens_per_second"], rel=0.01), name
        assert tier.load_seconds / fast.load_seconds == pytest.approx(
            real[name]["load_seconds"] / real["fast"]["load_seconds"], rel=0.01), name
