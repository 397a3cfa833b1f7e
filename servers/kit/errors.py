"""Failures of a tool call the model can fix by calling differently, raised by the servers' service classes.

    VarietError                     (variet.shared.errors)
    └── ServiceError                the call cannot be done as asked; the message says what to pass instead
        ├── InvalidRequest          an argument is empty or names nothing the engine serves
        └── TierNotReady            the tier did not become the loaded one
            ├── TierLoadFailed      the engine's swap to it failed
            └── TierStillLoading    the swap outlasted the wait; calling again continues it

The service classes raise these without knowing about MCP; `variet.servers.kit.tools.tool_errors` turns every
`VarietError` into the `ToolError` a model reads.
"""

from __future__ import annotations

from variet.shared.errors import VarietError

__all__ = ["InvalidRequest", "ServiceError", "TierLoadFailed", "TierNotReady", "TierStillLoading"]


class ServiceError(VarietError):
    """A tool call that cannot be done as asked."""


class InvalidRequest(ServiceError):
    """An argument is empty or names something the engine does not serve."""


class TierNotReady(ServiceError):
    """The tier a call needs did not become the loaded one."""

    def __init__(self, message: str, *, tier: str) -> None:
        super().__init__(message)
        self.tier = tier


class TierLoadFailed(TierNotReady):
    """The engine's swap to the tier failed."""


class TierStillLoading(TierNotReady):
    """The swap outlasted the wait; it goes on, and calling again waits for it."""
