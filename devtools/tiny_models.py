"""Tiny random-weight stand-ins for the five tiers: the embedded default for demos and the test fixture.

`write_tiny_tiers(DIR)` writes one small llama-architecture GGUF per tier, a `tiers.toml` pointing at them
and a `variet.toml`, so `variet engine serve --config DIR/variet.toml` runs real llama-server loads, swaps
and streams on any CPU. With `real_fast=True` (the embedded default of `variet engine tiny-models` and
`variet demo`) the `fast` tier is a real quantized instruct model instead (`variet.devtools.real_model`),
so answers from `fast` are real text while the other tiers keep swaps cheap. The generated weights are
seeded noise shaped to emit printable text: the vocabulary is byte-level (one token per byte, ChatML
markers), the model ends an answer right after a `.` (about 100 tokens in with llama-server's default
sampler) and otherwise runs until `max_tokens` or the `n-predict` default written to `variet.toml`.

With `coder=True` (the embedded default) a sixth, smaller tier joins them: `coder`, resident and marked for
fill-in-the-middle, whose vocabulary also holds the FIM tokens (`<|fim_prefix|>`, `<|fim_suffix|>`,
`<|fim_middle|>`, as Qwen coders name them), so `/infill` runs through llama-server's real FIM path and a
completion is served while the other tiers swap.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "CHAT_TEMPLATE",
    "CODER",
    "TINY_CONTEXT",
    "TINY_MODELS",
    "TinyModel",
    "TinyTiers",
    "write_tiny_model",
    "write_tiny_tiers",
]

TINY_CONTEXT = 32768
"""Declared and configured context: real hosts send ~16k-token prompts."""

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
"""ChatML, the simplest template llama-server's jinja chat handling takes as is."""

_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_FIM_SPECIALS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
_BOS, _EOS = 256, 258  # <|endoftext|> and <|im_end|>
_HEAD_DIM, _N_HEAD, _N_HEAD_KV = 32, 2, 1
"""Attention is equally narrow in every tier: at 16k tokens its cost dominates prompt processing."""
_GENERATOR = "variet-tiny-1"
"""Bump when the output changes on purpose; it is written into every file."""

_N_PREDICT_DEFAULT = 512
"""Tokens generated when a request sets no `max_tokens` (greedy decoding of noise may never stop)."""


@dataclass(frozen=True)
class TinyModel:
    """Shape and expected behaviour of one tiny tier model."""

    tier: str
    n_embd: int
    n_layer: int
    n_ff: int
    seed: int
    tokens_per_second: float
    """Decode speed at short context on one thread of a busy 2-core CPU (measured: 1000-2400 tok/s)."""
    load_seconds: float
    """Spawn to healthy in llama-server's router mode (measured: 40-100 ms)."""
    strengths: tuple[str, ...]
    """Copied from the real `config/tiers.toml` so the router picks tiny tiers as it picks real ones."""
    machine_a_tokens_per_second: float
    """The real tier's expected speed in `config/tiers.toml`: next to the real fast model, the generated tiers
    claim speeds in the same proportions, so the router weighs them as it weighs Machine A's tiers."""
    machine_a_load_seconds: float
    """The real tier's expected load time in `config/tiers.toml`, used in proportion likewise."""
    description: str
    fim: bool = False
    """The vocabulary holds the FIM tokens; the tier is written resident and marked `fim = true`."""

    @property
    def file_name(self) -> str:
        return f"{self.tier}.gguf"

    @property
    def specials(self) -> tuple[str, ...]:
        return _SPECIALS + _FIM_SPECIALS if self.fim else _SPECIALS


