"""Streamed chat chunks assembled into text, tool calls, tier and speed."""

from __future__ import annotations

import pytest

from variet.assistant.stream import StreamedReply


def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> dict[str, object]:
    return {"model": "fast", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def test_text_arrives_piece_by_piece_with_the_tier_and_speed() -> None:
    reply = StreamedReply()
    assert reply.add(chunk({"role": "assistant", "content": "Hel"})) == "Hel"
    assert reply.add(chunk({"content": "lo"}, "stop")) == "lo"
    reply.add({"model": "fast", "choices": [], "usage": {"completion_tokens": 2},
               "timings": {"predicted_per_second": 61.5}})
    assert (reply.text, reply.model, reply.finish_reason) == ("Hello", "fast", "stop")
    assert (reply.completion_tokens, reply.tokens_per_second) == (2, 61.5)


def test_tool_calls_are_joined_from_their_pieces() -> None:
    reply = StreamedReply()
    reply.add(chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                     "function": {"name": "web_search", "arguments": ""}}]}))
    reply.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"query": '}}]}))
    reply.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"lisbon"}'}},
                                    {"index": 1, "id": "c2", "function": {"name": "list_labels"}}]}, "tool_calls"))
    assert [(c.id, c.name) for c in reply.tool_calls] == [("c1", "web_search"), ("c2", "list_labels")]
    assert reply.tool_calls[0].parsed_arguments() == {"query": "lisbon"}
    assert reply.tool_calls[1].parsed_arguments() == {}


def test_arguments_that_are_not_a_json_object_are_explained() -> None:
    reply = StreamedReply()
    reply.add(chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "t", "arguments": "[1"}}]}))
    with pytest.raises(ValueError, match="not valid JSON"):
        reply.tool_calls[0].parsed_arguments()
