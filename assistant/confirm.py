"""Approve / Cancel in Discord: the `Asker` a turn gives the MCP host for the servers' confirmations.

When `variet-gmail` asks before sending or `variet-calendar` before deleting, the question is posted in the
conversation with two buttons whose ids carry a fresh random nonce. The question is registered before it is
posted, so a click can never arrive before the bot knows it. Only an owner's click counts (anyone else is
told so, privately, and nothing changes); the first owner click decides and removes the buttons, so the
action is approved at most once; no decision within `confirm_timeout_seconds` means cancelled. Nothing the
model writes can press a button.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import anyio
import discord

from variet.assistant.mcp_host import Decision
from variet.assistant.render import SMALL, seconds

__all__ = ["PREFIX", "Confirmations", "DiscordAsker"]

log = logging.getLogger("variet.assistant")

PREFIX = "variet-confirm"
"""Custom ids of the buttons: `variet-confirm:<nonce>:approve` or `...:cancel`."""
_QUESTION_MAX = 1500
_NO_PINGS = discord.AllowedMentions.none()
Interaction = discord.Interaction[Any]


@dataclass
class _Question:
    text: str
    owners: frozenset[int]
    decision: Decision | None = None
    decided: anyio.Event = field(default_factory=anyio.Event)


class Confirmations:
    """The questions waiting for an owner, by nonce; the bot hands every button click to `handle`."""

    def __init__(self) -> None:
        self._open: dict[str, _Question] = {}

    def open(self, text: str, owners: frozenset[int]) -> tuple[str, _Question]:
        nonce = secrets.token_urlsafe(12)
        question = self._open[nonce] = _Question(text, owners)
        return nonce, question

    def close(self, nonce: str) -> None:
        self._open.pop(nonce, None)

    async def handle(self, interaction: Interaction) -> bool:
        """Answer a click on one of our buttons; False when the click is not ours."""
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id.startswith(PREFIX + ":"):
            return False
        _, nonce, choice = [*custom_id.split(":"), "", ""][:3]
        question = self._open.get(nonce)
        user = interaction.user.id
        if question is None or question.decision is not None:
            await interaction.response.send_message("This question was already answered or has expired.",
                                                    ephemeral=True)
            return True
        if user not in question.owners:
            log.info("user %d pressed a confirmation button; only owners may", user)
            await interaction.response.send_message("Only the bot's owner can answer this.", ephemeral=True)
            return True
        question.decision = "accept" if choice == "approve" else "decline"
        self.close(nonce)
        verdict = f"✅ Approved by <@{user}>" if question.decision == "accept" else f"✖️ Cancelled by <@{user}>"
        try:
            await interaction.response.edit_message(content=f"{verdict}: {question.text}", view=None,
                                                    allowed_mentions=_NO_PINGS)
        finally:
            question.decided.set()
        return True


def _buttons(nonce: str) -> discord.ui.View:
    """The two buttons, as components only: clicks reach `Confirmations.handle`, not a discord.py view."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="Approve", style=discord.ButtonStyle.success,
                                    custom_id=f"{PREFIX}:{nonce}:approve"))
    view.add_item(discord.ui.Button(label="Cancel", style=discord.ButtonStyle.secondary,
                                    custom_id=f"{PREFIX}:{nonce}:cancel"))
    view.stop()  # a finished view is sent but not registered in discord.py's view store
    return view


class DiscordAsker:
    """Asks in `channel`, under `reference` (the message that started the turn)."""

    def __init__(self, channel: discord.abc.Messageable, reference: discord.Message | None,
                 confirmations: Confirmations, owners: frozenset[int], timeout: float) -> None:
        self._channel = channel
        self._reference = reference
        self._confirmations = confirmations
        self._owners = owners
        self._timeout = timeout
        self.waited = 0.0
        """Seconds spent waiting for owners in this turn."""

    async def confirm(self, question: str, *, server: str, tool: str, by_host: bool = False) -> Decision:
        text = question if len(question) <= _QUESTION_MAX else question[: _QUESTION_MAX - 1] + "…"
        nonce, pending = self._confirmations.open(text, self._owners)
        owners = " ".join(f"<@{owner}>" for owner in sorted(self._owners))
        who = f"Variet holds `{tool}` (variet-{server}) until an owner approves" if by_host else \
            f"**variet-{server}** asks before `{tool}`"
        content = (f"🔐 {who}:\n{text}\n"
                   f"{SMALL}{owners or 'an owner'}: Approve or Cancel within {seconds(self._timeout)}; "
                   "no answer cancels.")
        started = anyio.current_time()
        try:
            if self._reference is not None:
                message = await self._channel.send(content, view=_buttons(nonce), reference=self._reference,
                                                   mention_author=False, allowed_mentions=_NO_PINGS)
            else:
                message = await self._channel.send(content, view=_buttons(nonce), allowed_mentions=_NO_PINGS)
            with anyio.move_on_after(self._timeout - (anyio.current_time() - started)):
                await pending.decided.wait()
            if pending.decision is None:
                pending.decision = "cancel"
                await message.edit(content=f"⌛ No answer within {seconds(self._timeout)}, so cancelled: {text}",
                                   view=None, allowed_mentions=_NO_PINGS)
        finally:
            self._confirmations.close(nonce)
            self.waited += anyio.current_time() - started
            if pending.decision is None:
                pending.decision = "cancel"
        log.info("confirmation for %s.%s: %s", server, tool, pending.decision)
        return pending.decision
