"""The slash commands: `/status`, `/tier` (owners), `/agenda`, `/inbox`, `/search`.

They answer directly from the engine and the MCP servers, without the model. People the bot does not
answer get no answer here either (and are logged once); `/tier` changes state, so only owners may use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
import discord
from discord import app_commands

from variet.assistant.digest import agenda_text, inbox_text, search_text, status_text
from variet.assistant.errors import explain
from variet.assistant.history import channel_ids
from variet.assistant.render import notice
from variet.assistant.services import Services
from variet.assistant.splitter import split_message
from variet.assistant.toolbox import result_text
from variet.contract import AUTO_MODEL, EngineStatus
from variet.shared.errors import VarietError

__all__ = ["add_commands"]

log = logging.getLogger("variet.assistant")

_CHOICES_MAX = 25
_SUGGEST_SECONDS = 2.0
_NO_PINGS = discord.AllowedMentions.none()
Interaction = discord.Interaction[Any]


def _ids(interaction: Interaction) -> tuple[int, ...]:
    return channel_ids(interaction.channel) if interaction.channel is not None else (interaction.channel_id or 0,)


def _admitted(services: Services, interaction: Interaction) -> bool:
    verdict = services.gate.admit(interaction.user.id, channel_ids=_ids(interaction),
                                  in_dm=interaction.guild_id is None)
    return verdict.admitted


async def _say(interaction: Interaction, text: str) -> None:
    """Replace the deferred "thinking…" with `text` (its first 2000 characters)."""
    await interaction.edit_original_response(content=split_message(text)[0], allowed_mentions=_NO_PINGS)


async def _tool_answer(services: Services, interaction: Interaction, server: str, tool: str,
                       arguments: dict[str, Any], shape: Callable[[dict[str, Any]], str]) -> None:
    await interaction.response.defer(thinking=True)
    try:
        await services.host.wait_started()
        result = await services.host.call_tool(server, tool, arguments)
    except (VarietError, TimeoutError) as exc:
        log.warning("/%s: %s", interaction.command.name if interaction.command else tool, explain(exc))
        await _say(interaction, notice(explain(exc)))
        return
    if result.is_error or not isinstance(result.structured_content, dict):
        line = result_text(result).strip().split("\n", 1)[0] or f"{tool} gave no result"
        log.warning("%s.%s: %s", server, tool, line)
        await _say(interaction, notice(line))
        return
    await _say(interaction, shape(result.structured_content))


def add_commands(tree: app_commands.CommandTree[Any], services: Services) -> None:
    """Register the commands on `tree` (synced to Discord when the bot logs in)."""

    @tree.command(name="status", description="The engine (loaded tier, queue, swaps, speed) and the MCP servers")
    async def status(interaction: Interaction) -> None:
        if not _admitted(services, interaction):
            return
        await interaction.response.defer(thinking=True)
        engine: EngineStatus | str
        try:
            engine = await services.engine.status()
        except VarietError as exc:
            engine = explain(exc)
        model = services.pins.model_for(_ids(interaction), services.discord.model)
        await _say(interaction, status_text(engine, services.watch.view, services.host.status(), model=model))

    @tree.command(name="tier", description="Pin this channel to a tier, or back to auto (owners only)")
    @app_commands.describe(tier="A tier, or auto to let the engine choose")
    async def tier(interaction: Interaction, tier: str) -> None:
        if not _admitted(services, interaction):
            return
        if not services.gate.access.is_owner(interaction.user.id):
            await interaction.response.send_message("Only an owner can pin a tier.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)  # Discord waits 3 s for an answer; the engine may not
        try:
            names = [AUTO_MODEL, *(await services.engine.models()).names()]
        except VarietError as exc:
            await _say(interaction, notice(explain(exc)))
            return
        if tier not in names:
            await _say(interaction, f"There is no tier `{tier}`: choose one of {', '.join(f'`{n}`' for n in names)}.")
            return
        services.pins.pin(_ids(interaction)[0], tier, default=services.discord.model)
        log.info("channel %d pinned to %s by %d", _ids(interaction)[0], tier, interaction.user.id)
        await _say(interaction, f"This channel now uses `{tier}`.")

    @tier.autocomplete("tier")
    async def tier_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        if not _admitted(services, interaction):
            return []
        entries = [(AUTO_MODEL, "")]
        with anyio.move_on_after(_SUGGEST_SECONDS):  # suggestions come late or not at all: Discord waits 3 s
            try:
                entries = [(entry.id, entry.description) for entry in (await services.engine.models()).data]
            except VarietError:
                pass
        found = [(name, about) for name, about in entries if current.lower() in name.lower()]
        return [app_commands.Choice(name=(f"{name} — {about}" if about else name)[:100], value=name)
                for name, about in found[:_CHOICES_MAX]]

    @tree.command(name="agenda", description="Today's and tomorrow's events")
    async def agenda(interaction: Interaction) -> None:
        if not _admitted(services, interaction):
            return
        today = services.now().date()
        arguments = {"time_min": today.isoformat(), "time_max": (today + timedelta(days=1)).isoformat(),
                     "max_results": 50}
        await _tool_answer(services, interaction, "calendar", "list_events", arguments,
                           lambda page: agenda_text(page, today))

    @tree.command(name="inbox", description="Unread mail in the inbox, newest first")
    async def inbox(interaction: Interaction) -> None:
        if not _admitted(services, interaction):
            return
        await _tool_answer(services, interaction, "gmail", "search_messages",
                           {"query": "in:inbox is:unread", "max_results": 10}, inbox_text)

    @tree.command(name="search", description="Search the web (SearXNG)")
    @app_commands.describe(query="What to search for")
    async def search(interaction: Interaction, query: str) -> None:
        if not _admitted(services, interaction):
            return
        await _tool_answer(services, interaction, "search", "web_search", {"query": query, "max_results": 5},
                           search_text)
