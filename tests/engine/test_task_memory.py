"""The table of running tasks: keys from the host's conversation id or the prompt prefix, bounded, LRU."""

from __future__ import annotations

import pytest

from tests.engine.recorded_loops import loop
from variet.engine.prompts.prefixes import prefix_chain
from variet.engine.task_memory import TaskMemory, TaskRecord, task_keys
from variet.engine.tasks import read_turn


def _keys(body: dict[str, object]) -> list[str]:
    turn = read_turn(body)
    assert turn.index is not None
    return task_keys(body, turn.task, turn.index, prefix_chain(body))


@pytest.mark.parametrize("name", ["claude-code-long-review", "openclaude-long-review"])
def test_every_turn_of_a_recorded_loop_finds_the_task_its_first_turn_recorded(name: str) -> None:
    first, *rest = loop(name)
    memory = TaskMemory()
    memory.remember(_keys(first), TaskRecord("deep-coder"))
    for body in rest:
        record = memory.recall(_keys(body))
        assert record is not None and record.tier == "deep-coder"


def test_the_prefix_key_alone_finds_the_task_when_the_host_sends_no_conversation_id() -> None:
    first, second = loop("claude-code-quick-question")[:2]
    del first["metadata"], second["metadata"]
    memory = TaskMemory()
    memory.remember(_keys(first), TaskRecord("fast"))
    assert memory.recall(_keys(second)) == TaskRecord("fast")


def test_the_host_key_finds_the_task_when_the_tool_list_changes_mid_loop() -> None:
    first, second = loop("claude-code-quick-question")[:2]
    second = {**second, "tools": second["tools"][:-1]}
    memory = TaskMemory()
    memory.remember(_keys(first), TaskRecord("balanced"))
    assert memory.recall(_keys(second)) == TaskRecord("balanced")


@pytest.mark.parametrize("field", ["user", "prompt_cache_key"])
def test_openai_conversation_ids_key_the_task(field: str) -> None:
    body = {field: "session-7", "messages": [{"role": "user", "content": "Fix the bug."}]}
    keys = task_keys(body, "Fix the bug.", 0, prefix_chain(body))
    other = task_keys({**body, field: "session-8"}, "Fix the bug.", 0, prefix_chain(body))
    assert len(keys) == 2 and keys[0].startswith("host:") and keys[0] != other[0]


def test_the_same_task_text_in_two_sessions_is_two_tasks() -> None:
    body = {"metadata": {"user_id": "a"}, "system": "one", "messages": [{"role": "user", "content": "Go."}]}
    other = {**body, "metadata": {"user_id": "b"}, "system": "two"}
    memory = TaskMemory()
    memory.remember(task_keys(body, "Go.", 0, prefix_chain(body)), TaskRecord("ultra"))
    assert memory.recall(task_keys(other, "Go.", 0, prefix_chain(other))) is None


def test_the_table_stays_bounded_and_forgets_the_least_recently_used_task() -> None:
    memory = TaskMemory(capacity=4)
    for key in "abcd":
        memory.remember([key], TaskRecord("fast"))
    assert memory.recall(["a"]) is not None  # a is now the most recently used, b the least
    memory.remember(["e"], TaskRecord("ultra"))
    assert len(memory) == 4
    assert memory.recall(["b"]) is None
    assert memory.recall(["a"]) == TaskRecord("fast") and memory.recall(["e"]) == TaskRecord("ultra")


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TaskMemory(capacity=0)
