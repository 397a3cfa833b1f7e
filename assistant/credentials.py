"""The bot token: from `VARIET_DISCORD_TOKEN` or the private `[discord] token_file`, and kept out of logs."""

from __future__ import annotations

import logging

from variet.shared.config import Settings
from variet.shared.errors import ConfigError
from variet.shared.secrets import secret_from

__all__ = ["TOKEN_ENV", "TokenRedactor", "discord_token"]

TOKEN_ENV = "VARIET_DISCORD_TOKEN"


def discord_token(settings: Settings) -> str:
    """The token from the environment, else from `token_file`; `ConfigError` saying how to provide one."""
    file = settings.discord.token_file
    token = secret_from(TOKEN_ENV, settings.relative_path(file) if file else None)
    if token:
        return token
    raise ConfigError(
        f"no Discord bot token: set {TOKEN_ENV} or [discord] token_file (a file only you can read) "
        "to the token from the Developer Portal (your application -> Bot -> Reset Token)"
    )


class TokenRedactor(logging.Filter):
    """Replaces the token in every record that passes through (a second line of defence; nothing logs it)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self._token and self._token in record.getMessage():
            record.msg = record.getMessage().replace(self._token, "[discord token]")
            record.args = None
        return True
