"""Checks on a completion request before it costs a tier: the mistakes a client makes most, named precisely.

These are shallow on purpose (the hot path pays for them): the JSON body, the shape of `messages`,
`tools` and content parts, and image parts sent to a tier that cannot see. Anything deeper is left to
llama-server, whose own complaints are wrapped by `variet.engine.http.backend_errors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from variet.shared.tiers import Tier

__all__ = ["RequestProblem", "check_request", "parse_body"]

_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


@dataclass(frozen=True)
class RequestProblem:
    """What is wrong with a request, as the 4xx answer will say it."""

    message: str
    code: str = "invalid_request"
    param: str | None = None
    status: int = 400


def parse_body(raw: bytes) -> dict[str, Any] | RequestProblem:
    """The request body as a JSON object, or the problem with it."""
    try:
        payload = json.loads(raw)
    except RecursionError:
        return RequestProblem("the JSON body is nested too deeply to read; send an ordinary request object",
                              "invalid_json")
    except ValueError as exc:
        return RequestProblem(f"malformed JSON body: {exc}", "invalid_json")
    if not isinstance(payload, dict):
        return RequestProblem(f"the body must be a JSON object, not {_kind(payload)}", "invalid_json")
    return payload


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def check_request(path: str, payload: dict[str, Any], tier: Tier, name: str) -> RequestProblem | None:
    """The first problem with a completion request for tier `name`, or None."""
    for field, kind in (("stream", bool), ("max_tokens", int), ("temperature", (int, float))):
        value = payload.get(field)
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            expected = {"stream": "true or false", "max_tokens": "an integer", "temperature": "a number"}[field]
            return RequestProblem(f"`{field}` must be {expected}, not {_kind(value)}", param=field)
    if path == "/v1/completions":
        prompt = payload.get("prompt")
        if not isinstance(prompt, str | list):
            return RequestProblem(f"`prompt` is required: a string (or a list of strings or token ids), got "
                                  f"{_kind(prompt)}", param="prompt")
        return None
    anthropic = path.startswith("/v1/messages")
    if (problem := _check_messages(payload.get("messages"), tier, name, anthropic=anthropic)) is not None:
        return problem
    if anthropic and not isinstance(payload.get("system", ""), str | list):
        return RequestProblem("`system` must be a string or a list of text blocks", param="system")
    return _check_tools(payload.get("tools"), anthropic=anthropic)


def _check_messages(messages: Any, tier: Tier, name: str, *, anthropic: bool) -> RequestProblem | None:
    if not isinstance(messages, list) or not messages:
        return RequestProblem(f"`messages` is required: a non-empty array of {{role, content}} objects, got "
                              f"{_kind(messages) if messages != [] else 'an empty array'}", param="messages")
    vision = "mmproj" in tier.args
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            return RequestProblem(f"`{where}` must be an object with `role` and `content`, not {_kind(message)}",
                                  param=where)
        if not isinstance(message.get("role"), str):
            return RequestProblem(f"`{where}.role` is required: a string such as \"user\"", param=f"{where}.role")
        content = message.get("content")
        if content is None or isinstance(content, str):
            continue
        if not isinstance(content, list):
            return RequestProblem(f"`{where}.content` must be a string or an array of parts, not {_kind(content)}",
                                  param=f"{where}.content")
        for j, part in enumerate(content):
            at = f"{where}.content[{j}]"
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                return RequestProblem(f"`{at}` must be an object with a string `type`", param=at)
            if part["type"] in _IMAGE_PARTS and not vision:
                return RequestProblem(
                    f"tier {name!r} cannot take images (it has no vision projector, `mmproj`, in tiers.toml): "
                    f"send text only, or use a tier whose model can see", "unsupported_content", at)
    return None


def _check_tools(tools: Any, *, anthropic: bool) -> RequestProblem | None:
    if tools is None:
        return None
    shape = "{name, description, input_schema}" if anthropic else '{"type": "function", "function": {name, parameters}}'
    if not isinstance(tools, list):
        return RequestProblem(f"`tools` must be an array of {shape}, not {_kind(tools)}", param="tools")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        function = tool if anthropic else (tool.get("function") if isinstance(tool, dict) else None)
        if not isinstance(tool, dict) or not isinstance(function, dict) or (
                not anthropic and tool.get("type") != "function"):
            return RequestProblem(f"`{where}` must be {shape}", param=where)
        if not isinstance(function.get("name"), str) or not function["name"]:
            return RequestProblem(f"`{where}` needs a non-empty string `name`", param=where)
        schema = function.get("input_schema" if anthropic else "parameters")
        if schema is not None and not isinstance(schema, dict):
            key = "input_schema" if anthropic else "function.parameters"
            return RequestProblem(f"`{where}.{key}` must be a JSON Schema object, not {_kind(schema)}",
                                  param=f"{where}.{key}")
    return None
