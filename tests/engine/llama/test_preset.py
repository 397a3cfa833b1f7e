"""The llama-server preset rendered from the real five-tier catalogue."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from pydantic import ValidationError

from variet.engine.llama.preset import render_preset
from variet.shared.config import EngineSettings
from variet.shared.tiers import Tier, TierCatalogue, load_tiers

REAL_TIERS = Path(__file__).parents[3] / "config" / "tiers.toml"


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


def test_a_tier_with_rpc_workers_lists_them_and_puts_their_devices_before_the_local_gpus() -> None:
    split = Tier(model="m.gguf", context=4096, tokens_per_second=10, load_seconds=30, gpus=(0, 1),
                 rpc=("box-c:50052", "[fd00::3]:50052"), tensor_split=(1, 1, 2, 2))
    remote_only = Tier(model="m.gguf", context=4096, tokens_per_second=10, load_seconds=30, rpc=("127.0.0.1:50052",),
                       args={"n-gpu-layers": 12})
    preset = parse(render_preset(TierCatalogue(tiers={"split": split, "remote": remote_only})))
    assert preset["split"]["rpc"] == "box-c:50052,[fd00::3]:50052"
    # The output layer goes on the last device: this box's, so no token's logits cross the network.
    assert preset["split"]["device"] == "RPC0,RPC1,CUDA0,CUDA1"
    assert preset["split"]["tensor-split"] == "1.0,1.0,2.0,2.0" and preset["split"]["split-mode"] == "layer"
    # CPU plus one worker: the worker is the only device named; the layers not offloaded stay on the CPU.
    assert preset["remote"]["device"] == "RPC0" and preset["remote"]["n-gpu-layers"] == "12"
    assert preset["remote"]["split-mode"] == "none"


def test_rpc_workers_must_be_host_and_port_and_the_tensor_split_must_cover_every_device() -> None:
    with pytest.raises(ValidationError, match="must be HOST:PORT"):
        Tier(model="m.gguf", context=4096, tokens_per_second=1, load_seconds=1, rpc=("box-c",))
    with pytest.raises(ValidationError, match="3 devices"):
        Tier(model="m.gguf", context=4096, tokens_per_second=1, load_seconds=1, gpus=(0, 1), rpc=("box-c:1",),
             tensor_split=(1, 1))
