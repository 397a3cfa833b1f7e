"""The running assistant: the engine client, its event watch, the MCP host and the bot, opened and closed
together.

`Assistant(settings).run()` connects to Discord and serves until `close()` (or until Discord refuses the
bot for good: a rejected token or a missing intent, raised as the `AssistantError` that says what to do).
The MCP servers start while the bot logs in; a message that arrives first waits for them, bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio
import anyio.to_thread
import discord

from variet.assistant.access import Access, Gatekeeper
from variet.assistant.bot import VarietBot, use_discord_at
from variet.assistant.credentials import discord_token
from variet.assistant.engine_watch import EngineWatch
from variet.assistant.errors import AssistantError, DiscordIntentMissing, DiscordTokenRejected
from variet.assistant.mcp_host import McpHost, server_names
from variet.assistant.pins import TierPins
from variet.assistant.services import Services
from variet.shared.config import Settings
from variet.shared.engine_client import EngineClient

__all__ = ["Assistant", "run_assistant"]

log = logging.getLogger("variet.assistant")


class Assistant:
    def __init__(self, settings: Settings, *, token: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._token = token
        self._environ = environ
        self.bot: VarietBot | None = None
        self.services: Services | None = None
        self._closing = False

    async def run(self) -> None:
        """Serve until `close()`. Raises `ConfigError` without a token, `DiscordTokenRejected`,
        `DiscordIntentMissing`."""
        settings = self.settings
        token = self._token or discord_token(settings)
        use_discord_at(settings.discord)
        if not settings.discord.owner_ids:
            log.warning("[discord] owner_ids is empty: the bot answers nobody until you add your user id")
        refused: AssistantError | None = None
        async with EngineClient.from_settings(settings) as engine, \
                McpHost(settings, environ=self._environ) as host, anyio.create_task_group() as tasks:
            watch = EngineWatch(engine)
            pins = await anyio.to_thread.run_sync(TierPins, settings.relative_path(settings.discord.state_file))
            self.services = Services(settings, engine, watch, host, pins,
                                     Gatekeeper(Access.from_settings(settings.discord)))
            self.bot = bot = VarietBot(self.services)
            tasks.start_soon(watch.run, name="engine-events")
            tasks.start_soon(self._report_servers, host, name="mcp-report")
            try:
                if not self._closing:
                    await bot.start(token)
            except discord.LoginFailure:
                refused = DiscordTokenRejected()
            except discord.PrivilegedIntentsRequired:
                refused = DiscordIntentMissing()
            finally:
                await bot.close()
                tasks.cancel_scope.cancel()
        if refused is not None:  # raised out here, not wrapped in the task group's exception group
            raise refused

    async def close(self) -> None:
        """Disconnect from Discord and stop the MCP servers (`run` then returns)."""
        self._closing = True
        if self.bot is not None:
            await self.bot.close()

    @staticmethod
    async def _report_servers(host: McpHost) -> None:
        await host.wait_started()
        log.info("MCP servers: %s", server_names(host.status()) or "none")


def run_assistant(settings: Settings, *, token: str | None = None) -> None:
    """Run the assistant in this process until interrupted (the `variet discord` command)."""

    async def main() -> None:
        assistant = Assistant(settings, token=token)
        try:
            await assistant.run()
        finally:
            with anyio.CancelScope(shield=True):
                await assistant.close()

    anyio.run(main)
