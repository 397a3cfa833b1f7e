"""Google sign-in and API access shared by the Calendar and Gmail servers (and `variet auth`, `variet doctor`)."""

from variet.servers.google.api import GoogleApi
from variet.servers.google.errors import (
    GoogleApiError,
    GoogleAuthError,
    GoogleError,
    GoogleNotFound,
    GoogleRateLimited,
    GoogleScopeError,
    GoogleUnavailable,
)
from variet.servers.google.scopes import (
    CALENDAR_EVENTS,
    CALENDAR_READONLY,
    GMAIL_COMPOSE,
    GMAIL_MODIFY,
    GMAIL_READONLY,
    Service,
    scope_reasons,
    scopes_for,
)
from variet.servers.google.tokens import TESTING_EXPIRY_NOTE, auth_command, load_token_info, token_path

__all__ = [
    "CALENDAR_EVENTS",
    "CALENDAR_READONLY",
    "GMAIL_COMPOSE",
    "GMAIL_MODIFY",
    "GMAIL_READONLY",
    "TESTING_EXPIRY_NOTE",
    "GoogleApi",
    "GoogleApiError",
    "GoogleAuthError",
    "GoogleError",
    "GoogleNotFound",
    "GoogleRateLimited",
    "GoogleScopeError",
    "GoogleUnavailable",
    "Service",
    "auth_command",
    "load_token_info",
    "scope_reasons",
    "scopes_for",
    "token_path",
]
