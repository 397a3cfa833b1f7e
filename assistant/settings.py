"""`[discord]`: the Discord assistant's settings and their defaults.

They live with the assistant, the only part that reads them; `variet.shared.config.Settings` validates the
section from here when something first reads `settings.discord`. Importing this module loads neither
discord.py nor the rest of the assistant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from variet.shared.config import SECTION_CONFIG, OutboundMode
from variet.shared.paths import state_dir

__all__ = [
    "DISCORD_API_URL",
    "DISCORD_GATEWAY_URL",
    "DiscordSettings",
    "McpServerName",
]

McpServerName = Literal["search", "calendar", "gmail", "inference", "router"]
DISCORD_API_URL = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
DISCORD_SERVERS: tuple[McpServerName, ...] = ("search", "calendar", "gmail")
DISCORD_MAX_TOOL_ROUNDS = 8
DISCORD_HISTORY_MESSAGES = 30
DISCORD_MAX_TOKENS = 2048
DISCORD_CONFIRM_SECONDS = 120.0
DISCORD_EDIT_INTERVAL = 1.0
DISCORD_TOOL_SECONDS = 120.0


class DiscordSettings(BaseModel):
    """`[discord]`: the Discord assistant (`variet discord`). The token comes from `VARIET_DISCORD_TOKEN` or
    the 0600 `token_file`, never from this file."""

    model_config = SECTION_CONFIG

    token_file: str | None = None
    """File (mode 0600) holding the bot token; `VARIET_DISCORD_TOKEN` takes precedence."""
    owner_ids: tuple[int, ...] = ()
    """Discord user ids that may use the bot, change its settings and approve sends and deletes."""
    allowed_user_ids: tuple[int, ...] = ()
    """Other user ids that may talk to the bot and use its tools (they cannot pin tiers or approve anything);
    everyone else is ignored."""
    allowed_channel_ids: tuple[int, ...] = ()
    """When set, the bot answers in these server channels (and their threads) only; DMs are unaffected."""
    model: str = "auto"
    """The tier (or `auto`) the bot asks for; `/tier` pins a channel to another."""
    servers: tuple[McpServerName, ...] = DISCORD_SERVERS
    """Variet MCP servers whose tools the model may use, started over stdio."""
    server_urls: dict[McpServerName, str] = Field(default_factory=dict)
    """Streamable HTTP URLs for some of `servers` (`{ search = "http://127.0.0.1:8765/mcp" }`) instead of stdio."""
    max_tool_rounds: int = Field(default=DISCORD_MAX_TOOL_ROUNDS, ge=1, le=50)
    """Model replies with tool calls in one turn; past this the bot stops and says so."""
    timezone: str | None = None
    """IANA zone for "today" and "tomorrow" (`Europe/Berlin`); default: this machine's zone."""
    history_messages: int = Field(default=DISCORD_HISTORY_MESSAGES, ge=1, le=200)
    """Messages of a reply chain, thread or DM sent to the model as the conversation."""
    max_tokens: int = Field(default=DISCORD_MAX_TOKENS, ge=16)
    """Longest answer the model may give per call."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature sent with every request; default: the tier's own."""
    confirm_timeout_seconds: float = Field(default=DISCORD_CONFIRM_SECONDS, gt=0, le=3600)
    """How long an Approve / Cancel prompt waits for an owner; no answer means cancelled."""
    edit_interval_seconds: float = Field(default=DISCORD_EDIT_INTERVAL, ge=0.05)
    """Least time between two edits of a streaming answer (Discord allows about five edits in five seconds)."""
    tool_timeout_seconds: float = Field(default=DISCORD_TOOL_SECONDS, gt=0)
    """A tool call that takes longer fails (time spent waiting for a confirmation does not count)."""
    outbound: OutboundMode = "ask"
    """Once a conversation holds untrusted content (mail, events, web pages), tool calls that can carry data
    out (a URL nobody gave, a search with private text, drafts, invitations): `ask` an owner with Approve /
    Cancel, `block` them with a one-line reason, or `allow` them unchecked."""
    state_file: str = str(state_dir() / "discord.json")
    """Where `/tier` pins are kept across restarts."""
    api_url: str = DISCORD_API_URL
    """Discord's REST API base; point it at a Discord-compatible server or a local fake."""
    gateway_url: str = DISCORD_GATEWAY_URL
    """Discord's gateway WebSocket URL; point it with `api_url`."""

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _urls_name_used_servers(self) -> DiscordSettings:
        if unused := sorted(set(self.server_urls) - set(self.servers)):
            raise ValueError(f"server_urls names {', '.join(unused)}, which `servers` does not list")
        return self
