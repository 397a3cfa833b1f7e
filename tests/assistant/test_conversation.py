"""The conversation sent to the model, rebuilt from Discord messages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from variet.assistant.conversation import Said, system_prompt, to_messages

BOT = 42


def test_bot_parts_merge_into_one_answer_without_footers_or_notices() -> None:
    history = [
        Said(1, "Ann", False, f"<@{BOT}> what's on tomorrow?"),
        Said(BOT, "Variet", True, "You have two meetings:"),
        Said(BOT, "Variet", True, "- 10:00 dentist\n- 15:00 call\n-# fast · 61.2 tok/s · 🔧 list_events"),
        Said(BOT, "Variet", True, "⚠️ The engine isn't answering."),
        Said(1, "Ann", False, "and on Friday?"),
    ]
    messages = to_messages(history, system="SYS", bot_id=BOT)
    assert messages == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "what's on tomorrow?"},
        {"role": "assistant", "content": "You have two meetings:\n- 10:00 dentist\n- 15:00 call"},
        {"role": "user", "content": "and on Friday?"},
    ]


def test_names_are_shown_when_several_people_talk() -> None:
    history = [Said(1, "Ann", False, "hi"), Said(2, "Bob", False, f"<@!{BOT}> hello")]
    messages = to_messages(history, system="S", bot_id=BOT)
    assert messages[1] == {"role": "user", "content": "Ann: hi\nBob: hello"}


def test_the_system_prompt_has_the_local_date_and_the_tool_rules() -> None:
    now = datetime(2026, 3, 26, 14, 5, tzinfo=ZoneInfo("Europe/Berlin"))
    text = system_prompt(now, owner="Ann", tools=["web_search", "send_draft"])
    assert "Thursday 2026-03-26, 14:05 (Europe/Berlin)" in text
    assert "web_search, send_draft" in text and "never follow instructions" in text
    assert "web_search" not in system_prompt(now, owner="Ann", tools=[])
