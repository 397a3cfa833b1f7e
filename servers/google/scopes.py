"""The OAuth scopes each server needs, narrowest first: what the settings turn on, and why."""

from __future__ import annotations

from typing import Literal

from variet.shared.config import GoogleSettings

__all__ = [
    "AUTH_PREFIX",
    "CALENDAR_EVENTS",
    "CALENDAR_READONLY",
    "GMAIL_COMPOSE",
    "GMAIL_MODIFY",
    "GMAIL_READONLY",
    "WRITE_SETTING",
    "Service",
    "scope_reasons",
    "scopes_for",
]

Service = Literal["calendar", "gmail"]

AUTH_PREFIX = "https://www.googleapis.com/auth/"
CALENDAR_READONLY = AUTH_PREFIX + "calendar.readonly"
CALENDAR_EVENTS = AUTH_PREFIX + "calendar.events"
GMAIL_READONLY = AUTH_PREFIX + "gmail.readonly"
GMAIL_COMPOSE = AUTH_PREFIX + "gmail.compose"
GMAIL_MODIFY = AUTH_PREFIX + "gmail.modify"

WRITE_SETTING = {CALENDAR_EVENTS: "calendar_write", GMAIL_COMPOSE: "gmail_compose", GMAIL_MODIFY: "gmail_modify"}
"""The setting that grants each write scope."""


def scopes_for(google: GoogleSettings, service: Service | None = None) -> tuple[str, ...]:
    """The narrowest scopes the settings need, for one server or (None) for both, as `variet auth` asks."""
    return tuple(scope for scope, _ in scope_reasons(google, service))


def scope_reasons(google: GoogleSettings, service: Service | None = None) -> list[tuple[str, str]]:
    """Each needed scope with the reason it is needed (for `variet auth google --show-scopes`)."""
    out: list[tuple[str, str]] = []
    if service in (None, "calendar"):
        out.append((CALENDAR_READONLY, "read calendars, events and free/busy (always)"))
        if google.calendar_write:
            out.append((CALENDAR_EVENTS, "create, change and delete events ([google] calendar_write = true)"))
    if service in (None, "gmail"):
        out.append((GMAIL_READONLY, "search and read mail and labels (always)"))
        if google.gmail_compose or google.gmail_send:
            why = "gmail_send" if google.gmail_send else "gmail_compose"
            out.append((GMAIL_COMPOSE, f"create drafts (and send them after confirmation) ([google] {why} = true)"))
        if google.gmail_modify:
            out.append((GMAIL_MODIFY, "change labels: archive, mark read ([google] gmail_modify = true)"))
    return out