TINY_MODELS: tuple[TinyModel, ...] = (
    TinyModel(
        tier="fast", n_embd=64, n_layer=2, n_ff=192, seed=101,
        machine_a_tokens_per_second=75, machine_a_load_seconds=20,
        tokens_per_second=2000, load_seconds=0.05,
        strengths=("chat", "admin", "search", "writing", "code", "easy"),
        description="Tiny random stand-in for the fast tier (Gemma 4 26B MoE).",
    ),
    TinyModel(
        tier="balanced", n_embd=128, n_layer=2, n_ff=384, seed=102,
        machine_a_tokens_per_second=62, machine_a_load_seconds=25,
        tokens_per_second=1800, load_seconds=0.05,
        strengths=("chat", "admin", "search", "writing", "code", "reasoning", "math", "design", "easy", "medium"),
        description="Tiny random stand-in for the balanced tier (Qwen 35B MoE).",
    ),
    TinyModel(
        tier="deep-coder", n_embd=192, n_layer=3, n_ff=512, seed=103,
        machine_a_tokens_per_second=16, machine_a_load_seconds=45,
        tokens_per_second=1000, load_seconds=0.06,
        strengths=("code", "design", "easy", "medium", "hard"),
        description="Tiny random stand-in for the deep-coder tier (Gemma 4 31B dense).",
    ),
    TinyModel(
        tier="deep-logic", n_embd=160, n_layer=3, n_ff=640, seed=104,
        machine_a_tokens_per_second=17, machine_a_load_seconds=40,
        tokens_per_second=1000, load_seconds=0.06,
        strengths=("reasoning", "math", "design", "writing", "easy", "medium", "hard"),
        description="Tiny random stand-in for the deep-logic tier (Qwen 27B dense).",
    ),
    TinyModel(
        tier="ultra", n_embd=256, n_layer=4, n_ff=768, seed=105,
        machine_a_tokens_per_second=9, machine_a_load_seconds=90,
        tokens_per_second=800, load_seconds=0.1,
        strengths=("chat", "writing", "code", "reasoning", "math", "design", "easy", "medium", "hard", "expert"),
        description="Tiny random stand-in for the ultra tier (Qwen 122B MoE).",
    ),
)
"""The five tiers, cheapest first; sizes grow so load times and speeds differ a little."""

CODER = TinyModel(
    tier="coder", n_embd=64, n_layer=2, n_ff=128, seed=106,
    machine_a_tokens_per_second=120, machine_a_load_seconds=3,
    tokens_per_second=2400, load_seconds=0.05, strengths=(), fim=True,
    description="Tiny random stand-in for a resident 1.5B coder: fill-in-the-middle while the other tiers swap.",
)
"""The resident FIM tier of the embedded default (no strengths: `auto` never routes chats to it)."""


@dataclass(frozen=True)
class TinyTiers:
    """What `write_tiny_tiers` wrote."""

    tiers_file: Path
    settings_file: Path
    models: dict[str, Path]


def scaled(spec: TinyModel, scale: int) -> TinyModel:
    """`spec` made `scale` times wider (embedding and feed-forward): slower to decode, closer to real tiers."""
    if scale == 1:
        return spec
    return replace(spec, n_embd=spec.n_embd * scale, n_ff=spec.n_ff * scale,
                   tokens_per_second=round(spec.tokens_per_second / scale**2, 1),
                   load_seconds=round(spec.load_seconds * scale, 3))


