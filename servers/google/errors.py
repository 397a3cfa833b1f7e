"""What can go wrong talking to Google, each failure saying what to do:

    GoogleError                (VarietError)
    ├── GoogleAuthError        no sign-in, or it expired or was revoked: run `variet auth google`
    ├── GoogleScopeError       the token lacks a permission: which setting to change, then re-auth
    ├── GoogleRateLimited      still rate-limited after bounded backoff
    ├── GoogleNotFound         404 for the id that was asked for
    ├── GoogleUnavailable      Google could not be reached
    └── GoogleApiError         any other HTTP error

Google's own exceptions are translated into these in one place, `variet.servers.google.api`.
"""

from __future__ import annotations

from variet.shared.errors import VarietError

__all__ = [
    "GoogleApiError",
    "GoogleAuthError",
    "GoogleError",
    "GoogleNotFound",
    "GoogleRateLimited",
    "GoogleScopeError",
    "GoogleUnavailable",
]


class GoogleError(VarietError):
    """A Google API call failed in a way the user or the model can act on."""


class GoogleAuthError(GoogleError):
    """There is no usable sign-in: missing, unreadable, expired or revoked."""


class GoogleScopeError(GoogleError):
    """The token lacks a permission the call needs."""


class GoogleRateLimited(GoogleError):
    """Google kept answering 429 (or a rate-limit 403) through every retry."""


class GoogleNotFound(GoogleError):
    """The calendar, event, message, thread or draft does not exist."""


class GoogleUnavailable(GoogleError):
    """Google could not be reached (connection refused, DNS, timeout)."""


class GoogleApiError(GoogleError):
    """Any other error response."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
