"""Error bodies the engine sends: OpenAI-shaped, readable by Anthropic clients, marked `"src": "variet-engine"`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from variet.engine.app import Engine

__all__ = ["backend_down", "error_response"]


def error_response(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    """An error body both OpenAI and Anthropic clients understand, marked as ours."""
    body = {"type": "error", "error": {"message": message, "type": kind, "code": code, "src": "variet-engine"}}
    return JSONResponse(body, status_code=status)


def backend_down(engine: Engine, detail: str) -> JSONResponse:
    return error_response(
        503,
        f"the model backend is unavailable ({detail}). llama-server at {engine.backend.url} is restarting "
        f"automatically; if this persists, check its log: {engine.backend.log_file}",
        "backend_unavailable", "backend_down",
    )
