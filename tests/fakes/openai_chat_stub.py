"""A scripted OpenAI Chat Completions API on a loopback port: the model when a test drives an OpenAI client.

`OpenAIChatStub(script)` answers `POST /v1/chat/completions` as JSON or, when the request sets `stream`, as
the SSE chunks the real API sends: text in `delta.content`, tool calls in `delta.tool_calls` with the
arguments split across chunks, a final chunk with `finish_reason`, then `[DONE]` (and a usage chunk first
when `stream_options.include_usage` is set). It plays `script` against the conversation it is sent: step
N's tool call goes out once the conversation holds step N-1's call (ids `call_variet_<step>`), so a retried
request gets the same answer and a client's side requests (titles, summaries) do not advance the script. A
request that does not offer the step's tool gets a text answer naming the tools it did offer; after the
last step, `final_text` (a string, or a function of the results' texts). `GET /v1/models` lists `models`;
every request is recorded; any other path is a recorded 404.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.parts.searx import LoopbackServer

__all__ = ["OpenAIChatStub", "Recorded", "SeenResult", "ToolCall", "serve_openai_chat_stub"]

_ID_PREFIX = "call_variet_"
_ID = re.compile(rf"^{_ID_PREFIX}(\d+)$")

Arguments = Mapping[str, Any] | Callable[[list[str]], Mapping[str, Any]]
"""A tool's arguments, or a function of the texts of the earlier steps' results (in step order) returning them."""
FinalText = str | Callable[[list[str]], str]
"""The last answer, or a function of every step's result text (in step order) returning it."""


@dataclass(frozen=True)
class ToolCall:
    """One scripted model turn: call tool `name` with `arguments`."""

    name: str
    arguments: Arguments = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class SeenResult:
    """A tool result for a scripted step, as the model received it."""

    step: int
    tool: str
    text: str


class OpenAIChatStub:
    def __init__(self, script: Sequence[ToolCall], *, final_text: FinalText = "Done.",
                 models: Sequence[str] = ("auto",)) -> None:
        self.script = list(script)
        self.final_text = final_text
        self.models = list(models)
        self.url = ""
        """Base URL without `/v1`, set by whoever serves `app`."""
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def results(self) -> list[SeenResult]:
        """Every scripted step's result that reached the model (first sighting, in step order)."""
        seen: dict[int, SeenResult] = {}
        for request in self.chat_requests():
            for step, text in _scripted_results(request.body):
                if step < len(self.script):
                    seen.setdefault(step, SeenResult(step, self.script[step].name, text))
        return [seen[step] for step in sorted(seen)]

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "the body must be a JSON object with `messages`")
        message, finish = self._reply(body)
        created = int(time.time())
        completion_id = f"chatcmpl-variet-{len(self.requests)}"
        usage = {"prompt_tokens": _estimate_tokens(body), "completion_tokens": 8}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        head = {"id": completion_id, "created": created, "model": body.get("model", "stub")}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _chunks(head, message, finish, usage if include_usage else None)
            return StreamingResponse(chunks, media_type="text/event-stream")
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return JSONResponse({**head, "object": "chat.completion", "choices": [choice], "usage": usage})

    def _reply(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        steps = [step for step, _ in _scripted_calls(body)]
        step = max(steps) + 1 if steps else 0
        results = {s: text for s, text in _scripted_results(body)}
        if step >= len(self.script):
            final = self.final_text
            text = final([results.get(i, "") for i in range(len(self.script))]) if callable(final) else final
            return {"role": "assistant", "content": text}, "stop"
        planned = self.script[step]
        offered = [_tool_name(tool) for tool in body.get("tools") or []]
        if planned.name not in offered:
            text = f"(stub) step {step} wants tool {planned.name}, but this request offers: {offered}"
            return {"role": "assistant", "content": text}, "stop"
        earlier = [results.get(i, "") for i in range(step)]
        arguments = planned.arguments(earlier) if callable(planned.arguments) else planned.arguments
        call = {"id": f"{_ID_PREFIX}{step}", "type": "function",
                "function": {"name": planned.name, "arguments": json.dumps(dict(arguments))}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "stub"} for name in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _other(self, request: Request) -> Response:
        await self._record(request)
        return _error(404, f"the stub does not serve {request.method} {request.url.path}")

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = Recorded(request.method, request.url.path, dict(request.headers), body)
        with self._lock:
            self._requests.append(record)
        return body

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/{path:path}", self._other, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
        ])


def _tool_name(tool: Any) -> Any:
    function = tool.get("function") if isinstance(tool, dict) else None
    return function.get("name") if isinstance(function, dict) else None


def _step_of(call_id: object) -> int | None:
    match = _ID.match(call_id) if isinstance(call_id, str) else None
    return int(match.group(1)) if match else None


def _messages(body: Any) -> Iterator[dict[str, Any]]:
    messages = body.get("messages") if isinstance(body, dict) else None
    yield from (message for message in messages or [] if isinstance(message, dict))


def _scripted_calls(body: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for message in _messages(body):
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and (step := _step_of(call.get("id"))) is not None:
                    yield step, call


def _scripted_results(body: Any) -> Iterator[tuple[int, str]]:
    for message in _messages(body):
        if message.get("role") == "tool" and (step := _step_of(message.get("tool_call_id"))) is not None:
            yield step, _text(message.get("content"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _estimate_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def _sse(data: Mapping[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


async def _chunks(head: dict[str, Any], message: dict[str, Any], finish: str,
                  usage: dict[str, int] | None) -> AsyncIterator[bytes]:
    """The Chat Completions stream for `message`: role, content or tool-call deltas in pieces, finish, usage."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return _sse({**head, "object": "chat.completion.chunk", "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    for piece in _halves(message.get("content") or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(message.get("tool_calls") or []):
        first, *rest = _halves(call["function"]["arguments"]) or [""]
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"], "arguments": first}}]})
        for piece in rest:
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, finish)
    if usage is not None:
        yield _sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    yield _sse("[DONE]")


def _halves(text: str) -> list[str]:
    """Two pieces, so clients have to join deltas."""
    middle = len(text) // 2
    return [piece for piece in (text[:middle], text[middle:]) if piece]


def _error(status: int, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return JSONResponse(body, status_code=status)


@contextmanager
def serve_openai_chat_stub(script: Sequence[ToolCall], *, final_text: FinalText = "Done.",
                           models: Sequence[str] = ("auto",)) -> Iterator[OpenAIChatStub]:
    """An `OpenAIChatStub` served on a free loopback port for the duration of the block."""
    stub = OpenAIChatStub(script, final_text=final_text, models=models)
    with LoopbackServer(stub.app) as server:
        stub.url = server.url
        yield stub
