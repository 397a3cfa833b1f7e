"""Exceptions shared by every Variet component.

    VarietError
    ├── ConfigError        a settings or tier file is missing or invalid (names the file and key)
    └── EngineError        the engine answered with an error or could not be reached
        ├── EngineUnreachable   nothing answers at the engine URL
        └── EngineAuthError     the API key is missing or was rejected

Each server translates these into `ToolError`s at its own boundary.
"""

from __future__ import annotations

__all__ = ["ConfigError", "EngineAuthError", "EngineError", "EngineUnreachable", "VarietError"]


class VarietError(Exception):
    """Base class for errors Variet raises on purpose; the message says what to do."""


class ConfigError(VarietError):
    """A settings or tier file is missing or invalid."""


class EngineError(VarietError):
    """The engine returned an error response."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EngineUnreachable(EngineError):
    """No engine answers at the configured URL."""


class EngineAuthError(EngineError):
    """The engine rejected the API key, or one is needed and missing."""
