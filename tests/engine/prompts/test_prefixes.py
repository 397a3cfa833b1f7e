"""Prompt prefixes: the chain of hashes that tells how much of a request an earlier one already processed."""

from __future__ import annotations

from typing import Any

from variet.engine.prompts.prefixes import PROMPT_PIECE_CHARS, prefix_chain


def conversation(system: str, *turns: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}]
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return {"model": "fast", "messages": messages}


def test_a_conversation_that_goes_on_shares_its_whole_earlier_prefix() -> None:
    first = prefix_chain(conversation("long system prompt", "question"))
    later = prefix_chain(conversation("long system prompt", "question", "answer", "next question"))
    assert later.shared(first) == len(first.hashes) == 3


def test_moving_anthropic_cache_marks_do_not_change_the_prefix() -> None:
    def turn(marked: int) -> dict[str, Any]:
        blocks = [{"type": "text", "text": f"message {i}", **({"cache_control": {"type": "ephemeral"}}
                                                               if i == marked else {})} for i in range(3)]
        return {"system": [{"type": "text", "text": "tools and rules", "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": [block]} for block in blocks]}

    assert prefix_chain(turn(1)).hashes == prefix_chain(turn(2)).hashes


def test_another_system_prompt_or_tool_list_ends_the_shared_prefix() -> None:
    base = conversation("system A", "question")
    assert prefix_chain(base).shared(prefix_chain(conversation("system B", "question"))) == 1
    with_tools = {**base, "tools": [{"type": "function", "function": {"name": "grep"}}]}
    assert prefix_chain(base).shared(prefix_chain(with_tools)) == 0


def test_a_raw_prompt_is_compared_piece_by_piece() -> None:
    text = "x" * (PROMPT_PIECE_CHARS * 3)
    longer = prefix_chain({"prompt": text + "and more"})
    assert longer.shared(prefix_chain({"prompt": text})) == 4
