"""The bot as an MCP host: a scripted model calls the real servers (searx, the Google fake) through Discord."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.assistant.support import answers, bot_settings, final_answer, running_bot
from tests.assistant.test_mcp_host import _children
from tests.fakes.discord import FakeDiscord, serve_fake_discord
from tests.fakes.google import FakeGoogle
from tests.fakes.openai_stub import OpenAIStub, ToolCall, serve_openai_stub
from tests.parts.searx import FixtureEngine
from variet.assistant import Assistant
from variet.servers.google import CALENDAR_EVENTS, GMAIL_COMPOSE, GMAIL_READONLY

pytestmark = pytest.mark.anyio

SCOPES = {GMAIL_READONLY, GMAIL_COMPOSE, CALENDAR_EVENTS}


@asynccontextmanager
async def bot_with(tmp_path: Path, script: list[ToolCall], *, google: FakeGoogle | None = None, searx: str = "",
                   final: Any = "Done.", servers: tuple[str, ...] = ("search", "calendar", "gmail"),
                   **discord: Any) -> AsyncIterator[tuple[FakeDiscord, OpenAIStub, dict[str, Any], Assistant]]:
    """The fake Discord with Ann (the owner), the scripted model, and the bot using the real servers."""
    google_settings = google.settings(tmp_path, SCOPES, gmail_send=True, calendar_write=True) if google else None
    with serve_openai_stub(script, final_text=final) as stub:
        async with serve_fake_discord() as fake:
            ann = fake.add_user("Ann")
            sections = {"search": {"url": searx}} if searx else {}
            settings = bot_settings(tmp_path, fake, engine_url=stub.url, owners=(int(ann["id"]),), servers=servers,
                                    google=google_settings, sections=sections, **discord)
            async with running_bot(fake, settings) as assistant:
                yield fake, stub, ann, assistant


def first_result(results: list[str]) -> str:
    return str(json.loads(results[0])["results"][0]["url"])


@pytest.mark.searx
async def test_a_search_question_is_answered_with_the_tools_result(tmp_path: Path, searx: str,
                                                                   web: FixtureEngine) -> None:
    script = [ToolCall("web_search", {"query": "lisbon tram 28"})]
    async with bot_with(tmp_path, script, searx=searx, servers=("search",),
                        final=lambda results: f"The tram runs, see {first_result(results)}") as (fake, stub, ann, _):
        dm = fake.dm(ann)
        await fake.say(ann, dm, "when does tram 28 run in Lisbon?")
        with anyio.fail_after(30):
            answer = await final_answer(fake, dm)
    url = web.result_url("search", "lisbon tram 28", 1, 1)
    assert f"The tram runs, see {url}" in answer["content"]
    assert "🔧 web_search" in answer["content"]
    assert url in stub.results()[0] and "lisbon tram 28 result 1" in stub.results()[0]
    offered = {tool["function"]["name"] for tool in stub.chat_requests()[0]["tools"]}
    assert offered == {"web_search", "fetch_page"}


def next_weekday(weekday: int) -> date:
    today = date.today()
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


async def test_book_a_free_hour_finds_the_slot_then_creates_the_event(tmp_path: Path, google_fake: FakeGoogle) -> None:
    thursday = next_weekday(3).isoformat()
    google_fake.add_event(summary="Dentist", start={"dateTime": f"{thursday}T09:00:00+00:00"},
                          end={"dateTime": f"{thursday}T12:00:00+00:00"})
    script = [
        ToolCall("find_free_time", {"duration_minutes": 60, "window_start": thursday, "window_end": thursday}),
        ToolCall("create_event", lambda results: {"summary": "Focus hour",
                                                  "start": json.loads(results[0])["slots"][0]["start"]}),
    ]
    final = "Booked: " + "{}"
    async with bot_with(tmp_path, script, google=google_fake, servers=("calendar",),
                        final=lambda results: final.format(json.loads(results[1])["event"]["start"])) as (
            fake, _, ann, _):
        dm = fake.dm(ann)
        await fake.say(ann, dm, "find me a free hour on Thursday and book it")
        with anyio.fail_after(30):
            answer = await final_answer(fake, dm)
    (booked,) = [e for e in google_fake.calendars["primary"].events.values() if e["summary"] == "Focus hour"]
    assert booked["start"]["dateTime"].startswith(f"{thursday}T12:00:00")
    assert f"Booked: {thursday}T12:00:00" in answer["content"]
    assert "🔧 find_free_time, create_event" in answer["content"]


SEND = [
    ToolCall("create_draft", {"to": ["landlord@example.org"], "subject": "Rent", "body": "Paid on Friday."}),
    ToolCall("send_draft", lambda results: {"draft_id": json.loads(results[0])["draft_id"], "confirm": True}),
]


async def confirmation(fake: FakeDiscord, channel: int) -> dict[str, Any]:
    found: dict[str, Any] = await fake.wait_for(
        lambda: next((m for m in fake.bot_messages(channel) if m["content"].startswith("🔐")), None))
    return found


async def test_a_mail_is_sent_exactly_once_after_the_owner_approves(tmp_path: Path, google_fake: FakeGoogle) -> None:
    async with bot_with(tmp_path, SEND, google=google_fake, servers=("gmail",),
                        final=lambda results: f"Sent: {results[1]}") as (fake, _, ann, _):
        dm = fake.dm(ann)
        await fake.say(ann, dm, "tell the landlord the rent is paid on Friday")
        with anyio.fail_after(30):
            prompt = await confirmation(fake, dm)
            assert google_fake.sent == []
            approve, _ = fake.button_ids(prompt)
            await fake.click(ann, prompt, approve)
            answer = await final_answer(fake, dm)
            await fake.click(ann, prompt, approve)  # a late second click: the buttons are gone
    assert "To: landlord@example.org" in prompt["content"] and "Subject: Rent" in prompt["content"]
    assert len(google_fake.sent) == 1
    assert len([c for c in google_fake.api_calls if c[1].endswith("/drafts/send")]) == 1
    decided = fake.message(dm, prompt["id"])
    assert decided["content"].startswith(f"✅ Approved by <@{ann['id']}>") and decided["components"] == []
    assert '"sent": true' in answer["content"]


@pytest.mark.parametrize("how", ["cancel", "timeout", "stranger", "allowed user"])
async def test_cancel_a_timeout_or_someone_elses_click_sends_nothing(tmp_path: Path, google_fake: FakeGoogle,
                                                                     how: str) -> None:
    timeout = 60.0 if how == "cancel" else 1.5
    bob_id = 0

    async with bot_with(tmp_path, SEND, google=google_fake, servers=("gmail",), confirm_timeout_seconds=timeout,
                        final=lambda results: f"Result: {results[1]}") as (fake, _, ann, _):
        bob = fake.add_user("Bob")
        bob_id = int(bob["id"])
        dm = fake.dm(ann)
        await fake.say(ann, dm, "tell the landlord the rent is paid on Friday")
        with anyio.fail_after(30):
            prompt = await confirmation(fake, dm)
            approve, cancel = fake.button_ids(prompt)
            if how == "cancel":
                await fake.click(ann, prompt, cancel)
            elif how != "timeout":
                click = await fake.click(bob, prompt, approve)
                await fake.wait_for(lambda: click.answered)
            answer = await final_answer(fake, dm)
    assert google_fake.sent == []
    decided = fake.message(dm, prompt["id"])["content"]
    if how == "cancel":
        assert decided.startswith(f"✖️ Cancelled by <@{ann['id']}>")
        assert "declined" in answer["content"]
    else:
        assert decided.startswith("⌛ No answer within 1.5 s, so cancelled")
        assert "cancelled" in answer["content"]
    if how in ("stranger", "allowed user"):
        (response,) = click.responses
        assert response["data"]["content"] == "Only the bot's owner can answer this."
        assert response["data"]["flags"] == 64  # ephemeral: only Bob sees it
    assert bob_id


@pytest.mark.searx
async def test_a_crashed_server_is_reported_and_the_next_message_works_again(
    tmp_path: Path, searx: str, web: FixtureEngine
) -> None:
    script = [ToolCall("web_search", {"query": "ferry times"})]

    def final(results: list[str]) -> str:
        return f"Found {first_result(results)}" if results[0].startswith("{") else "The search failed."

    async with bot_with(tmp_path, script, searx=searx, servers=("search",), final=final) as (fake, _, ann, _):
        dm = fake.dm(ann)
        (pid,) = _children("variet.servers.search")
        os.kill(pid, signal.SIGKILL)
        await fake.say(ann, dm, "ferry times?")
        with anyio.fail_after(30):
            failed = await final_answer(fake, dm)
            await fake.say(ann, dm, "try again please", reply_to=failed["id"])
            again = await final_answer(fake, dm, after=1)
    assert failed["content"].startswith("The search failed.")
    assert "-# ⚠️ variet-search stopped answering during web_search" in failed["content"]
    assert f"Found {web.result_url('search', 'ferry times', 1, 1)}" in again["content"]
    assert "⚠️" not in again["content"]


async def test_a_server_that_does_not_start_is_named_in_the_reply_and_the_others_serve(
    tmp_path: Path, google_fake: FakeGoogle
) -> None:
    script = [ToolCall("list_calendars")]
    async with bot_with(tmp_path, script, google=google_fake, servers=("search", "calendar"),
                        server_urls={"search": "http://127.0.0.1:9/mcp"},
                        final=lambda results: f"Calendars: {json.loads(results[0])['calendars'][0]['name']}") as (
            fake, stub, ann, _):
        dm = fake.dm(ann)
        await fake.say(ann, dm, "which calendars do I have?")
        with anyio.fail_after(30):
            answer = await final_answer(fake, dm)
    assert answer["content"].startswith("Calendars: me@example.org")
    assert "-# ⚠️ variet-search is down: did not start" in answer["content"]
    offered = {tool["function"]["name"] for tool in stub.chat_requests()[0]["tools"]}
    assert "web_search" not in offered and "list_calendars" in offered
    assert len(answers(fake, dm)) == 1
