"""/agenda, /inbox and /search answer straight from the real servers (Google through the fake, real searx)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest

from tests.assistant.support import bot_settings, running_bot
from tests.fakes.discord import FakeDiscord, serve_fake_discord
from tests.fakes.google import FakeGoogle
from tests.parts.searx import FixtureEngine
from variet.servers.google import CALENDAR_READONLY, GMAIL_READONLY

pytestmark = pytest.mark.anyio

ZONE = "Europe/Berlin"


@asynccontextmanager
async def commands_bot(tmp_path: Path, google_fake: FakeGoogle, searx: str = "http://127.0.0.1:9",
                       **discord: Any) -> AsyncIterator[tuple[FakeDiscord, dict[str, Any]]]:
    google = google_fake.settings(tmp_path, {CALENDAR_READONLY, GMAIL_READONLY}, timezone=ZONE)
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        settings = bot_settings(tmp_path, fake, engine_url="http://127.0.0.1:9", owners=(int(ann["id"]),),
                                servers=("search", "calendar", "gmail"), google=google,
                                sections={"search": {"url": searx}}, **discord)
        async with running_bot(fake, settings):
            yield fake, ann


async def run(fake: FakeDiscord, user: dict[str, Any], name: str, **options: Any) -> str:
    with anyio.fail_after(30):
        done = await fake.slash(user, fake.general, name, **options)
        await fake.wait_for(lambda: done.original is not None and done.text())
    return done.text()


async def test_agenda_lists_today_and_tomorrow_in_order(tmp_path: Path, google_fake: FakeGoogle) -> None:
    today = datetime.now(ZoneInfo(ZONE)).date()
    tomorrow = today + timedelta(days=1)

    def at(day: object, hour: int) -> dict[str, str]:
        return {"dateTime": f"{day}T{hour:02d}:00:00+00:00"}

    google_fake.add_event(summary="Dentist", start=at(tomorrow, 8), end=at(tomorrow, 9), location="Rua Augusta 1")
    google_fake.add_event(summary="Standup @everyone", start=at(today, 7), end=at(today, 8))
    google_fake.add_event(summary="Later", start=at(today + timedelta(days=3), 7), end=at(today + timedelta(days=3), 8))
    async with commands_bot(tmp_path, google_fake) as (fake, ann):
        text = await run(fake, ann, "agenda")
    lines = text.split("\n")
    assert lines[0] == f"**Today** ({today})"
    assert lines[1].startswith("- 0") and "**Standup @everyone**" in lines[1]
    assert lines[2] == f"**Tomorrow** ({tomorrow})"
    assert "**Dentist** · Rua Augusta 1" in lines[3]
    assert "Later" not in text and lines[-1] == f"-# times in {ZONE}"


def mail(sender: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "me@example.org", subject
    message.set_content(text)
    return message


async def test_inbox_lists_unread_mail_newest_first(tmp_path: Path, google_fake: FakeGoogle) -> None:
    google_fake.add_message(mail("Landlord <landlord@example.org>", "Rent", "Due on Friday."))
    google_fake.add_message(mail("News <news@example.com>", "Read already", "old"), labels=["INBOX"])
    google_fake.add_message(mail("Ann <ann@example.org>", "Lunch?", "At noon?"))
    async with commands_bot(tmp_path, google_fake) as (fake, ann):
        text = await run(fake, ann, "inbox")
    lines = text.split("\n")
    assert lines[0] == "**Unread** (2)"
    assert lines[1] == "- **Lunch?** — Ann \\<ann@example.org\\>" and lines[3].startswith("- **Rent**")
    assert "Read already" not in text


@pytest.mark.searx
async def test_search_shows_the_top_results_with_links(tmp_path: Path, google_fake: FakeGoogle, searx: str,
                                                       web: FixtureEngine) -> None:
    async with commands_bot(tmp_path, google_fake, searx=searx) as (fake, ann):
        text = await run(fake, ann, "search", query="night trains")
    assert text.startswith("**night trains**\n1. [night trains result 1 (page 1)]")
    assert f"(<{web.result_url('search', 'night trains', 1, 1)}>)" in text
    assert text.count("\n") == 10  # five results, each with its snippet


async def test_google_or_searxng_failures_are_one_line_and_strangers_get_no_answer(
    tmp_path: Path, google_fake: FakeGoogle
) -> None:
    async with commands_bot(tmp_path, google_fake) as (fake, ann):
        google_fake.revoke_all()
        text = await run(fake, ann, "inbox")
        searched = await run(fake, ann, "search", query="anything")
        bob = fake.add_user("Bob")
        ignored = await fake.slash(bob, fake.general, "inbox")
        with anyio.fail_after(10):
            await fake.slash(ann, fake.general, "status")  # answered after Bob's: Bob's was not overtaken
            await fake.wait_for(lambda: len([i for i in fake.interactions.values() if i.answered]) == 3)
    assert text.startswith("⚠️ ") and "variet auth google" in text and "\n" not in text
    assert searched.startswith("⚠️ ") and "SearXNG" in searched and "\n" not in searched
    assert not ignored.answered
