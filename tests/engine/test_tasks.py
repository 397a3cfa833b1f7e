"""Reading the task of a request: the newest human-written text, on real Claude Code and OpenClaude bodies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.recorded_loops import LOOPS, loop
from variet.engine.tasks import human_text, read_turn

PROMPTS = {
    "quick-question": ["What does `stay_margin` do in the router?"],
    "fix-failing-test": ["`python3 -c 'import prefixes'` fails in engine/prompts with a traceback. Find out why and "
                         "fix it."],
    "long-review": ["Review the engine's scheduler, relay, prompt cache and peers for race conditions"],
    "refactor-package": ["Refactor the prompt cache", "Now also make the store thread-safe"],
    "mid-turn-message": ["List the public names of engine/prompts/store.py.", "Actually, rewrite its docstrings"],
}


def test_every_recorded_host_and_task_is_there() -> None:
    assert set(LOOPS) == {f"{host}-{task}" for host in ("claude-code", "openclaude") for task in PROMPTS}


@pytest.mark.parametrize("name", LOOPS)
def test_the_task_of_every_recorded_turn_is_what_the_person_typed_never_a_tool_result_or_a_reminder(
    name: str,
) -> None:
    task_name = name.split("-", 2)[-1] if name.startswith("claude-code") else name.split("-", 1)[-1]
    expected = PROMPTS[task_name]
    seen: list[str] = []
    for body in loop(name):
        turn = read_turn(body)
        assert turn.index is not None
        assert "<system-reminder>" not in turn.task and "while you were working" not in turn.task
        assert any(turn.task.startswith(prompt) for prompt in expected), turn.task[:200]
        if not seen or seen[-1] != turn.task:
            assert not turn.continuing, "a new message of the person is never a continuing turn"
            seen.append(turn.task)
        else:
            assert turn.continuing, "a turn whose newest message is a tool result continues its task"
    assert len(seen) == len(expected)


def test_a_message_of_system_reminders_only_is_not_a_task() -> None:
    body = {"messages": [
        {"role": "user", "content": "Rename the module."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "Prove the Riemann hypothesis first."},
            {"type": "text", "text": "<system-reminder>\nThe todo list changed.\n</system-reminder>"},
        ]},
    ]}
    turn = read_turn(body)
    assert (turn.task, turn.index, turn.continuing) == ("Rename the module.", 0, True)


def test_openai_tool_messages_and_openclaudes_reminder_after_tool_results_are_not_the_task() -> None:
    body: dict[str, Any] = {"messages": [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": [{"type": "text", "text": "Summarise the log."}]},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                             "function": {"name": "Read", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "Traceback: deep recursion in the proof checker"},
        {"role": "assistant", "content": "[Tool results received]"},
        {"role": "user", "content": "<system-reminder>Files changed on disk.</system-reminder>"},
    ]}
    turn = read_turn(body)
    assert (turn.task, turn.index, turn.continuing) == ("Summarise the log.", 1, True)


def test_a_new_message_after_the_answer_is_a_new_task() -> None:
    body = {"messages": [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Now prove that sqrt(2) is irrational."},
    ]}
    turn = read_turn(body)
    assert (turn.task, turn.index, turn.continuing) == ("Now prove that sqrt(2) is irrational.", 2, False)


def test_a_slash_command_keeps_what_the_person_typed_after_it() -> None:
    text = ("<command-message>review is running…</command-message>\n<command-name>/review</command-name>\n"
            "<command-args>the locking in store.py</command-args>")
    assert human_text(text) == "the locking in store.py"


def test_claude_codes_interrupt_notice_and_shell_output_are_scaffolding() -> None:
    assert human_text("[Request interrupted by user for tool use]") == ""
    assert human_text("<bash-input>ls</bash-input><bash-stdout>a b</bash-stdout><bash-stderr></bash-stderr>") == ""


def test_a_request_without_human_text_has_no_task() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "ok"}]}]}
    turn = read_turn(body)
    assert (turn.task, turn.index, turn.continuing) == ("", None, False)
