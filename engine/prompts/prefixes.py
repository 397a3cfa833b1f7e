"""The identity of a request's prompt prefix, from its body alone: which saved prompt cache it continues.

A prompt cache on disk holds the KV cache of the tokens llama-server rendered from one request. To decide,
before a tier is loaded, whether a waiting request continues that prompt, the engine compares the two
requests' bodies, not their tokens (the tier that could tokenize them is not loaded yet). A body is read as
a chain of pieces in prompt order: a head (the system prompt, the tools, template switches), then each
message; a raw `prompt` is cut into fixed-size pieces. Each link of the chain hashes everything before it,
so two requests share a prefix of the chain exactly when they share those pieces, and the longest shared
prefix is found by comparing hashes one by one.

The endpoint is not part of the identity: llama-server renders an Anthropic body and the same OpenAI body
with the same template, and the `auto` router, which sees only the body, can then ask about it too. A
match is a promise of nothing but speed: llama-server reuses only the tokens a restored slot truly shares
with the new prompt, so a wrong guess costs a restore, never a wrong answer.

`cache_control` marks are left out: Anthropic clients (Claude Code) move them to the newest message on
every turn, and they do not reach the prompt. A piece that changes anywhere else (a tool list edited, an
old message rewritten) ends the shared prefix there, as it does for llama-server's own cache reuse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["PROMPT_PIECE_CHARS", "PrefixChain", "prefix_chain"]

PROMPT_PIECE_CHARS = 2048
"""A raw `prompt` is compared in pieces of this many characters."""

_HEAD_KEYS = ("system", "tools", "functions", "chat_template_kwargs", "tool_choice")
"""Body fields that are rendered before the messages (or change how they are rendered)."""
_DIGEST_BYTES = 16


@dataclass(frozen=True)
class PrefixChain:
    """A request's prompt as a chain of hashed pieces; `chars[i]` is the text length up to piece `i`."""

    hashes: tuple[str, ...]
    chars: tuple[int, ...]

    def shared(self, other: PrefixChain) -> int:
        """How many leading pieces the two chains have in common."""
        count = 0
        for mine, theirs in zip(self.hashes, other.hashes, strict=False):
            if mine != theirs:
                break
            count += 1
        return count

    @property
    def total_chars(self) -> int:
        return self.chars[-1] if self.chars else 0


def _without_cache_marks(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_cache_marks(item) for key, item in value.items() if key != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_marks(item) for item in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_without_cache_marks(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _pieces(payload: dict[str, Any]) -> list[str]:
    head = {key: payload[key] for key in _HEAD_KEYS if key in payload}
    pieces = [_canonical(head)]
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        pieces += [prompt[at:at + PROMPT_PIECE_CHARS] for at in range(0, len(prompt), PROMPT_PIECE_CHARS)]
    elif prompt is not None:
        pieces.append(_canonical(prompt))
    messages = payload.get("messages")
    if isinstance(messages, list):
        pieces += [_canonical(message) for message in messages]
    return pieces


def prefix_chain(payload: dict[str, Any]) -> PrefixChain:
    """The chain of a completion request's body (OpenAI chat or completion, or Anthropic messages)."""
    hashes: list[str] = []
    chars: list[int] = []
    previous = b""
    total = 0
    for piece in _pieces(payload):
        data = piece.encode("utf-8", errors="surrogatepass")
        previous = hashlib.blake2b(previous + data, digest_size=_DIGEST_BYTES).digest()
        total += len(piece)
        hashes.append(previous.hex())
        chars.append(total)
    return PrefixChain(tuple(hashes), tuple(chars))
