"""One turn of the conversation: ask the model with the MCP tools offered, run its tool calls, repeat.

The loop streams each model reply (text reaches the `TurnObserver` as it arrives), runs the tool calls of a
reply through the `ToolBox` one by one and feeds their results back, until the model answers without
calling a tool or it has made `max_rounds` replies with tool calls (then the turn says it stopped).
Failures of the engine propagate (`EngineError`); tool failures go back to the model as tool results.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from variet.assistant.stream import StreamedReply, ToolCall

__all__ = ["ChatModel", "ToolBox", "ToolOutcome", "TurnObserver", "TurnResult", "run_turn"]


class ChatModel(Protocol):
    """The engine's chat completions (`EngineClient` is one)."""

    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of one streamed chat completion; raises `EngineError` when the engine fails."""
        ...


@dataclass(frozen=True)
class ToolOutcome:
    text: str
    """What the model reads: the result, or what went wrong."""
    is_error: bool = False
    problem: str | None = None
    """A line for the person, when the failure is theirs to fix (a server down, Google not signed in)."""


class ToolBox(Protocol):
    """The tools of one turn."""

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tools as OpenAI `tools` entries (empty: the model gets none)."""
        ...

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Run one tool; never raises for a tool's own failure (that is an outcome with `is_error`)."""
        ...


class TurnObserver(Protocol):
    """Told about progress as it happens; must return quickly (it only records what to show)."""

    def answer(self, text: str, tier: str | None) -> None:
        """The answer so far (all of it, not just the new part)."""

    def tool(self, name: str, arguments: dict[str, Any]) -> None:
        """A tool call is about to run."""


@dataclass
class TurnResult:
    text: str = ""
    tier: str | None = None
    tokens_per_second: float | None = None
    tools: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rounds: int = 0
    """Model replies that called tools."""
    stopped: bool = False
    """True when `max_rounds` was reached with the model still calling tools."""
    engine_seconds: float = 0.0
    tool_seconds: float = 0.0


async def run_turn(messages: Sequence[dict[str, Any]], *, model: str, chat: ChatModel, tools: ToolBox,
                   observer: TurnObserver, max_rounds: int, max_tokens: int,
                   temperature: float | None = None) -> TurnResult:
    """Run the turn that answers the last message of `messages`."""
    history = list(messages)
    offered = tools.openai_tools()
    result = TurnResult()
    shown = ""
    while True:
        body: dict[str, Any] = {"model": model, "messages": history, "max_tokens": max_tokens,
                                "stream_options": {"include_usage": True}}
        if offered:
            body["tools"] = offered
        if temperature is not None:
            body["temperature"] = temperature
        reply = StreamedReply()
        prefix = f"{shown}\n\n" if shown else ""
        started = time.monotonic()
        chunks = chat.stream_chat(body)
        first: float | None = None
        try:
            async for chunk in chunks:
                if reply.add(chunk) or (reply.model and result.tier is None):
                    first = first or time.monotonic()
                    result.tier = reply.model or result.tier
                    observer.answer(prefix + reply.text, result.tier)
        finally:
            result.engine_seconds += time.monotonic() - started
            if (close := getattr(chunks, "aclose", None)) is not None:
                await close()
        result.tier = reply.model or result.tier
        result.tokens_per_second = reply.tokens_per_second or _speed(reply, first) or result.tokens_per_second
        if reply.text.strip():
            shown = prefix + reply.text
        if not reply.tool_calls:
            result.text = shown
            return result
        if result.rounds >= max_rounds:
            result.stopped = True
            result.text = shown
            return result
        result.rounds += 1
        calls = reply.tool_calls
        for index, call in enumerate(calls):
            call.id = call.id or f"call_{result.rounds}_{index}"
        history.append({"role": "assistant", "content": reply.text, "tool_calls": [c.message() for c in calls]})
        for call in calls:
            started = time.monotonic()
            outcome = await _run_one(call, tools, observer)
            result.tool_seconds += time.monotonic() - started
            result.tools.append(call.name)
            if outcome.problem:
                result.problems.append(outcome.problem)
            history.append({"role": "tool", "tool_call_id": call.id, "content": outcome.text})


def _speed(reply: StreamedReply, first: float | None) -> float | None:
    """Tokens per second from the usage count and the time since the first token, when the server sends no
    timings of its own (llama-server does)."""
    took = time.monotonic() - first if first is not None else 0.0
    if reply.completion_tokens and reply.completion_tokens > 1 and took > 0:
        return (reply.completion_tokens - 1) / took
    return None


async def _run_one(call: ToolCall, tools: ToolBox, observer: TurnObserver) -> ToolOutcome:
    try:
        arguments = call.parsed_arguments()
    except ValueError as exc:
        return ToolOutcome(f"Error: {exc}. Call the tool again with a JSON object.", is_error=True)
    observer.tool(call.name, arguments)
    return await tools.call(call.name, arguments)