def write_tiny_tiers(directory: Path, *, scale: int = 1, real_fast: bool = False, coder: bool = False,
                     progress: Callable[[str], None] | None = None) -> TinyTiers:
    """Write the five tiny models, `tiers.toml` and `variet.toml` into `directory` (created if missing).

    `scale` widens every generated model (benchmarks use it to make tokens cost more, as on real tiers).
    `real_fast` makes `fast` the real model (downloaded once into the cache, see `fetch_real_model`).
    `coder` adds the resident fill-in-the-middle tier `coder` (never scaled: it stays small and quick).
    Idempotent: files whose content would not change are left alone (same bytes, same mtime).
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    specs = tuple(scaled(spec, scale) for spec in TINY_MODELS)
    say = progress or _quiet
    directory = Path(directory).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    models: dict[str, Path] = {}
    real: dict[str, str] = {}
    if real_fast:
        from variet.devtools.real_model import REAL_MODEL, fetch_real_model, tools_template

        models["fast"] = fetch_real_model(say=say)
        template = directory / "smollm2-tools.jinja"
        changed = _replace_if_changed(template, partial(_write_text, text=tools_template()))
        say(f"{'wrote' if changed else 'kept'} {template.name}")
        real = {"model": str(models["fast"]), "template": str(template.resolve()),
                "context": str(REAL_MODEL.context), "tokens_per_second": f"{REAL_MODEL.tokens_per_second:g}",
                "load_seconds": f"{REAL_MODEL.load_seconds:g}"}
        fast = next(spec for spec in specs if spec.tier == "fast")
        specs = tuple(replace(
            spec,
            tokens_per_second=round(REAL_MODEL.tokens_per_second * spec.machine_a_tokens_per_second
                                    / fast.machine_a_tokens_per_second, 1),
            load_seconds=round(REAL_MODEL.load_seconds * spec.machine_a_load_seconds / fast.machine_a_load_seconds, 3),
        ) for spec in specs)
    if coder:
        specs = (*specs, CODER)
    for spec in specs:
        if spec.tier in models:
            continue
        path = directory / spec.file_name
        changed = write_tiny_model(path, spec)
        size_mb = path.stat().st_size / 1e6
        say(f"{'wrote' if changed else 'kept'} {path.name} ({size_mb:.1f} MB)")
        models[spec.tier] = path
    tiers_file = directory / "tiers.toml"
    settings_file = directory / "variet.toml"
    for path, text in ((tiers_file, _tiers_toml(specs, real)), (settings_file, _settings_toml())):
        changed = _replace_if_changed(path, partial(_write_text, text=text))
        say(f"{'wrote' if changed else 'kept'} {path.name}")
    return TinyTiers(tiers_file=tiers_file, settings_file=settings_file, models=models)


def write_tiny_model(path: Path, spec: TinyModel) -> bool:
    """Write one tiny GGUF model; returns False when an identical file was already there."""
    writer_log = logging.getLogger("gguf.gguf_writer")
    level = writer_log.level
    writer_log.setLevel(logging.WARNING)  # its INFO lines name our temporary files
    try:
        return _replace_if_changed(Path(path), partial(_write_gguf, spec=spec))
    finally:
        writer_log.setLevel(level)


def _quiet(_message: str) -> None:
    pass


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _replace_if_changed(path: Path, write: Callable[[Path], object]) -> bool:
    """Write to a sibling temporary file, then keep the old file if equal or atomically replace it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        if path.is_file() and _same_bytes(path, tmp):
            return False
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            chunk = fa.read(1 << 20)
            if chunk != fb.read(1 << 20):
                return False
            if not chunk:
                return True


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-character table: token `i` is the printable stand-in for byte `i`."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table: dict[int, str] = {b: chr(b) for b in kept}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def _output_bias(n_vocab: int) -> list[float]:
    """Per-token logit offsets that make noise read like text: letters and spaces, rarely a full stop."""
    bias = [-30.0] * n_vocab
    for b in range(32, 127):
        bias[b] = -2.0  # punctuation and symbols
    for b in range(ord("a"), ord("z") + 1):
        bias[b] = 0.0
    for b in (*range(ord("A"), ord("Z") + 1), *range(ord("0"), ord("9") + 1)):
        bias[b] = -1.5
    bias[ord(" ")] = 1.0
    bias[ord("\n")] = -3.0
    bias[ord(".")] = -1.0  # above min_p and inside top_k of the default sampler: answers end after ~100 tokens
    bias[_EOS] = -10.0
    return bias


def _weights(spec: TinyModel) -> Iterator[tuple[str, npt.NDArray[Any]]]:
    """Tensors in llama.cpp's `llama` layout (numpy shapes are ggml shapes reversed).

    Residual channel 0 is a constant that the layers never write, so the output matrix's column 0 acts
    as a per-token bias; channel 1 is set only by the `.` token and lifts end-of-turn right after it.
    """
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    n, ff = spec.n_embd, spec.n_ff
    n_vocab = 256 + len(spec.specials)
    n_q, n_kv = _HEAD_DIM * _N_HEAD, _HEAD_DIM * _N_HEAD_KV

    def normal(shape: tuple[int, ...], std: float) -> npt.NDArray[np.float32]:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def norm_weight() -> npt.NDArray[np.float32]:
        weight = np.ones(n, dtype=np.float32)
        weight[:2] = 1.0 / np.sqrt(n)  # keep the marker channels from swamping the layer inputs
        return weight

    def writes_residual(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float16]:
        matrix[:2, :] = 0.0  # layers never touch the marker channels
        return matrix.astype(np.float16)

    embd = normal((n_vocab, n), 0.02)
    embd[:, 0] = 1.0
    embd[:, 1] = 0.0
    embd[ord("."), 1] = 1.0
    yield "token_embd.weight", embd.astype(np.float16)
    for i in range(spec.n_layer):
        yield f"blk.{i}.attn_norm.weight", norm_weight()
        yield f"blk.{i}.attn_q.weight", normal((n_q, n), n**-0.5).astype(np.float16)
        yield f"blk.{i}.attn_k.weight", normal((n_kv, n), n**-0.5).astype(np.float16)
        yield f"blk.{i}.attn_v.weight", normal((n_kv, n), n**-0.5).astype(np.float16)
        yield f"blk.{i}.attn_output.weight", writes_residual(normal((n, n_q), 0.04 * n_q**-0.5))
        yield f"blk.{i}.ffn_norm.weight", norm_weight()
        yield f"blk.{i}.ffn_gate.weight", normal((ff, n), n**-0.5).astype(np.float16)
        yield f"blk.{i}.ffn_up.weight", normal((ff, n), n**-0.5).astype(np.float16)
        yield f"blk.{i}.ffn_down.weight", writes_residual(normal((n, ff), 0.06 * ff**-0.5))
    yield "output_norm.weight", norm_weight()
    output = normal((n_vocab, n), 33.0 / n)
    output[:, 0] = _output_bias(n_vocab)
    output[:, 1] = 0.0
    output[_EOS, 1] = 40.0
    yield "output.weight", output.astype(np.float16)


