"""Answers of the control calls: `POST /variet/tiers/{tier}/load`, `POST /variet/unload`, `GET /health`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from variet.contract._base import Answer

__all__ = ["Health", "LoadAnswer", "UnloadAnswer"]


class LoadAnswer(Answer):
    """A load was accepted (202); it runs in the background: follow it with status or events."""

    tier: str
    state: Literal["loaded", "loading"]
    started: bool = Field(description="False when the tier was already loaded or a load of it was pending.")


class UnloadAnswer(Answer):
    """An unload was accepted (202): the tier is unloaded once no request runs on it."""

    state: Literal["unloading"] = "unloading"
    tier: str | None = Field(description="The tier being unloaded; null when none was loaded.")


class Health(Answer):
    """200 with `ok`, or 503 with `backend_down` while llama-server is not running."""

    status: Literal["ok", "backend_down"]
    loaded: str | None = None
    backend: str | None = Field(default=None, description="llama-server's URL, when it is down.")
