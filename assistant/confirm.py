"""Approve / Cancel in Discord: the `Asker` a turn gives the MCP host for the servers' confirmations.

When `variet-gmail` asks before sending or `variet-calendar` before deleting, the question is posted in the
conversation with two buttons. Only an owner's click counts (anyone else is told so, privately, and nothing
changes); the first owner click decides and removes the buttons, so the action is approved at most once;
no decision within `confirm_timeout_seconds` means cancelled. Nothing the model writes can press a button.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import discord

from variet.assistant.mcp_host import Decision
from variet.assistant.render import SMALL, seconds

__all__ = ["ConfirmButtons", "DiscordAsker"]

log = logging.getLogger("variet.assistant")

_QUESTION_MAX = 1500
_NO_PINGS = discord.AllowedMentions.none()


class ConfirmButtons(discord.ui.View):
    """The two buttons; `decided` is set once an owner chose."""

    def __init__(self, owners: frozenset[int], question: str) -> None:
        super().__init__(timeout=None)
        self._owners = owners
        self._question = question
        self.decision: Decision | None = None
        self.decided = anyio.Event()

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id in self._owners:
            return True
        log.info("user %d pressed a confirmation button; only owners may", interaction.user.id)
        await interaction.response.send_message("Only the bot's owner can answer this.", ephemeral=True)
        return False

    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success)
    async def approve(self, interaction: discord.Interaction[Any], _: discord.ui.Button[ConfirmButtons]) -> None:
        await self._decide(interaction, "accept", f"✅ Approved by <@{interaction.user.id}>")

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction[Any], _: discord.ui.Button[ConfirmButtons]) -> None:
        await self._decide(interaction, "decline", f"✖️ Cancelled by <@{interaction.user.id}>")

    async def _decide(self, interaction: discord.Interaction[Any], decision: Decision, verdict: str) -> None:
        if self.decision is not None:  # a second click that raced the first
            await interaction.response.send_message("Already answered.", ephemeral=True)
            return
        self.decision = decision
        self.stop()
        try:
            await interaction.response.edit_message(content=f"{verdict}: {self._question}", view=None,
                                                    allowed_mentions=_NO_PINGS)
        finally:
            self.decided.set()

    async def expire(self, message: discord.Message, waited: float) -> None:
        """Nobody decided in time (`waited` seconds): say so and take the buttons away."""
        self.decision = "cancel"
        self.stop()
        await message.edit(content=f"⌛ No answer within {seconds(waited)}, so cancelled: {self._question}",
                           view=None, allowed_mentions=_NO_PINGS)


class DiscordAsker:
    """Asks in `channel`, under `question_message`, for the turn that message started."""

    def __init__(self, channel: discord.abc.Messageable, question_message: discord.Message | None,
                 owners: frozenset[int], timeout: float) -> None:
        self._channel = channel
        self._reference = question_message
        self._owners = owners
        self._timeout = timeout
        self.waited = 0.0
        """Seconds spent waiting for owners in this turn."""

    async def confirm(self, question: str, *, server: str, tool: str) -> Decision:
        text = question if len(question) <= _QUESTION_MAX else question[: _QUESTION_MAX - 1] + "…"
        buttons = ConfirmButtons(self._owners, text)
        owners = " ".join(f"<@{owner}>" for owner in sorted(self._owners))
        content = (f"🔐 **variet-{server}** asks before `{tool}`:\n{text}\n"
                   f"{SMALL}{owners or 'an owner'}: Approve or Cancel within {seconds(self._timeout)}; "
                   "no answer cancels.")
        if self._reference is not None:
            message = await self._channel.send(content, view=buttons, reference=self._reference,
                                               mention_author=False, allowed_mentions=_NO_PINGS)
        else:
            message = await self._channel.send(content, view=buttons, allowed_mentions=_NO_PINGS)
        started = anyio.current_time()
        with anyio.move_on_after(self._timeout):
            await buttons.decided.wait()
        self.waited += anyio.current_time() - started
        if buttons.decision is None:
            await buttons.expire(message, self._timeout)
        decision = buttons.decision
        assert decision is not None
        log.info("confirmation for %s.%s: %s", server, tool, decision)
        return decision
