"""Fill-in-the-middle requests: llama-server's `/infill`, and OpenAI's `/v1/completions` with `suffix`.

Both go to the tier marked `fim = true` in tiers.toml unless they name a tier (`model`). `/infill` is relayed as
llama.vscode and other llama.cpp clients send it (`input_prefix`, `input_suffix`, `input_extra`, `prompt`,
`n_predict`, `t_max_predict_ms`, ...; no `model` needed). A `/v1/completions` request with `suffix`, which
llama-server itself refuses, is sent to `/infill` as `input_prefix` = `prompt`, `input_suffix` = `suffix`,
`n_predict` = `max_tokens`, and its answer (streamed or not) comes back in OpenAI's `text_completion` shape.
A tier whose model has no FIM tokens is refused with a 400 before it costs a load.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from variet.engine.errors import GgufError
from variet.engine.http.requests import RequestProblem
from variet.engine.llama.gguf_facts import read_gguf_facts
from variet.shared.tiers import TierCatalogue

__all__ = ["INFILL_PATH", "OpenAIFromInfill", "check_infill", "choose_fim_tier", "fim_unsupported", "is_fim",
           "to_infill"]

INFILL_PATH = "/infill"
_ROUTED_TO_FIM = ("", "auto")
"""`model` values (besides none) that mean "the FIM tier"."""


def is_fim(path: str, payload: dict[str, Any]) -> bool:
    """Whether a relayed request is fill-in-the-middle."""
    return path == INFILL_PATH or (path == "/v1/completions" and payload.get("suffix") is not None)


def choose_fim_tier(catalogue: TierCatalogue, model: Any) -> str | RequestProblem:
    """The tier for a FIM request: the one `model` names, else the tier marked `fim = true`."""
    if isinstance(model, str) and model not in _ROUTED_TO_FIM:
        tier = catalogue.resolve(model)
        if tier is None:
            return RequestProblem(f"unknown model {model!r} for fill-in-the-middle: use one of "
                                  f"{', '.join(catalogue.tiers)}, or leave `model` out for the FIM tier",
                                  "model_not_found", "model", status=404)
        return tier
    if model is not None and not isinstance(model, str):
        return RequestProblem("`model` must be a string (a tier name), or left out for the FIM tier", param="model")
    fim = catalogue.fim_tier
    if fim is None:
        return RequestProblem("no tier takes fill-in-the-middle requests: mark one `fim = true` in tiers.toml (a "
                              "coder model with FIM tokens, best also `resident = true`), or name a tier in `model`",
                              "no_fim_tier", "model")
    return fim


def fim_unsupported(catalogue: TierCatalogue, tier: str) -> RequestProblem | None:
    """A 400 when the tier's model has no FIM tokens; None when it has them or its file cannot be read here
    (llama-server then says so itself)."""
    try:
        missing = read_gguf_facts(catalogue.model_path(tier)).fim_missing
    except (OSError, GgufError):
        return None
    if not missing:
        return None
    fim = catalogue.fim_tier
    instead = f"send it to the FIM tier {fim!r} (leave `model` out)" if fim and fim != tier else \
        "mark a tier whose model is a coder with FIM tokens `fim = true` in tiers.toml"
    return RequestProblem(f"tier {tier!r} cannot fill in the middle: its model ({catalogue.model_path(tier).name}) "
                          f"has no FIM {', '.join(missing)} token(s); {instead}", "fim_unsupported", "model")


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def check_infill(payload: dict[str, Any]) -> RequestProblem | None:
    """The first problem with an `/infill` body (llama-server answers some of these with a 500)."""
    for field in ("input_prefix", "input_suffix"):
        if not isinstance(payload.get(field), str):
            return RequestProblem(f"`{field}` is required: a string (the code before / after the cursor), got "
                                  f"{_kind(payload.get(field))}", param=field)
    if "prompt" in payload and not isinstance(payload["prompt"], str):
        return RequestProblem("`prompt` must be a string (text to continue after the prefix)", param="prompt")
    extra = payload.get("input_extra", [])
    if not isinstance(extra, list) or not all(
            isinstance(chunk, dict) and isinstance(chunk.get("text"), str)
            and isinstance(chunk.get("filename", ""), str) for chunk in extra):
        return RequestProblem('`input_extra` must be an array of {"filename": string, "text": string}',
                              param="input_extra")
    for field in ("n_predict", "t_max_predict_ms", "t_max_prompt_ms", "n_indent"):
        value = payload.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return RequestProblem(f"`{field}` must be an integer", param=field)
    return None


def to_infill(payload: dict[str, Any]) -> dict[str, Any] | RequestProblem:
    """An OpenAI completions body with `suffix` as an `/infill` body."""
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        return RequestProblem("with `suffix`, `prompt` must be one string: the text before the gap", param="prompt")
    if not isinstance(payload["suffix"], str):
        return RequestProblem("`suffix` must be a string: the text after the gap", param="suffix")
    for field in ("n", "best_of"):
        if payload.get(field, 1) != 1:
            return RequestProblem(f"`{field}` must be 1 for fill-in-the-middle", param=field)
    if payload.get("echo"):
        return RequestProblem("`echo` is not supported with `suffix`", param="echo")
    body = {key: value for key, value in payload.items()
            if key not in ("prompt", "suffix", "max_tokens", "n", "best_of", "echo", "stream_options")}
    body |= {"input_prefix": prompt, "input_suffix": payload["suffix"]}
    if payload.get("max_tokens") is not None:
        body["n_predict"] = payload["max_tokens"]
    return body


def _finish_reason(answer: dict[str, Any]) -> str | None:
    if not answer.get("stop"):
        return None
    return "length" if answer.get("stop_type") == "limit" else "stop"


class OpenAIFromInfill:
    """Turns `/infill` answers into OpenAI `text_completion` ones: a whole body, or a stream chunk by chunk."""

    def __init__(self, tier: str) -> None:
        self._tier = tier
        self._id = f"cmpl-variet-{secrets.token_hex(8)}"
        self._created = int(time.time())
        self._pending = b""

    def _completion(self, answer: dict[str, Any], *, final: bool) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": self._id, "object": "text_completion", "created": self._created, "model": self._tier,
            "choices": [{"index": 0, "text": answer.get("content", ""), "logprobs": None,
                         "finish_reason": _finish_reason(answer)}],
        }
        if final:
            prompt, generated = answer.get("tokens_evaluated", 0), answer.get("tokens_predicted", 0)
            completion["usage"] = {"prompt_tokens": prompt, "completion_tokens": generated,
                                   "total_tokens": prompt + generated}
            if isinstance(answer.get("timings"), dict):
                completion["timings"] = answer["timings"]
        return completion

    def body(self, raw: bytes) -> bytes:
        """A whole (not streamed) answer."""
        try:
            answer = json.loads(raw)
        except ValueError:
            return raw
        if not isinstance(answer, dict):
            return raw
        return json.dumps(self._completion(answer, final=True)).encode()

    def chunk(self, raw: bytes) -> bytes:
        """The converted SSE lines complete in `raw` (with what earlier chunks left over)."""
        data = self._pending + raw
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data
            return b""
        self._pending = data[cut + 1:]
        out = []
        for line in data[: cut + 1].splitlines(keepends=True):
            if not line.startswith(b"data:"):
                out.append(line)
                continue
            try:
                answer = json.loads(line[5:])
            except ValueError:
                out.append(line)
                continue
            if not isinstance(answer, dict):
                out.append(line)
                continue
            final = bool(answer.get("stop"))
            out.append(b"data: " + json.dumps(self._completion(answer, final=final)).encode() + b"\n")
            if final:
                out.append(b"\ndata: [DONE]\n")
        return b"".join(out)

    def end(self) -> bytes:
        """What is left at the end of the stream."""
        rest, self._pending = self._pending, b""
        return rest
