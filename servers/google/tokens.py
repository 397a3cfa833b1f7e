"""The saved Google sign-in: where it is (one file per account), and reading it safely (private files only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from variet.servers.google.errors import GoogleAuthError
from variet.shared.config import Settings
from variet.shared.errors import ConfigError
from variet.shared.secrets import exposure

__all__ = ["TESTING_EXPIRY_NOTE", "auth_command", "load_token_info", "token_path"]

TESTING_EXPIRY_NOTE = (
    'If your OAuth app is in "Testing" publishing status, Google expires its refresh tokens after 7 days; '
    'set it to "In production" in the Google Cloud console to keep the sign-in.'
)


def token_path(settings: Settings, account: str | None = None) -> Path:
    """The token file for `account` (default: `[google] account`, else `[google] token_file`)."""
    google = settings.google
    name = account if account is not None else google.account
    if name is None:
        return settings.relative_path(google.token_file)
    if name not in google.accounts:
        known = ", ".join(sorted(google.accounts)) or "none"
        raise ConfigError(f"unknown Google account {name!r}: add [google.accounts.{name}] (configured: {known})")
    return settings.relative_path(google.accounts[name].token_file)


def auth_command(account: str | None) -> str:
    """The command that signs in again for this account."""
    return "variet auth google" + (f" --account {account}" if account else "")


def load_token_info(path: Path, account: str | None = None) -> dict[str, Any]:
    """Read the authorized-user JSON, refusing files that others can read."""
    again = auth_command(account)
    try:
        found = exposure(path)
    except FileNotFoundError:
        raise GoogleAuthError(f"no Google sign-in found at {path}: run `{again}` in a terminal first") from None
    if found is not None:
        raise GoogleAuthError(f"{path}: {found.detail}; the token must be private: run `{found.fix}`")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GoogleAuthError(f"{path}: not a readable token file ({type(exc).__name__}): run `{again}`") from None
    if not isinstance(info, dict) or not {"refresh_token", "client_id", "client_secret"} <= info.keys():
        raise GoogleAuthError(f"{path}: not an authorized-user token (no refresh_token): run `{again}`")
    return info
