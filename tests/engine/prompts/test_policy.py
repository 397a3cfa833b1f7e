"""The pure save/restore decisions of the prompt cache, without llama-server."""

from __future__ import annotations

import json
from typing import Any

from variet.engine.prompts.policy import (
    UNKNOWN_BUDGET_SECONDS,
    Answered,
    SlotView,
    answer_tokens,
    budget_seconds,
    cached_tokens,
    matched_tokens,
    plan_restores,
    plan_saves,
    slot_views,
    unusable,
)
from variet.engine.prompts.prefixes import prefix_chain
from variet.engine.prompts.store import CacheEntry, ModelFingerprint

MODEL = ModelFingerprint(path="/models/m.gguf", size=1000, mtime_ns=5)


def conversation(system: str, *turns: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}]
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return {"model": "fast", "messages": messages}


def entry(payload: dict[str, Any], *, tokens: int = 9000, prompt_tokens: int = 8990, last_used: float = 1.0,
          entry_id: str = "a" * 32, context: int = 32768) -> CacheEntry:
    chain = prefix_chain(payload)
    return CacheEntry(id=entry_id, tier="fast", model=MODEL, context=context, slot_context=context, tokens=tokens,
                      prompt_tokens=prompt_tokens, bytes=tokens * 100, digest="d", chain=chain.hashes,
                      chars=chain.chars, saved_at=0.0, last_used=last_used, save_ms=1.0)


def test_answer_tokens_come_from_timings_or_either_apis_usage() -> None:
    timings = b'data: {"choices":[],"timings":{"cache_n":100,"prompt_n":900,"predicted_n":7}}\n\n'
    assert answer_tokens(b"", timings) == (1000, 7)
    start = b'event: message_start\ndata: {"message":{"usage":{"cache_read_input_tokens":40,"input_tokens":60}}}'
    end = b'event: message_delta\ndata: {"usage":{"output_tokens":12}}'
    assert answer_tokens(start, end) == (100, 12)
    openai = json.dumps({"usage": {"prompt_tokens": 50, "completion_tokens": 3}}).encode()
    assert answer_tokens(openai, openai) == (50, 3)
    assert answer_tokens(b"", b"data: [DONE]") is None


def test_the_tokens_taken_from_the_cache_come_from_timings_or_anthropics_usage() -> None:
    assert cached_tokens(b"", b'{"timings":{"cache_n":4990,"prompt_n":10}}') == 4990
    assert cached_tokens(b'{"usage":{"cache_read_input_tokens":700,"input_tokens":5}}', b"") == 700
    assert cached_tokens(b"", b"data: [DONE]") is None


def test_a_slot_is_saved_as_the_answer_that_left_it_so() -> None:
    payload = conversation("s" * 100, "question")
    answer = Answered(prefix_chain(payload), prompt_tokens=5000, output_tokens=20, at=2.0)
    older = Answered(prefix_chain(conversation("other", "q")), prompt_tokens=5000, output_tokens=20, at=1.0)
    slots = [SlotView(0, 32768, 5019, busy=False), SlotView(1, 32768, 0, False), SlotView(2, 32768, 300, False)]
    decision = plan_saves(slots, [older, answer], [], min_tokens=1024)
    (plan,) = decision.saves
    assert plan.slot == 0 and plan.tokens == 5019 and plan.answered is answer


def test_a_slot_no_answer_accounts_for_is_not_saved() -> None:
    answer = Answered(prefix_chain(conversation("s", "q")), prompt_tokens=5000, output_tokens=20, at=2.0)
    assert plan_saves([SlotView(0, 32768, 7000, False)], [answer], [], min_tokens=1024).saves == []


def test_a_restored_slot_left_as_it_was_is_not_saved_again_and_a_longer_one_supersedes_it() -> None:
    payload = conversation("s" * 100, "question")
    saved = entry(payload, tokens=5019, prompt_tokens=5000)
    answer = Answered(prefix_chain(payload), prompt_tokens=5000, output_tokens=20, at=2.0)
    same = plan_saves([SlotView(0, 32768, 5019, False)], [answer], [saved], min_tokens=1024)
    assert same.saves == [] and same.unchanged == [saved.id]
    grown = conversation("s" * 100, "question", "answer", "next")
    later = Answered(prefix_chain(grown), prompt_tokens=5100, output_tokens=10, at=3.0)
    (plan,) = plan_saves([SlotView(1, 32768, 5105, False)], [later], [saved], min_tokens=1024).saves
    assert plan.supersedes == (saved.id,)


def test_each_waiting_conversation_gets_the_entry_it_continues_and_no_other() -> None:
    first = entry(conversation("system one " * 50, "q1"), entry_id="1" * 32)
    second = entry(conversation("system two " * 50, "q2"), entry_id="2" * 32)
    waiting = prefix_chain(conversation("system two " * 50, "q2", "a2", "q3"))
    (restore,) = plan_restores([first, second], [waiting], min_tokens=1024, max_restores=4)
    assert restore.entry.id == second.id and restore.tokens == second.prompt_tokens
    stranger = prefix_chain(conversation("system three", "q"))
    assert plan_restores([first, second], [stranger], min_tokens=1024, max_restores=4) == []


def test_a_shared_system_prompt_alone_counts_in_proportion_to_its_length() -> None:
    saved = entry(conversation("rules " * 1000, "a short question"), prompt_tokens=2000)
    other_question = prefix_chain(conversation("rules " * 1000, "something else entirely"))
    tokens = matched_tokens(saved, other_question)
    assert 1900 < tokens < 2000
    assert plan_restores([saved], [other_question], min_tokens=1024, max_restores=4)
    assert plan_restores([saved], [other_question], min_tokens=1990, max_restores=4) == []


def test_an_entry_for_another_model_file_or_context_is_never_usable() -> None:
    saved = entry(conversation("s", "q"))
    assert unusable(saved, MODEL, 32768) is None
    rewritten = MODEL.model_copy(update={"mtime_ns": 6})
    assert unusable(saved, rewritten, 32768)[0] == "model_changed"  # type: ignore[index]
    assert unusable(saved, None, 32768)[0] == "model_changed"  # type: ignore[index]
    assert unusable(saved, MODEL, 16384)[0] == "context_changed"  # type: ignore[index]


def test_a_save_or_restore_may_take_as_long_as_processing_the_prompt_again() -> None:
    assert budget_seconds(8000, 400.0) == 20.5
    assert budget_seconds(8000, None) == UNKNOWN_BUDGET_SECONDS


def test_slots_are_read_leniently() -> None:
    views = slot_views([{"id": 0, "n_ctx": 8192, "is_processing": False}, "junk",
                        {"id": 1, "n_ctx": 8192, "is_processing": True, "n_prompt_tokens": 12}])
    assert views == [SlotView(0, 8192, 0, False), SlotView(1, 8192, 12, True)]
    assert slot_views({"error": "no"}) == []
