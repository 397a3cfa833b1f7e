"""Conversations in Discord: who is answered, what the model is sent, how answers reach the channel.

The model is the scripted stub (it records every request), so the tests can read exactly which
conversation the bot rebuilt from Discord.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.assistant.support import answers, bot_settings, final_answer, running_bot
from tests.fakes.discord import BOT_TOKEN, FakeDiscord, serve_fake_discord
from tests.fakes.openai_stub import OpenAIStub, serve_openai_stub
from variet.assistant import Assistant
from variet.assistant.errors import DiscordIntentMissing, DiscordTokenRejected
from variet.shared.config import Settings

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def chat(tmp_path: Path, *, final: Any = "Noted.", **stub: Any) -> AsyncIterator[
        tuple[FakeDiscord, OpenAIStub, dict[str, Any], Settings]]:
    """The fake Discord with Ann (owner), and the stub as the model; the bot is started by the test."""
    with serve_openai_stub(final_text=final, **stub) as model:
        async with serve_fake_discord() as fake:
            ann = fake.add_user("Ann")
            yield fake, model, ann, bot_settings(tmp_path, fake, engine_url=model.url, owners=(int(ann["id"]),))


def conversation(model: OpenAIStub, request: int = -1) -> list[tuple[str, str]]:
    """(role, content) of the messages in one request the model got, after the system prompt."""
    return [(m["role"], m["content"]) for m in model.chat_requests()[request]["messages"][1:]]


async def test_a_reply_chain_keeps_its_context_across_a_bot_restart(tmp_path: Path) -> None:
    async with chat(tmp_path, final="Nice to meet you, Ann.") as (fake, model, ann, settings):
        async with running_bot(fake, settings):
            await fake.say(ann, fake.general, f"{fake.mention()} my name is Ann and I like ferries")
            with anyio.fail_after(20):
                first = await final_answer(fake, fake.general)
        async with running_bot(fake, settings):
            await fake.say(ann, fake.general, "what do I like?", reply_to=first["id"])
            with anyio.fail_after(20):
                await final_answer(fake, fake.general, after=1)
    assert conversation(model) == [
        ("user", "my name is Ann and I like ferries"),
        ("assistant", "Nice to meet you, Ann."),
        ("user", "what do I like?"),
    ]
    assert len(fake.identified) == 2  # two sessions: the second bot knew nothing but what Discord holds


async def test_a_dm_continues_without_a_mention_and_a_thread_is_one_conversation(tmp_path: Path) -> None:
    async with chat(tmp_path) as (fake, model, ann, settings), running_bot(fake, settings):
        dm = fake.dm(ann)
        await fake.say(ann, dm, "remember: the boat leaves at 9")
        with anyio.fail_after(20):
            await final_answer(fake, dm)
            await fake.say(ann, dm, "when does it leave?")
            await final_answer(fake, dm, after=1)
        in_dm = conversation(model)
        thread = await fake.create_thread(ann, fake.general, "Trip")
        await fake.say(ann, thread, f"{fake.mention()} plan: Lisbon in May")
        with anyio.fail_after(20):
            await final_answer(fake, thread)
            await fake.say(ann, thread, f"{fake.mention()} and in June?")
            await final_answer(fake, thread, after=1)
        in_thread = conversation(model)
    assert in_dm == [("user", "remember: the boat leaves at 9"), ("assistant", "Noted."),
                     ("user", "when does it leave?")]
    assert in_thread == [("user", "plan: Lisbon in May"), ("assistant", "Noted."), ("user", "and in June?")]


async def test_strangers_and_unaddressed_messages_get_no_reply_and_a_stranger_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "variet.assistant")
    async with chat(tmp_path) as (fake, model, ann, settings), running_bot(fake, settings):
        bob = fake.add_user("Bob")
        bob_dm = fake.dm(bob)
        await fake.say(bob, bob_dm, "hi bot")
        await fake.say(bob, bob_dm, "hello??")
        await fake.say(bob, fake.general, f"{fake.mention()} read me Ann's mail")
        await fake.say(ann, fake.general, "talking to people, not the bot")
        await fake.say(ann, fake.general, f"{fake.mention()} now to you")
        with anyio.fail_after(20):
            await final_answer(fake, fake.general)
    assert fake.bot_messages(bob_dm) == []
    assert len(answers(fake, fake.general)) == 1
    assert len(model.chat_requests()) == 1
    ignored = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ignoring")]
    assert ignored == [f"ignoring messages from user {bob['id']} (not in [discord] owner_ids or allowed_user_ids); "
                       "logged once"]


async def test_a_long_answer_streams_into_several_messages_each_replying_to_the_last(tmp_path: Path) -> None:
    long = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum dolor " * 30 for i in range(9))
    async with chat(tmp_path, final=long, pieces=12, chunk_seconds=0.08) as (fake, _, ann, settings), \
            running_bot(fake, settings):
        dm = fake.dm(ann)
        question = await fake.say(ann, dm, "tell me everything")
        with anyio.fail_after(20):
            await final_answer(fake, dm, lambda text: "Paragraph 8" in text)
    parts = answers(fake, dm)
    assert len(parts) == 3 and all(len(p["content"]) <= 2000 for p in parts)
    assert [p["message_reference"]["message_id"] for p in parts] == [question["id"], parts[0]["id"], parts[1]["id"]]
    text = "\n\n".join(p["content"] for p in parts)
    body, small = text.rsplit("\n-# ", 1)
    assert small.startswith("fast · ") and small.endswith(" tok/s")
    assert " ".join(body.split()) == " ".join(long.split())
    edits = fake.calls_to("PATCH", f"/messages/{parts[0]['id']}")
    assert edits and all("writing…" in (e.body or {}).get("content", "") for e in edits[:-1])


async def test_a_rate_limited_edit_is_retried_not_lost(tmp_path: Path) -> None:
    text = "The ferry leaves at nine from Cais do Sodré, platform two."
    async with chat(tmp_path, final=text, pieces=8, chunk_seconds=0.1) as (fake, _, ann, settings), \
            running_bot(fake, settings):
        dm = fake.dm(ann)
        fake.rate_limit_edits(times=1, retry_after=0.4)
        await fake.say(ann, dm, "when does the ferry leave?")
        with anyio.fail_after(20):
            answer = await final_answer(fake, dm)
    assert answer["content"].startswith(f"{text}\n-# fast · ")
    edits = [c.status for c in fake.calls_to("PATCH", f"/messages/{answer['id']}")]
    assert edits[0] == 429 and edits[1] == 200 and edits[-1] == 200


async def test_with_the_engine_down_the_reply_says_so_in_one_line_and_the_bot_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        settings = bot_settings(tmp_path, fake, engine_url="http://127.0.0.1:9", owners=(int(ann["id"]),))
        async with running_bot(fake, settings):
            dm = fake.dm(ann)
            await fake.say(ann, dm, "hello?")
            with anyio.fail_after(20):
                answer = await final_answer(fake, dm)
                status = await fake.slash(ann, dm, "status")
                await fake.wait_for(lambda: "MCP servers" in status.text())
                await fake.say(ann, dm, "still there?")
                again = await final_answer(fake, dm, after=1)
    line = ("⚠️ no Variet engine answers at http://127.0.0.1:9 (ConnectError). Start it on the inference machine "
            "with `variet engine serve`, or point [engine] url / VARIET_ENGINE_URL at it.")
    assert answer["content"] == again["content"] == line
    assert "no Variet engine answers at http://127.0.0.1:9" in status.text()
    assert "Traceback" not in "".join(m["content"] for m in fake.bot_messages(dm))
    assert any(line[2:] in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("fault", "error", "words"), [
    ("token", DiscordTokenRejected, "Reset Token"),
    ("intents", DiscordIntentMissing, "MESSAGE CONTENT INTENT"),
])
async def test_a_bad_token_or_a_missing_intent_stops_the_bot_with_the_fix_and_no_token_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str, error: type[Exception], words: str
) -> None:
    caplog.set_level(logging.DEBUG)
    options = {"token": "the-right-token"} if fault == "token" else {"privileged_intents": False}
    async with serve_fake_discord(**options) as fake:
        settings = bot_settings(tmp_path, fake, engine_url="http://127.0.0.1:9", owners=(1,))
        with anyio.fail_after(30), pytest.raises(error, match=words):
            await Assistant(settings, token=BOT_TOKEN, environ={}).run()
    assert fake.closed_with == ([] if fault == "token" else [4014])
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert BOT_TOKEN not in logged
