"""Error answers the engine sends: the contract's `ErrorBody`, marked `"src": "variet-engine"`.

The body reads the same for OpenAI and Anthropic clients; only `type` follows the family of the endpoint
(OpenAI's names on `/v1/chat/completions` and the control API, Anthropic's on `/v1/messages`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from starlette.responses import JSONResponse

from variet.contract import ErrorBody, ErrorDetail

__all__ = ["ANTHROPIC_PATHS", "Family", "backend_down", "error_response", "family_of"]

Family = Literal["openai", "anthropic"]

ANTHROPIC_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})

_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                    422: "invalid_request_error", 429: "rate_limit_error"}


def family_of(path: str) -> Family:
    return "anthropic" if path in ANTHROPIC_PATHS else "openai"


def error_response(status: int, message: str, kind: str, code: str | None = None, *, family: Family = "openai",
                   param: str | None = None) -> JSONResponse:
    """An error body both OpenAI and Anthropic clients understand, marked as ours."""
    if family == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else kind)
    body = ErrorBody(error=ErrorDetail(message=message, type=kind, code=code, param=param))
    return JSONResponse(body.model_dump(), status_code=status)


def backend_down(url: str, log_file: Path, detail: str, *, family: Family = "openai") -> JSONResponse:
    return error_response(
        503,
        f"the model backend is unavailable ({detail}). llama-server at {url} is restarting automatically; "
        f"if this persists, check its log: {log_file}",
        "backend_unavailable", "backend_down", family=family,
    )
