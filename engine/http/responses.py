"""Error answers the engine sends: the contract's `ErrorBody`, marked `"src": "variet-engine"`.

The body reads the same for OpenAI and Anthropic clients; only `type` follows the family of the endpoint
(OpenAI's names on `/v1/chat/completions` and the control API, Anthropic's on `/v1/messages`). The same
body ends a stream that breaks off, as an SSE `event: error`.

This is also where the engine's exceptions (`variet.engine.errors`) become answers: `failure_response`
and `failure_event` are the one mapping from an `EngineFailure` to a status, type and code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from starlette.responses import JSONResponse

from variet.contract import ErrorBody, ErrorDetail
from variet.engine.errors import (
    BackendFailure,
    EngineFailure,
    PeerUnavailable,
    TierLoadError,
    UnknownTier,
    UpstreamError,
)

__all__ = [
    "ANTHROPIC_PATHS",
    "Family",
    "error_body",
    "error_response",
    "failure_answer",
    "failure_event",
    "failure_response",
    "family_of",
]

Family = Literal["openai", "anthropic"]

ANTHROPIC_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})

_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                    422: "invalid_request_error", 429: "rate_limit_error"}

_FAILURE_ANSWERS: tuple[tuple[type[EngineFailure], int, str, str], ...] = (
    (UnknownTier, 404, "invalid_request_error", "tier_not_found"),
    (TierLoadError, 500, "server_error", "tier_load_failed"),
    (PeerUnavailable, 503, "backend_unavailable", "peer_down"),
    (BackendFailure, 503, "backend_unavailable", "backend_down"),
    (UpstreamError, 503, "backend_unavailable", "backend_down"),
)
"""(exception class, status, type, code), most specific first; any other failure is a 500 `engine_error`."""


class BackendFacts(Protocol):
    """Where llama-server runs and logs, for an answer that says it is down."""

    @property
    def url(self) -> str: ...

    @property
    def log_file(self) -> Path: ...


def family_of(path: str) -> Family:
    return "anthropic" if path in ANTHROPIC_PATHS else "openai"


def error_body(status: int, message: str, kind: str, code: str | None = None, *, family: Family = "openai",
               param: str | None = None) -> ErrorBody:
    """The one error envelope, with `type` named as the family's clients expect."""
    if family == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else kind)
    return ErrorBody(error=ErrorDetail(message=message, type=kind, code=code, param=param))


def error_response(status: int, message: str, kind: str, code: str | None = None, *, family: Family = "openai",
                   param: str | None = None) -> JSONResponse:
    """An error body both OpenAI and Anthropic clients understand, marked as ours."""
    body = error_body(status, message, kind, code, family=family, param=param)
    return JSONResponse(body.model_dump(), status_code=status)


def failure_answer(exc: EngineFailure, *, tier: str | None = None,
                   backend: BackendFacts | None = None) -> tuple[int, str, str, str]:
    """(status, type, code, message) of the answer to `exc`.

    `tier` names the tier a failed load was for; `backend` is llama-server, named in the message of a
    failure to reach it.
    """
    status, kind, code = next(((status, kind, code) for cls, status, kind, code in _FAILURE_ANSWERS
                               if isinstance(exc, cls)), (500, "server_error", "engine_error"))
    message = str(exc)
    if isinstance(exc, TierLoadError) and tier is not None:
        message = f"could not load tier {tier!r}: {exc}"
    elif code == "backend_down" and backend is not None:
        message = (f"the model backend is unavailable ({exc}). llama-server at {backend.url} is restarting "
                   f"automatically; if this persists, check its log: {backend.log_file}")
    return status, kind, code, message


def failure_response(exc: EngineFailure, *, family: Family = "openai", tier: str | None = None,
                     backend: BackendFacts | None = None) -> JSONResponse:
    """The answer to a request the engine failed with `exc`."""
    status, kind, code, message = failure_answer(exc, tier=tier, backend=backend)
    return error_response(status, message, kind, code, family=family)


def failure_event(exc: EngineFailure, *, family: Family = "openai") -> bytes:
    """The SSE `event: error` that ends a stream broken off by `exc` (its 200 status is already sent)."""
    status, kind, code, message = failure_answer(exc)
    body = error_body(status, message, kind, code, family=family)
    return b"event: error\ndata: " + body.model_dump_json().encode() + b"\n\n"