def _write_gguf(path: Path, spec: TinyModel) -> None:
    import gguf

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"variet-tiny-{spec.tier}")
    writer.add_description(f"{spec.description} Random weights ({_GENERATOR}, seed {spec.seed}): output is noise.")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(TINY_CONTEXT)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(_N_HEAD)
    writer.add_head_count_kv(_N_HEAD_KV)
    writer.add_key_length(_HEAD_DIM)
    writer.add_value_length(_HEAD_DIM)
    writer.add_rope_dimension_count(_HEAD_DIM)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(256 + len(spec.specials))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([*_byte_symbols(), *spec.specials])
    writer.add_token_types([gguf.TokenType.NORMAL] * 256 + [gguf.TokenType.CONTROL] * len(spec.specials))
    # llama.cpp requires a merges array; this one pairs two control tokens, which never reach BPE.
    writer.add_token_merges([f"{_SPECIALS[1]} {_SPECIALS[2]}"])
    writer.add_bos_token_id(_BOS)
    writer.add_eos_token_id(_EOS)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, tensor in _weights(spec):
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def _tiers_toml(specs: tuple[TinyModel, ...], real: dict[str, str]) -> str:
    lines = [
        "# Tiny random-weight tiers written by `variet engine tiny-models`: real llama-server loads,",
        "# swaps and streams on a CPU, with noise for answers. Strengths match config/tiers.toml.",
        "",
        'models_dir = "."',
    ]
    for spec in specs:
        if spec.fim:
            lines += [
                "",
                "# Resident: loaded at start and never swapped out; takes the fill-in-the-middle requests.",
                f"[tiers.{spec.tier}]",
                f"model = {json.dumps(spec.file_name)}",
                f"aliases = {_toml_list((f'tiny-{spec.tier}',))}",
                "context = 4096",
                "gpus = []",
                f"tokens_per_second = {spec.tokens_per_second:g}",
                f"load_seconds = {spec.load_seconds:g}",
                "resident = true",
                "fim = true",
                f"description = {json.dumps(spec.description)}",
            ]
            continue
        if spec.tier == "fast" and real:
            lines += [
                "",
                "# A real, tiny instruct model (SmolLM2-135M-Instruct, Q4_1): real answers, if weak ones. Its",
                "# template declares tools so it can make well-formed tool calls (see variet.devtools.real_model).",
                "[tiers.fast]",
                f"model = {json.dumps(real['model'])}",
                f"aliases = {_toml_list(('tiny-fast', 'smollm2-135m-instruct'))}",
                f"context = {real['context']}",
                "gpus = []",
                f"args = {{ jinja = true, chat-template-file = {json.dumps(real['template'])} }}",
                f"tokens_per_second = {real['tokens_per_second']}",
                f"load_seconds = {real['load_seconds']}",
                f"strengths = {_toml_list(spec.strengths)}",
                'description = "SmolLM2-135M-Instruct (Q4_1): a real quantized model standing in for the fast tier."',
            ]
            continue
        lines += [
            "",
            f"[tiers.{spec.tier}]",
            f"model = {json.dumps(spec.file_name)}",
            f"aliases = {_toml_list((f'tiny-{spec.tier}',))}",
            f"context = {TINY_CONTEXT}",
            "gpus = []",
            f"tokens_per_second = {spec.tokens_per_second:g}",
            f"load_seconds = {spec.load_seconds:g}",
            f"strengths = {_toml_list(spec.strengths)}",
            f"description = {json.dumps(spec.description)}",
        ]
    return "\n".join(lines) + "\n"


def _settings_toml() -> str:
    return "\n".join(
        [
            "# Serve the tiny tiers: `variet engine serve --config THIS_FILE`.",
            "[engine]",
            'url = "http://127.0.0.1:8000"',
            'listen = "127.0.0.1:8000"',
            'tiers_file = "tiers.toml"',
            "# One thread per instance keeps a shared CPU responsive; n-predict bounds answers without max_tokens.",
            f"backend_args = {{ threads = 1, n-predict = {_N_PREDICT_DEFAULT} }}",
            "",
        ]
    )
