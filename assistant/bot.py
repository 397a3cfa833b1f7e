"""The discord.py client: which messages it answers, its slash commands, and where Discord is.

`VarietBot` answers DMs, mentions and replies to its own messages from the people `[discord]` allows, each
in its own task (discord.py runs every event handler as one), and ignores other bots and everyone else.
`use_discord_at` points discord.py at `[discord] api_url` and `gateway_url` through the library's own
class-level settings (its REST base and its default gateway), so a local fake or a Discord-compatible
server needs no change to the bot.
"""

from __future__ import annotations

import logging

import anyio
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from variet.assistant.commands import add_commands
from variet.assistant.history import addressed_to_bot, channel_ids
from variet.assistant.services import Services
from variet.assistant.settings import DiscordSettings
from variet.assistant.turn import answer_message

__all__ = ["VarietBot", "use_discord_at"]

log = logging.getLogger("variet.assistant")

_GUILDS_SETTLE_SECONDS = 0.5
"""How long discord.py waits for more servers' data before "ready" (it defaults to 2 s, for member caches
this bot does not keep)."""


def use_discord_at(settings: DiscordSettings) -> None:
    """Point discord.py (process-wide) at the REST API and gateway in `settings`."""
    Route.BASE = settings.api_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False  # no voice here: no warning about it


def intents() -> discord.Intents:
    """Messages in servers and DMs, with their text (Message Content is privileged: enable it for the bot)."""
    wanted = discord.Intents.none()
    wanted.guilds = wanted.guild_messages = wanted.dm_messages = wanted.message_content = True
    return wanted


class VarietBot(discord.Client):
    def __init__(self, services: Services) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(),
                         chunk_guilds_at_startup=False, guild_ready_timeout=_GUILDS_SETTLE_SECONDS)
        self.services = services
        self.ready = anyio.Event()
        """Set once connected and Discord has sent the servers the bot is in."""
        self.tree: app_commands.CommandTree[VarietBot] = app_commands.CommandTree(self)
        add_commands(self.tree, services)

    async def setup_hook(self) -> None:
        synced = await self.tree.sync()
        log.info("slash commands registered: %s", ", ".join(f"/{c.name}" for c in synced))

    async def on_ready(self) -> None:
        user = self.user
        log.info("connected to Discord as %s (id %s)", user, user.id if user else "?")
        self.ready.set()

    async def on_interaction(self, interaction: discord.Interaction[VarietBot]) -> None:
        if interaction.type is discord.InteractionType.component:
            await self.services.confirmations.handle(interaction)

    async def on_message(self, message: discord.Message) -> None:
        me = self.user
        if me is None or message.author.id == me.id or message.author.bot:
            return
        if not addressed_to_bot(message, me.id):
            return
        in_dm = isinstance(message.channel, discord.DMChannel)
        verdict = self.services.gate.admit(message.author.id, channel_ids=channel_ids(message.channel), in_dm=in_dm)
        if verdict.admitted:
            await answer_message(message, self.services, bot_id=me.id)
