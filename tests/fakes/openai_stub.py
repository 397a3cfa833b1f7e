"""A scripted OpenAI chat-completions API on a loopback port: the model when a test needs exact tool calls.

`OpenAIStub(script)` answers `POST /v1/chat/completions` as JSON or, when the request sets `stream`, as the
SSE chunks OpenAI sends (role, content deltas, tool calls in pieces, finish reason, usage, `[DONE]`). It
plays `script` against the conversation it is sent, as `anthropic_stub` does: step N's tool call goes out
once the conversation holds step N-1's call (ids `call_variet_N`), so a retried request gets the same
answer. A request that does not offer the step's tool gets a text answer naming the tools it offered;
after the last step, `final_text` (a string, or a function of the earlier results' texts). Every request
is recorded; `GET /v1/models` lists the stub's tiers.
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

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.anthropic_stub import Recorded
from tests.parts.searx import LoopbackServer

__all__ = ["OpenAIStub", "ToolCall", "serve_openai_stub"]

_ID_PREFIX = "call_variet_"
_ID = re.compile(rf"^{_ID_PREFIX}(\d+)$")

Arguments = Mapping[str, Any] | Callable[[list[str]], Mapping[str, Any]]
"""A call's arguments, or a function of the texts of the earlier steps' results (in step order)."""
Final = str | Callable[[list[str]], str]


@dataclass(frozen=True)
class ToolCall:
    """One scripted model turn: call tool `name` with `arguments`."""

    name: str
    arguments: Arguments = field(default_factory=dict)


class OpenAIStub:
    def __init__(self, script: Sequence[ToolCall] = (), *, final_text: Final = "Done.", tier: str = "fast",
                 pieces: int = 2, chunk_seconds: float = 0.0) -> None:
        self.script = list(script)
        self.final_text = final_text
        self.tier = tier
        """The model name answers carry when the request asked for `auto`."""
        self.pieces = pieces
        """Content deltas per text answer."""
        self.chunk_seconds = chunk_seconds
        """Pause between streamed chunks (a model's speed), so a client sees an answer grow."""
        self.url = ""
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/v1/chat/completions" and isinstance(r.body, dict)]

    def results(self) -> list[str]:
        """The text of each scripted step's result as the model last received it, in step order."""
        seen: dict[int, str] = {}
        for body in self.chat_requests():
            for step, text in _scripted_results(body):
                seen[step] = text
        return [seen[step] for step in sorted(seen)]

    async def _completions(self, request: Request) -> Response:
        body = await self._record(request)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return JSONResponse({"error": {"message": "messages is required", "type": "invalid_request_error"}},
                                status_code=400)
        model = body.get("model") or self.tier
        model = self.tier if model == "auto" else model
        content, calls = self._reply(body)
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(self._chunks(model, content, calls, usage), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse({"id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                             "model": model, "choices": [{"index": 0, "message": message,
                                                          "finish_reason": "tool_calls" if calls else "stop"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

    def _reply(self, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        steps = [step for step in _scripted_calls(body)]
        step = max(steps) + 1 if steps else 0
        earlier = dict(_scripted_results(body))
        texts = [earlier.get(i, "") for i in range(step)]
        if step >= len(self.script):
            final = self.final_text(texts) if callable(self.final_text) else self.final_text
            return final, []
        planned = self.script[step]
        offered = [t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
        if planned.name not in offered:
            return f"(stub) step {step} wants tool {planned.name}, but this request offers: {offered}", []
        arguments = planned.arguments(texts) if callable(planned.arguments) else planned.arguments
        call = {"id": f"{_ID_PREFIX}{step}", "type": "function",
                "function": {"name": planned.name, "arguments": json.dumps(dict(arguments))}}
        return "", [call]

    async def _chunks(self, model: str, content: str, calls: list[dict[str, Any]],
                      usage: bool) -> AsyncIterator[bytes]:
        base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(content, self.pieces):
            await self._pause()
            yield chunk({"content": piece})
        for index, call in enumerate(calls):
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            yield chunk({"tool_calls": [head]})
            for piece in _pieces(call["function"]["arguments"], 2):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        await self._pause()
        yield chunk({}, "tool_calls" if calls else "stop")
        if usage:
            tokens = max(1, len(content) // 4)
            totals = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': totals})}\n\n".encode()
        yield b"data: [DONE]\n\n"

    async def _pause(self) -> None:
        if self.chunk_seconds:
            await anyio.sleep(self.chunk_seconds)

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        names = ["auto", self.tier]
        return JSONResponse({"object": "list", "data": [{"id": name, "object": "model", "created": 0,
                                                         "owned_by": "stub"} for name in names]})

    async def _other(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"error": {"message": f"the stub does not serve {request.url.path}",
                                       "type": "invalid_request_error"}}, status_code=404)

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = Recorded(request.method, request.url.path, request.url.query, dict(request.headers), body)
        with self._lock:
            self._requests.append(record)
        return body

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self._completions, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/{path:path}", self._other, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
        ])


def _step_of(call_id: object) -> int | None:
    match = _ID.match(call_id) if isinstance(call_id, str) else None
    return int(match.group(1)) if match else None


def _scripted_calls(body: dict[str, Any]) -> Iterator[int]:
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if (step := _step_of(call.get("id"))) is not None:
                    yield step


def _scripted_results(body: dict[str, Any]) -> Iterator[tuple[int, str]]:
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "tool":
            if (step := _step_of(message.get("tool_call_id"))) is not None:
                content = message.get("content")
                yield step, content if isinstance(content, str) else json.dumps(content)


def _pieces(text: str, count: int) -> list[str]:
    """`text` in about `count` pieces, so clients have to join deltas."""
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, count)))
    return [text[i:i + size] for i in range(0, len(text), size)]


@contextmanager
def serve_openai_stub(script: Sequence[ToolCall] = (), **options: Any) -> Iterator[OpenAIStub]:
    """An `OpenAIStub` served on a free loopback port (in its own thread) for the duration of the block."""
    stub = OpenAIStub(script, **options)
    with LoopbackServer(stub.app) as server:
        stub.url = server.url
        yield stub
