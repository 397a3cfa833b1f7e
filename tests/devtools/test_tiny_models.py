"""The tiny tier models: files, config, determinism, and a real llama-server answering with one."""

from __future__ import annotations

import tomllib
from pathlib import Path

import gguf
import httpx2
import pytest

from tests.parts.llama import running_llama_server
from variet.devtools.tiny_models import TINY_CONTEXT, write_tiny_tiers
from variet.shared.config import load_settings
from variet.shared.tiers import TIER_NAMES, load_tiers

REAL_TIERS = Path(__file__).parents[2] / "config" / "tiers.toml"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny")
    write_tiny_tiers(directory)
    return directory


def _field(path: Path, key: str) -> object:
    field = gguf.GGUFReader(path).get_field(key)
    assert field is not None, f"{path.name} has no {key}"
    return field.contents()


def test_the_catalogue_lists_the_five_tiers_with_their_written_models(tiny_dir: Path) -> None:
    catalogue = load_tiers(tiny_dir / "tiers.toml")
    assert tuple(catalogue.tiers) == TIER_NAMES
    for name, tier in catalogue.tiers.items():
        assert catalogue.model_path(name) == (tiny_dir / f"{name}.gguf").resolve()
        assert catalogue.model_path(name).is_file()
        assert tier.context >= 32768
        assert tier.gpus == ()
        assert catalogue.resolve(f"tiny-{name}") == name


def test_the_settings_file_serves_the_tiny_catalogue_on_loopback(tiny_dir: Path) -> None:
    settings = load_settings(tiny_dir / "variet.toml", environ={})
    assert settings.engine.listen == "127.0.0.1:8000"
    assert settings.engine.url == "http://127.0.0.1:8000"
    assert settings.engine.backend_args["threads"] == 1
    assert settings.tiers().source == (tiny_dir / "tiers.toml").resolve()


def test_each_tier_keeps_the_strengths_of_the_real_catalogue(tiny_dir: Path) -> None:
    real = load_tiers(REAL_TIERS)
    tiny = load_tiers(tiny_dir / "tiers.toml")
    for name in TIER_NAMES:
        assert tiny.tiers[name].strengths == real.tiers[name].strengths


def test_models_declare_a_32k_context_a_byte_vocabulary_and_a_chat_template(tiny_dir: Path) -> None:
    for name in TIER_NAMES:
        model = tiny_dir / f"{name}.gguf"
        assert _field(model, "general.architecture") == "llama"
        assert _field(model, "llama.context_length") == TINY_CONTEXT >= 32768
        assert _field(model, "tokenizer.ggml.model") == "gpt2"
        tokens = _field(model, "tokenizer.ggml.tokens")
        assert isinstance(tokens, list)
        assert len(set(tokens[:256])) == 256
        assert "<|im_start|>" in str(_field(model, "tokenizer.chat_template"))


def test_bigger_tiers_have_bigger_files_of_a_few_megabytes_at_most(tiny_dir: Path) -> None:
    sizes = [(tiny_dir / f"{name}.gguf").stat().st_size for name in TIER_NAMES]
    assert len(set(sizes)) == len(sizes)
    assert sizes[0] == min(sizes)
    assert sizes[-1] == max(sizes)
    assert max(sizes) < 8_000_000


def test_generation_is_deterministic_and_rewriting_leaves_equal_files_untouched(
    tiny_dir: Path, tmp_path: Path
) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in tiny_dir.iterdir()}
    messages: list[str] = []
    again = write_tiny_tiers(tiny_dir, progress=messages.append)
    assert {path.name: path.stat().st_mtime_ns for path in tiny_dir.iterdir()} == before
    assert messages and all(message.startswith("kept ") for message in messages)

    other = write_tiny_tiers(tmp_path)
    for name, path in other.models.items():
        assert path.read_bytes() == again.models[name].read_bytes()
    assert other.tiers_file.read_bytes() == again.tiers_file.read_bytes()


def test_a_damaged_model_is_rewritten(tmp_path: Path) -> None:
    first = write_tiny_tiers(tmp_path)
    original = first.models["fast"].read_bytes()
    first.models["fast"].write_bytes(original[:1000])
    messages: list[str] = []
    write_tiny_tiers(tmp_path, progress=messages.append)
    assert first.models["fast"].read_bytes() == original
    assert any(message.startswith("wrote fast.gguf") for message in messages)
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


def test_the_tiers_file_is_plain_toml_with_relative_model_paths(tiny_dir: Path) -> None:
    data = tomllib.loads((tiny_dir / "tiers.toml").read_text())
    assert data["models_dir"] == "."
    assert all(not Path(tier["model"]).is_absolute() for tier in data["tiers"].values())


@pytest.mark.llama
def test_llama_server_chats_with_a_tiny_model_and_stops_after_a_full_stop(tiny_dir: Path, tmp_path: Path) -> None:
    args = ("-m", str(tiny_dir / "fast.gguf"), "--ctx-size", str(TINY_CONTEXT), "--threads", "1")
    with running_llama_server(*args, log=tmp_path / "llama.log") as url, httpx2.Client(timeout=30) as client:
        chat = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}
        reply = client.post(f"{url}/v1/chat/completions", json=chat)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["choices"][0]["message"]["content"]
        assert body["timings"]["predicted_per_second"] > 0

        completion = {"prompt": "hello world.", "max_tokens": 8, "temperature": 0}
        ended = client.post(f"{url}/v1/completions", json=completion).json()
        assert ended["choices"][0]["finish_reason"] == "stop"
        assert ended["choices"][0]["text"] == ""


def test_a_larger_scale_writes_wider_slower_tiers(tmp_path: Path) -> None:
    small = write_tiny_tiers(tmp_path / "x1")
    wide = write_tiny_tiers(tmp_path / "x2", scale=2)
    for tier in small.models:
        assert wide.models[tier].stat().st_size > small.models[tier].stat().st_size
    slow = load_tiers(wide.tiers_file).tiers["fast"].tokens_per_second
    assert slow < load_tiers(small.tiers_file).tiers["fast"].tokens_per_second
    with pytest.raises(ValueError, match="scale"):
        write_tiny_tiers(tmp_path / "x0", scale=0)


def test_the_embedded_defaults_coder_is_a_resident_fim_tier_with_the_fim_tokens(tmp_path: Path) -> None:
    from variet.engine.llama.gguf_facts import read_gguf_facts

    written = write_tiny_tiers(tmp_path, coder=True)
    catalogue = load_tiers(written.tiers_file)
    assert tuple(catalogue.tiers) == (*TIER_NAMES, "coder")
    assert catalogue.residents == ("coder",) and catalogue.fim_tier == "coder"
    assert catalogue.tiers["coder"].strengths == ()  # `auto` never routes a chat to it
    assert read_gguf_facts(written.models["coder"]).fim_missing == ()
    assert read_gguf_facts(written.models["fast"]).fim_missing == ("prefix", "suffix", "middle")
