"""The MCP host against the real servers over stdio (Google through the fake): tools, confirmations, failures."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from tests.assistant.support import bot_settings, clean_environ
from tests.fakes.google import FakeGoogle
from variet.assistant.errors import ServerUnavailable
from variet.assistant.mcp_host import Decision, McpHost
from variet.assistant.toolbox import HostTools
from variet.servers.google import CALENDAR_EVENTS, GMAIL_COMPOSE, GMAIL_READONLY
from variet.shared.config import Settings

MAIL = {GMAIL_READONLY, GMAIL_COMPOSE}


class Owner:
    """An `Asker` that answers as told and remembers the questions."""

    def __init__(self, answer: Decision) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    async def confirm(self, question: str, *, server: str, tool: str, by_host: bool = False) -> Decision:
        self.asked.append((question, server, tool))
        return self.answer


def settings_for(tmp_path: Path, google_fake: FakeGoogle, servers: tuple[str, ...], **discord: object) -> Settings:
    google = google_fake.settings(tmp_path, MAIL | {CALENDAR_EVENTS}, gmail_send=True, calendar_write=True)
    return bot_settings(tmp_path, None, engine_url="http://127.0.0.1:9", servers=servers, google=google, **discord)


async def send_through(host: McpHost, asker: Owner | None) -> tuple[str, bool]:
    tools = HostTools(host, asker)
    draft = await tools.call("create_draft", {"to": ["ann@example.org"], "subject": "Rent", "body": "Paid."})
    assert not draft.is_error, draft.text
    draft_id = draft.text.split('"draft_id": "')[1].split('"')[0]
    sent = await tools.call("send_draft", {"draft_id": draft_id, "confirm": True})
    return sent.text, sent.is_error


@pytest.mark.anyio
async def test_the_tools_of_every_server_are_offered_without_the_confirm_argument(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        async with McpHost(settings_for(tmp_path, google_fake, ("calendar", "gmail")),
                           environ=clean_environ()) as host:
            await host.wait_started()
            tools = HostTools(host, None)
    offered = {entry["function"]["name"]: entry["function"]["parameters"] for entry in tools.openai_tools()}
    assert {"list_events", "find_free_time", "create_event", "delete_event", "search_messages", "send_draft"} <= set(
        offered)
    assert "confirm" not in offered["send_draft"]["properties"]
    assert "confirm" not in offered["delete_event"]["properties"]
    assert [s.up for s in host.status()] == [True, True]


@pytest.mark.anyio
@pytest.mark.parametrize(("answer", "sent"), [("accept", 1), ("decline", 0), ("cancel", 0)])
async def test_a_send_is_asked_through_elicitation_and_happens_only_when_approved(
    google_fake: FakeGoogle, tmp_path: Path, answer: Decision, sent: int
) -> None:
    owner = Owner(answer)
    with anyio.fail_after(60):
        async with McpHost(settings_for(tmp_path, google_fake, ("gmail",)), environ=clean_environ()) as host:
            await host.wait_started()
            text, failed = await send_through(host, owner)
    assert len(owner.asked) == 1
    question, server, tool = owner.asked[0]
    assert (server, tool) == ("gmail", "send_draft") and "To: ann@example.org" in question
    assert len(google_fake.sent) == sent
    assert failed is (sent == 0)
    if not sent:
        assert "did not send" in text


@pytest.mark.anyio
async def test_without_an_asker_nothing_is_sent_even_when_the_model_says_confirm(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        async with McpHost(settings_for(tmp_path, google_fake, ("gmail",)), environ=clean_environ()) as host:
            await host.wait_started()
            _, failed = await send_through(host, None)
    assert failed and google_fake.sent == []


@pytest.mark.anyio
async def test_a_server_that_cannot_start_is_reported_and_the_others_work(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    closed = "http://127.0.0.1:9/mcp"  # discard port: nothing listens
    settings = settings_for(tmp_path, google_fake, ("search", "calendar"), server_urls={"search": closed})
    with anyio.fail_after(60):
        async with McpHost(settings, environ=clean_environ(), start_seconds=10) as host:
            await host.wait_started()
            search, calendar = host.status()
            with pytest.raises(ServerUnavailable, match="variet-search is not running"):
                await host.call_tool("search", "web_search", {"query": "x"})
            listed = await host.call_tool("calendar", "list_calendars", {})
    assert not search.up and search.via == closed and "did not start" in (search.error or "")
    assert calendar.up and not listed.is_error


def _children(module: str) -> list[int]:
    """Our child processes running `python -m module`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and module.encode() in command:
            found.append(int(entry))
    return found


@pytest.mark.anyio
@pytest.mark.posix_only  # finds the server's process through /proc; the engine's crash test covers Windows
async def test_a_crashed_server_fails_its_call_clearly_and_is_started_again(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        async with McpHost(settings_for(tmp_path, google_fake, ("calendar",)), environ=clean_environ()) as host:
            await host.wait_started()
            (pid,) = _children("variet.servers.calendar")
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ServerUnavailable, match="variet-calendar stopped answering"):
                await host.call_tool("calendar", "list_calendars", {})
            assert not host.status()[0].up
            await host.revive()
            listed = await host.call_tool("calendar", "list_calendars", {})
    assert not listed.is_error and host.status()[0].error is None
