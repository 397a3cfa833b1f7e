"""A small llama-server stand-in for in-process engine tests: real HTTP on loopback, faults on cue.

`FakeLlama` answers the completion endpoints the relay forwards, with a scripted `Reply` per request (or a
plain answer when nothing is scripted), and can misbehave in ways a real llama-server only does now and
then: headers held back until the test releases them, a stream cut in the middle of a chunk, garbage SSE,
a 500 with llama-server's error body, a connection closed without an answer. `FakeBackend` is the
engine's `ModelBackend` around it: loads and unloads are instant and recorded, and a tier can be made to
fail its load. Together they let `Engine` and `create_app` run in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from variet.contract import BackendUpEvent
from variet.engine.events import EventBus
from variet.engine.scheduler import TierLoadError
from variet.engine.upstream import Tcp

__all__ = ["FakeBackend", "FakeLlama", "Reply", "running_fake_llama"]


@dataclass
class Reply:
    """How the fake answers one request."""

    status: int = 200
    body: bytes | None = None
    """The whole body (JSON); default: a one-word chat answer with `timings`."""
    chunks: list[bytes] = field(default_factory=list)
    """A chunked streamed body, piece by piece (used when set, instead of `body`)."""
    cut_after: int | None = None
    """Close the connection after this many chunks, halfway through the next one."""
    hold: asyncio.Event | None = None
    """Send nothing, headers included, until this is set."""
    close_without_answer: bool = False


def sse(*events: object) -> list[bytes]:
    """`data:` lines for each event, then `[DONE]`, as chunks."""
    return [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]


def chat_answer(text: str = "hello", *, tier: str = "fast") -> bytes:
    return json.dumps({
        "object": "chat.completion", "model": tier,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        "timings": {"predicted_n": 4, "predicted_per_second": 50.0, "prompt_n": 3},
    }).encode()


class FakeLlama:
    """The fake server. `script` replies are used in order, then the default answer."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *fields = head.strip().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.seen.append((line, headers, body))
            reply = self.script.popleft() if self.script else Reply()
            await self._answer(reply, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, reply: Reply, writer: asyncio.StreamWriter) -> None:
        if reply.hold is not None:
            await reply.hold.wait()
        if reply.close_without_answer:
            return
        reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(reply.status, "Status")
        if reply.chunks:
            writer.write(f"HTTP/1.1 {reply.status} {reason}\r\nContent-Type: text/event-stream\r\n"
                         "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
            for number, piece in enumerate(reply.chunks):
                frame = b"%x\r\n%s\r\n" % (len(piece), piece)
                if reply.cut_after is not None and number == reply.cut_after:
                    writer.write(frame[: len(frame) // 2])
                    await writer.drain()
                    return
                writer.write(frame)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            body = chat_answer() if reply.body is None else reply.body
            writer.write(f"HTTP/1.1 {reply.status} {reason}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()


class FakeBackend:
    """The engine's `ModelBackend` over a `FakeLlama`: instant loads, recorded, failing on demand."""

    def __init__(self, llama: FakeLlama, events: EventBus, log_file: Path) -> None:
        self._llama, self._events = llama, events
        self.log_file = log_file
        self.up = False
        self.restarts = 0
        self.pid: int | None = None
        self.loads: list[str] = []
        self.failing: dict[str, str] = {}
        """Tiers whose load fails, with the error."""
        self.load_gate: asyncio.Event | None = None
        """While set to an unset event, loads wait for it."""
        self.on_load: Callable[[str], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._llama.port}"

    @property
    def auth_header(self) -> tuple[str, str]:
        return "authorization", "Bearer fake"

    @property
    def connect(self) -> Tcp:
        return Tcp("127.0.0.1", self._llama.port)

    async def start(self) -> None:
        self.up = True
        self._events.publish(BackendUpEvent(time=time.time(), url=self.url, pid=None))

    async def stop(self) -> None:
        self.up = False

    def log_tail(self) -> str:
        return "(fake)"

    async def start_load(self, tier: str, *, by_requests: bool = False) -> None:
        self.loads.append(tier)

    async def until_loaded(self, tier: str, *, requested: Callable[[], bool] = lambda: False) -> None:
        if self.load_gate is not None:
            await self.load_gate.wait()
        if tier in self.failing:
            raise TierLoadError(self.failing[tier])

    async def unload(self, tier: str) -> None:
        pass


@asynccontextmanager
async def running_fake_llama() -> AsyncIterator[FakeLlama]:
    llama = FakeLlama()
    await llama.start()
    try:
        yield llama
    finally:
        await llama.stop()
