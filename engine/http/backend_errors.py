"""llama-server's error answers, classified and wrapped in the engine's error shape, keeping its message.

llama-server answers some client mistakes with a 500 (a `std::runtime_error` such as "image input is not
supported", or a JSON type error deep in a template), which a client would take for a server failure. The
engine sorts them: a message that describes the request is a 400; a prompt that does not fit the tier's
context is a 400 that names both sizes; anything else from llama-server is a 502 (the engine works, its
backend failed).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import JSONResponse

from variet.engine.http.responses import Family, error_response

__all__ = ["classify", "wrap_backend_error"]

_CLIENT_MISTAKE = re.compile(
    r"not supported|does not support|unsupported|invalid|must be|must have|expected|required|missing|"
    r"cannot be|can't be|json\.exception|type must be|parse|unknown (?:field|parameter|role)|"
    r"exceeds|too (?:long|large|many)|empty", re.IGNORECASE)


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {"message": body.decode(errors="replace")[:500].strip()}
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return error
    if isinstance(error, str):
        return {"message": error}
    return {"message": str(data)[:500]}


def classify(status: int, error: dict[str, Any]) -> tuple[int, str, str]:
    """(status to answer, error type, code) for a llama-server error answer."""
    message = str(error.get("message", ""))
    if error.get("type") == "exceed_context_size_error":
        return 400, "invalid_request_error", "context_length_exceeded"
    if 400 <= status < 500:
        return status, "invalid_request_error" if status != 401 else "server_error", "backend_rejected"
    if error.get("type") == "invalid_request_error" or _CLIENT_MISTAKE.search(message):
        return 400, "invalid_request_error", "backend_rejected"
    return 502, "server_error", "backend_error"


def wrap_backend_error(status: int, body: bytes, tier: str, context: int, family: Family,
                       headers: dict[str, str]) -> JSONResponse:
    """The engine's answer for a llama-server error answer on tier `tier`."""
    error = _error_of(body)
    answer, kind, code = classify(status, error)
    message = str(error.get("message") or f"HTTP {status}")
    if code == "context_length_exceeded":
        prompt = error.get("n_prompt_tokens")
        n_ctx = error.get("n_ctx") or context
        size = f"is {prompt} tokens" if isinstance(prompt, int) and prompt else "does not fit"
        text = (f"the prompt {size}, but tier {tier!r} has a context of {n_ctx} tokens for prompt and answer "
                f"together: shorten the conversation, lower max_tokens, or use a tier with a larger context")
    elif answer == 401:
        answer, text = 502, f"llama-server refused the engine's own key ({message}); restart the engine"
    elif answer < 500:
        text = f"llama-server rejected the request for tier {tier!r}: {message}"
    else:
        text = f"llama-server failed on tier {tier!r}: {message}"
    response = error_response(answer, text, kind, code, family=family)
    response.headers.update(headers)
    return response
