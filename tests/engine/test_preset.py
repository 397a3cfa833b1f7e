"""The llama-server preset rendered from the real five-tier catalogue."""

from __future__ import annotations

import configparser
from pathlib import Path

from variet.engine.preset import render_preset
from variet.shared.config import EngineSettings, load_tiers

REAL_TIERS = Path(__file__).parents[2] / "config" / "tiers.toml"


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), comment_prefixes=(";",))
    parser.read_string("[top]\n" + text)
    return parser


def test_each_tier_becomes_a_preset_section_with_its_model_and_context() -> None:
    catalogue = load_tiers(REAL_TIERS)
    preset = parse(render_preset(catalogue))
    assert [s for s in preset.sections() if s != "top"] == ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
    assert preset["top"]["version"] == "1"
    for name in catalogue.tiers:
        assert preset[name]["model"] == str(catalogue.model_path(name))
        assert preset[name]["ctx-size"] == str(catalogue.tiers[name].context)


def test_dense_tiers_split_over_both_gpus_and_ultra_stays_on_gpu_one_with_experts_in_ram() -> None:
    preset = parse(render_preset(load_tiers(REAL_TIERS)))
    for name in ("deep-coder", "deep-logic"):
        assert preset[name]["device"] == "CUDA0,CUDA1"
        assert preset[name]["split-mode"] == "layer"
        assert preset[name]["tensor-split"] == "1.0,1.0"
        assert preset[name]["n-gpu-layers"] == "999"
    ultra = preset["ultra"]
    assert ultra["device"] == "CUDA1"
    assert ultra["split-mode"] == "none"
    assert int(ultra["n-cpu-moe"]) > 0
    assert "tensor-split" not in ultra


def test_global_backend_arguments_go_to_the_star_section() -> None:
    preset = parse(render_preset(load_tiers(REAL_TIERS), EngineSettings(backend_args={"threads": 4, "jinja": True})))
    assert preset["*"]["threads"] == "4"
    assert preset["*"]["jinja"] == "true"


def test_with_prompt_caching_each_tier_saves_its_slots_in_a_folder_of_its_own(tmp_path: Path) -> None:
    catalogue = load_tiers(REAL_TIERS)
    folders = {name: tmp_path / name for name in catalogue.tiers}
    preset = parse(render_preset(catalogue, slot_dirs=folders))
    assert {name: preset[name]["slot-save-path"] for name in catalogue.tiers} == {
        name: str(folder) for name, folder in folders.items()}
    assert "slot-save-path" not in parse(render_preset(catalogue))["fast"]
