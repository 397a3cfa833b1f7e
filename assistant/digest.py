"""The slash commands' answers as text: status, agenda, inbox and search results, from typed data.

Pure functions of what the engine and the MCP servers returned (their structured results, as JSON), so
the wording is tested without Discord. Text written by others (titles, senders, snippets) is shown as
data: clipped, and with Discord's markdown and mention syntax escaped (no message of the bot pings anyone).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from variet.assistant.engine_watch import EngineView
from variet.assistant.mcp_host import ServerStatus
from variet.assistant.render import SMALL, seconds
from variet.contract import EngineStatus, SwapDoneEvent

__all__ = ["agenda_text", "inbox_text", "search_text", "status_text"]


def status_text(status: EngineStatus | str, view: EngineView, servers: Sequence[ServerStatus], *,
                model: str) -> str:
    """`/status`: the engine (or why it cannot be reached), then the MCP servers."""
    lines = ["**Engine**"]
    if isinstance(status, str):
        lines.append(f"⚠️ {status}")
    else:
        loaded = status.loaded or "nothing"
        swapping = f"; loading {status.swapping.tier} ({seconds(status.swapping.elapsed_seconds)} of about " \
                   f"{seconds(status.swapping.expected_seconds)})" if status.swapping else ""
        lines.append(f"{status.state}: {loaded} loaded{swapping}; {status.in_flight} running, {status.queued} queued")
        for name, tier in status.tiers.items():
            speed = tier.measured_tokens_per_second
            measured = (f"{speed:.1f} tok/s measured" if speed
                        else f"~{tier.expected_tokens_per_second:g} tok/s expected")
            last = tier.last_swap
            swap = ""
            if last is not None:
                swap = f", last load {seconds(last.seconds)}" if last.ok else f", last load failed: {last.error}"
            queue = f", {tier.queued} queued" if tier.queued else ""
            mark = "▶ " if tier.loaded else ""
            lines.append(f"- {mark}`{name}`: {measured}{swap}{queue}")
        backend = status.backend
        if not backend.up:
            lines.append(f"⚠️ llama-server is down (restarts so far: {backend.restarts})")
    if view.recent:
        shown = []
        for event in view.recent[-3:]:
            if isinstance(event, SwapDoneEvent):
                shown.append(f"{event.previous or 'nothing'} → {event.tier} in {seconds(event.seconds)}")
            else:
                shown.append(f"{event.tier} failed: {event.error}")
        lines.append(f"{SMALL}recent swaps: " + "; ".join(shown))
    lines.append(f"{SMALL}this channel uses `{model}`")
    lines.append("**MCP servers**")
    for server in servers:
        if server.up:
            lines.append(f"- ✅ {server.name}: {len(server.tools)} tools ({server.via})")
        else:
            lines.append(f"- ⚠️ {server.name}: {server.error}")
    if not servers:
        lines.append("- none configured")
    return "\n".join(lines)


def agenda_text(page: dict[str, Any], today: date) -> str:
    """`/agenda`: today's and tomorrow's events, by day."""
    events = page.get("events") or []
    zone = page.get("time_zone") or ""
    days: dict[str, list[str]] = {}
    for event in events:
        start = str(event.get("start", ""))
        day = start[:10]
        when = "all day" if event.get("all_day") else f"{start[11:16]}–{str(event.get('end', ''))[11:16]}"
        place = f" · {_plain(str(event['location']), 60)}" if event.get("location") else ""
        days.setdefault(day, []).append(f"- {when} **{_plain(str(event.get('summary') or '(no title)'), 100)}**{place}")
    lines = []
    for offset, label in ((0, "Today"), (1, "Tomorrow")):
        day = date.fromordinal(today.toordinal() + offset).isoformat()
        lines.append(f"**{label}** ({day})")
        lines += days.get(day) or ["- nothing"]
    if zone:
        lines.append(f"{SMALL}times in {zone}")
    return "\n".join(lines)


def inbox_text(result: dict[str, Any]) -> str:
    """`/inbox`: unread mail, newest first."""
    messages = result.get("messages") or []
    if not messages:
        return "No unread mail in the inbox."
    lines = [f"**Unread** ({len(messages)}{'+' if result.get('next_page_token') else ''})"]
    for message in messages:
        sender = _plain(str(message.get("sender") or "?"), 60)
        subject = _plain(str(message.get("subject") or "(no subject)"), 100)
        lines.append(f"- **{subject}** — {sender}")
        if snippet := message.get("snippet"):
            lines.append(f"  {SMALL}{_plain(str(snippet), 140)}")
    return "\n".join(lines)


def search_text(results: dict[str, Any], *, limit: int = 5) -> str:
    """`/search`: direct answers, then the top results with their links."""
    lines = [f"**{_plain(str(results.get('query', '')), 100)}**"]
    for answer in (results.get("answers") or [])[:2]:
        lines.append(f"> {_plain(str(answer.get('text', '')), 300)}")
    found = (results.get("results") or [])[:limit]
    for index, result in enumerate(found, 1):
        lines.append(f"{index}. [{_plain(str(result.get('title') or result.get('url')), 100)}](<{result.get('url')}>)")
        if snippet := result.get("snippet"):
            lines.append(f"   {SMALL}{_plain(str(snippet), 160)}")
    if not found:
        lines.append(str(results.get("note") or "No results."))
    return "\n".join(lines)


def _plain(text: str, limit: int) -> str:
    """Someone else's text on one line: no markdown or mention syntax that could break the list, clipped."""
    text = " ".join(text.split())
    for mark in ("*", "_", "`", "~", "|", "[", "]", "<", ">"):
        text = text.replace(mark, "\\" + mark)
    return text if len(text) <= limit else text[: limit - 1] + "…"
