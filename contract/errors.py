"""The error body of every error the engine itself answers.

One shape both OpenAI and Anthropic clients read: `{"type": "error", "error": {"message", "type", "code",
"src"}}`. `type` uses OpenAI's names on the OpenAI endpoints and Anthropic's on `/v1/messages`;
`src` is `variet-engine`, so a user can tell the engine's errors from llama-server's (which the engine wraps,
keeping llama-server's message).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from variet.contract._base import Answer

__all__ = ["ENGINE_SRC", "ErrorBody", "ErrorDetail"]

ENGINE_SRC = "variet-engine"


class ErrorDetail(Answer):
    message: str = Field(description="What was wrong and how to fix it.")
    type: str = Field(description="invalid_request_error, authentication_error, server_error, ...")
    code: str | None = Field(default=None, description="A stable machine-readable code (model_not_found, ...).")
    src: str = ENGINE_SRC
    param: str | None = Field(default=None, description="The request field at fault, when there is one.")


class ErrorBody(Answer):
    type: Literal["error"] = "error"
    error: ErrorDetail
