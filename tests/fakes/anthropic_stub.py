"""A scripted Anthropic Messages API on a loopback port: the model when a test drives a real coding host.

`AnthropicStub(script)` answers `POST /v1/messages` as JSON or, when the request sets `stream`, as the SSE
event sequence the real API sends (Claude Code streams). It plays `script` against the conversation it is
sent: step N's `tool_use` goes out once the conversation holds step N-1's `tool_use`, so a retried request
gets the same answer and the host's side requests do not advance the script. A request that does not offer
the step's tool gets a text answer naming the tools it did offer; after the last step, `final_text`.
Every request is recorded; `count_tokens` answers an estimate; any other path is a recorded 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.recording import Recorded, RecordingStub
from tests.parts.searx import LoopbackServer

__all__ = ["AnthropicStub", "Recorded", "SeenResult", "ToolUse", "serve_anthropic_stub"]

_ID_PREFIX = "toolu_variet_"
_ID = re.compile(rf"^{_ID_PREFIX}(\d+)$")

Inputs = Mapping[str, Any] | Callable[[list[str]], Mapping[str, Any]]
"""A tool's input, or a function of the texts of the earlier steps' results (in step order) returning it."""


@dataclass(frozen=True)
class ToolUse:
    """One scripted model turn: call tool `name` with `input`."""

    name: str
    input: Inputs = field(default_factory=dict)


@dataclass(frozen=True)
class SeenResult:
    """A tool result for a scripted step, as the model received it."""

    step: int
    tool: str
    text: str
    is_error: bool


class AnthropicStub(RecordingStub):
    def __init__(self, script: Sequence[ToolUse], *, final_text: str = "Done.") -> None:
        super().__init__()
        self.script = list(script)
        self.final_text = final_text
        self.url = ""
        """Base URL (what ANTHROPIC_BASE_URL takes), set by whoever serves `app`."""


    def message_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    def results(self) -> list[SeenResult]:
        """Every scripted step's result that reached the model (first sighting, in step order)."""
        seen: dict[int, SeenResult] = {}
        for request in self.message_requests():
            for step, text, is_error in _scripted_results(request.body):
                if step < len(self.script):
                    seen.setdefault(step, SeenResult(step, self.script[step].name, text, is_error))
        return [seen[step] for step in sorted(seen)]

    async def _messages(self, request: Request) -> Response:
        body = await self._record(request)
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "the body must be a JSON object")
        content, stop = self._reply(body)
        message = {
            "id": f"msg_variet_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "stub"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": _estimate_tokens(body), "output_tokens": 8},
        }
        if body.get("stream"):
            return StreamingResponse(_events(message), media_type="text/event-stream")
        return JSONResponse(message)

    def _reply(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        steps = [step for step, _ in _scripted_calls(body)]
        step = max(steps) + 1 if steps else 0
        if step >= len(self.script):
            return [{"type": "text", "text": self.final_text}], "end_turn"
        planned = self.script[step]
        offered = [tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)]
        if planned.name not in offered:
            text = f"(stub) step {step} wants tool {planned.name}, but this request offers: {offered}"
            return [{"type": "text", "text": text}], "end_turn"
        earlier = {s: text for s, text, _ in _scripted_results(body)}
        inputs = planned.input([earlier.get(i, "") for i in range(step)]) if callable(planned.input) else planned.input
        block = {"type": "tool_use", "id": f"{_ID_PREFIX}{step}", "name": planned.name, "input": dict(inputs)}
        return [block], "tool_use"

    async def _count_tokens(self, request: Request) -> Response:
        body = await self._record(request)
        return JSONResponse({"input_tokens": _estimate_tokens(body)})

    async def _other(self, request: Request) -> Response:
        await self._record(request)
        return _error(404, "not_found_error", f"the stub does not serve {request.method} {request.url.path}")


    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            Route("/{path:path}", self._other, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
        ])


def _blocks(body: Any, role: str) -> Iterator[dict[str, Any]]:
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in messages or []:
        if isinstance(message, dict) and message.get("role") == role and isinstance(message.get("content"), list):
            yield from (block for block in message["content"] if isinstance(block, dict))


def _step_of(block_id: object) -> int | None:
    match = _ID.match(block_id) if isinstance(block_id, str) else None
    return int(match.group(1)) if match else None


def _scripted_calls(body: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for block in _blocks(body, "assistant"):
        if block.get("type") == "tool_use" and (step := _step_of(block.get("id"))) is not None:
            yield step, block


def _scripted_results(body: Any) -> Iterator[tuple[int, str, bool]]:
    for block in _blocks(body, "user"):
        if block.get("type") == "tool_result" and (step := _step_of(block.get("tool_use_id"))) is not None:
            yield step, _text(block.get("content")), bool(block.get("is_error"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _estimate_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _events(message: dict[str, Any]) -> AsyncIterator[bytes]:
    """The Messages API's stream for `message`: start, ping, one block at a time in deltas, delta, stop."""
    head = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 0}}
    yield _sse("message_start", {"type": "message_start", "message": head})
    yield _sse("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        start: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _halves(block["text"])]
        else:
            start = {**block, "input": {}}
            pieces = _halves(json.dumps(block["input"]))
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        yield _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        for delta in deltas:
            yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": message["usage"]["output_tokens"]},
    })
    yield _sse("message_stop", {"type": "message_stop"})


def _halves(text: str) -> list[str]:
    """Two pieces, so clients have to join deltas."""
    middle = len(text) // 2
    return [piece for piece in (text[:middle], text[middle:]) if piece]


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


@contextmanager
def serve_anthropic_stub(script: Sequence[ToolUse], *, final_text: str = "Done.") -> Iterator[AnthropicStub]:
    """An `AnthropicStub` served on a free loopback port for the duration of the block."""
    stub = AnthropicStub(script, final_text=final_text)
    with LoopbackServer(stub.app) as server:
        stub.url = server.url
        yield stub
