"""What the engine reads from a GGUF file's header without loading it: the shape that sizes the KV cache, and
whether the vocabulary has the fill-in-the-middle tokens.

A small streaming reader of the key-value section (the tensor data is never touched), so checking a 20 GB
model costs a few milliseconds plus one pass over its vocabulary. FIM tokens are found the way llama.cpp
finds them: by the `tokenizer.ggml.fim_*_token_id` keys (or their older names), else by the token texts
the known FIM model families use.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from variet.engine.errors import GgufError

__all__ = ["GgufFacts", "read_gguf_facts"]

_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

_FIM_KEYS = {
    "pre": ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"),
    "suf": ("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"),
    "mid": ("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"),
}
_FIM_TEXTS = {
    "pre": frozenset({"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                      "<|code_prefix|>", "<|prefix|>"}),
    "suf": frozenset({"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                      "<|code_suffix|>", "<|suffix|>"}),
    "mid": frozenset({"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                      "<|code_middle|>", "<|middle|>"}),
}
_ALL_FIM_TEXTS = frozenset().union(*_FIM_TEXTS.values())


@dataclass(frozen=True)
class GgufFacts:
    """The header facts of one GGUF model."""

    architecture: str
    block_count: int
    """Layers (each holds a slice of the KV cache)."""
    kv_width: int
    """Key plus value elements per token per layer (`head_count_kv` x (`key_length` + `value_length`))."""
    fim_missing: tuple[str, ...]
    """The FIM tokens the vocabulary lacks, of `prefix`, `suffix`, `middle`; empty: `/infill` works."""

    def kv_cache_bytes(self, context: int, bytes_per_element: float) -> float:
        """The KV cache for `context` tokens at that element size (2 for f16)."""
        return float(self.block_count) * context * self.kv_width * bytes_per_element


def _read(fh: IO[bytes], size: int) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise GgufError("the file ends inside its header")
    return data


def _string(fh: IO[bytes]) -> str:
    (length,) = struct.unpack("<Q", _read(fh, 8))
    return _read(fh, length).decode("utf-8", errors="replace")


def _skip_string(fh: IO[bytes]) -> None:
    (length,) = struct.unpack("<Q", _read(fh, 8))
    fh.seek(length, 1)


def _value(fh: IO[bytes], kind: int, *, keep_strings: bool = False, texts: set[str] | None = None) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, _read(fh, struct.calcsize(fmt)))[0]
    if kind == _STRING:
        return _string(fh)
    if kind == _ARRAY:
        item, count = struct.unpack("<IQ", _read(fh, 12))
        if item in _SCALARS:
            size = struct.calcsize(_SCALARS[item])
            if count <= 64:
                return [struct.unpack(_SCALARS[item], _read(fh, size))[0] for _ in range(count)]
            fh.seek(size * count, 1)
            return None
        if item == _STRING:
            for _ in range(count):
                if texts is None:
                    _skip_string(fh)
                else:
                    text = _string(fh)
                    if text in _ALL_FIM_TEXTS:
                        texts.add(text)
            return None
        for _ in range(count):
            _value(fh, item)
        return None
    raise GgufError(f"unknown value type {kind} in the header")


@lru_cache(maxsize=64)
def _cached(path: str, size: int, mtime: float) -> GgufFacts:
    scalars: dict[str, Any] = {}
    texts: set[str] = set()
    with open(path, "rb") as fh:
        if fh.read(4) != _MAGIC:
            raise GgufError(f"{path} is not a GGUF file")
        version, _tensors, count = struct.unpack("<IQQ", _read(fh, 20))
        if version < 2:
            raise GgufError(f"{path} is GGUF version {version}; llama.cpp reads version 2 and later")
        for _ in range(count):
            key = _string(fh)
            (kind,) = struct.unpack("<I", _read(fh, 4))
            value = _value(fh, kind, texts=texts if key == "tokenizer.ggml.tokens" else None)
            if value is not None:
                scalars[key] = value
    arch = str(scalars.get("general.architecture", ""))

    def number(name: str, default: int = 0) -> int:
        value = scalars.get(f"{arch}.{name}", default)
        if isinstance(value, list):  # per-layer values (some hybrid models): size by the largest
            value = max(value, default=default)
        return int(value)

    heads = number("attention.head_count", 1) or 1
    head_dim = number("embedding_length") // heads
    kv_heads = number("attention.head_count_kv", heads)
    width = kv_heads * (number("attention.key_length", head_dim) + number("attention.value_length", head_dim))
    missing = tuple(
        name for short, name in (("pre", "prefix"), ("suf", "suffix"), ("mid", "middle"))
        if not any(key in scalars for key in _FIM_KEYS[short]) and not texts & _FIM_TEXTS[short]
    )
    return GgufFacts(architecture=arch, block_count=number("block_count"), kv_width=width, fim_missing=missing)


def read_gguf_facts(path: Path) -> GgufFacts:
    """The header facts of the GGUF file at `path` (cached while the file is unchanged).

    Raises `GgufError` for a file that is not GGUF, `OSError` when it cannot be read.
    """
    stat = path.stat()
    try:
        return _cached(str(path), stat.st_size, stat.st_mtime)
    except (struct.error, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        raise GgufError(f"{path}: unreadable GGUF header ({exc})") from exc
