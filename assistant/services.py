"""The long-lived parts a running bot shares: settings, engine client and watch, MCP host, pins, access."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from variet.assistant.access import Gatekeeper
from variet.assistant.confirm import Confirmations
from variet.assistant.engine_watch import EngineWatch
from variet.assistant.mcp_host import McpHost
from variet.assistant.pins import TierPins
from variet.assistant.settings import DiscordSettings
from variet.assistant.taint import LinkMemory
from variet.shared.config import Settings
from variet.shared.engine_client import EngineClient

__all__ = ["Services", "TurnTimings"]

_KEPT_TIMINGS = 100


@dataclass(frozen=True)
class TurnTimings:
    """Where one answered message's time went (seconds, monotonic clock)."""

    received: float
    first_visible: float | None
    """When the first message of the answer was posted."""
    finished: float
    engine_seconds: float
    tool_seconds: float
    pacing_seconds: float
    """Time the finished answer waited for Discord's pace before its last edit."""
    confirm_seconds: float = 0.0
    """Time spent waiting for an owner to press a button."""

    @property
    def own_seconds(self) -> float:
        """The bot's own share: everything that was not the engine, the tools, pacing or a person."""
        total = self.finished - self.received
        return max(0.0, total - self.engine_seconds - self.tool_seconds - self.pacing_seconds)


@dataclass
class Services:
    settings: Settings
    engine: EngineClient
    watch: EngineWatch
    host: McpHost
    pins: TierPins
    gate: Gatekeeper
    confirmations: Confirmations = field(default_factory=Confirmations)
    links: LinkMemory = field(default_factory=LinkMemory)
    """URLs search results offered for each answer (a reply may open them unasked)."""
    timings: deque[TurnTimings] = field(default_factory=lambda: deque(maxlen=_KEPT_TIMINGS))
    """The last answered messages, newest last (for logs and the benchmark)."""

    @property
    def discord(self) -> DiscordSettings:
        return self.settings.discord

    def zone(self) -> tzinfo:
        """`[discord] timezone`, else this machine's zone."""
        name = self.discord.timezone
        if name:
            return ZoneInfo(name)
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local

    def now(self) -> datetime:
        return datetime.now(self.zone())
