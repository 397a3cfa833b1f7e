"""A small llama-server stand-in for in-process engine tests: real HTTP on loopback, faults on cue.

`FakeLlama` answers the completion endpoints the relay forwards, with a scripted `Reply` per request (or a
plain answer when nothing is scripted), and can misbehave in ways a real llama-server only does now and
then: headers held back until the test releases them, a stream cut in the middle of a chunk, garbage SSE,
a 500 with llama-server's error body, a connection closed without an answer. `FakeBackend` is the
engine's `ModelBackend` around it: loads and unloads are instant and recorded, and a tier can be made to
fail its load. Its slots are plain token counts the test sets; a slot save writes a file of
`FAKE_BYTES_PER_TOKEN` bytes per token into the tier's slot folder and a restore reads one back, as
llama-server's would (refused while the tier is not loaded). Together they let `Engine` and `create_app`
run in the test's own event loop.
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
from typing import Any

from variet.contract import BackendUpEvent
from variet.engine.errors import SlotError, TierLoadError
from variet.engine.events import EventBus
from variet.engine.llama.upstream import Tcp

__all__ = ["FAKE_BYTES_PER_TOKEN", "FakeBackend", "FakeLlama", "Reply", "running_fake_llama"]

FAKE_BYTES_PER_TOKEN = 100
_SLOTS = 4


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
        self.loaded: str | None = None
        self.slot_dirs: dict[str, Path] = {}
        """Each tier's slot-save-path (the engine's prompt cache folders)."""
        self.slot_tokens: dict[str, list[int]] = {}
        """Tokens each slot of a tier holds; set by the test, emptied when the tier loads."""
        self.slot_context = 4096
        self.slot_calls: list[tuple[str, str, int]] = []
        """(action, tier, slot) of every save and restore, in order."""
        self.slot_failure: dict[str, str] = {}
        """Slot actions (save, restore) that fail, with llama-server's message."""
        self.slot_started = asyncio.Event()
        """Set when a save or restore begins (clear it to wait for the next)."""
        self.slot_gate: asyncio.Event | None = None
        """While set to an unset event, saves and restores wait for it (giving up after their budget, as the
        real backend does)."""
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
        self.loaded = None

    async def until_loaded(self, tier: str, *, requested: Callable[[], bool] = lambda: False) -> None:
        if self.load_gate is not None:
            await self.load_gate.wait()
        if tier in self.failing:
            raise TierLoadError(self.failing[tier])
        self.loaded = tier
        self.slot_tokens[tier] = [0] * _SLOTS

    async def unload(self, tier: str) -> None:
        self.loaded = None

    def _check_loaded(self, tier: str) -> None:
        if tier != self.loaded:
            raise SlotError(f'llama-server answered /slots for {tier!r} with 400: {{"error": "model is not loaded"}}')

    async def slots(self, tier: str) -> list[dict[str, Any]]:
        self._check_loaded(tier)
        return [{"id": i, "n_ctx": self.slot_context, "is_processing": False, "n_prompt_tokens": n}
                for i, n in enumerate(self.slot_tokens.get(tier, []))]

    async def _slot_action(self, action: str, tier: str, slot: int, budget: float) -> None:
        self._check_loaded(tier)
        self.slot_calls.append((action, tier, slot))
        self.slot_started.set()
        if self.slot_gate is not None:
            try:
                await asyncio.wait_for(self.slot_gate.wait(), budget)
            except TimeoutError:
                raise SlotError(f"llama-server did not answer /slots/{slot} within {budget:.1f} s") from None
        if action in self.slot_failure:
            raise SlotError(self.slot_failure[action])

    async def save_slot(self, tier: str, slot: int, filename: str, *, budget: float) -> dict[str, Any]:
        await self._slot_action("save", tier, slot, budget)
        tokens = self.slot_tokens[tier][slot]
        data = tokens.to_bytes(4, "little") + bytes(FAKE_BYTES_PER_TOKEN * tokens)
        (self.slot_dirs[tier] / filename).write_bytes(data)
        return {"id_slot": slot, "filename": filename, "n_saved": tokens, "n_written": len(data)}

    async def restore_slot(self, tier: str, slot: int, filename: str, *, budget: float) -> dict[str, Any]:
        await self._slot_action("restore", tier, slot, budget)
        try:
            data = (self.slot_dirs[tier] / filename).read_bytes()
        except OSError as exc:
            raise SlotError(f"llama-server answered restore with 400: {exc}") from exc
        tokens = int.from_bytes(data[:4], "little")
        self.slot_tokens[tier][slot] = tokens
        return {"id_slot": slot, "filename": filename, "n_restored": tokens, "n_read": len(data)}


@asynccontextmanager
async def running_fake_llama() -> AsyncIterator[FakeLlama]:
    llama = FakeLlama()
    await llama.start()
    try:
        yield llama
    finally:
        await llama.stop()
