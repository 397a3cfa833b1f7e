"""The one streamed-answer response both relays use, against a loopback upstream that misbehaves on cue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from tests.engine.llama.test_upstream import chunk, read_request, serving
from variet.engine.errors import EngineFailure, PeerUnavailable, UpstreamError
from variet.engine.http.streaming import RelayedStream
from variet.engine.llama.upstream import Upstream, post, tcp

pytestmark = pytest.mark.anyio

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


class Watcher:
    """A `StreamWatcher` that remembers what it was told."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.first = asyncio.Event()
        self.broken: list[str] = []
        self.completed: bool | None = None

    def sent(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.first.set()

    def broke_off(self, exc: UpstreamError) -> EngineFailure:
        self.broken.append(str(exc))
        return PeerUnavailable(f"peer 'b' broke off the stream ({exc})")

    def ended(self, *, completed: bool) -> None:
        self.completed = completed


class Client:
    """The ASGI side: what the response sent, and a disconnect on cue."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.leave = asyncio.Event()
        self.left = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        self.left.set()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")


@asynccontextmanager
async def upstream_of(first: bytes, rest: bytes, go_on: asyncio.Event) -> AsyncIterator[Upstream]:
    """A streamed answer: the chunk `first`, then, once `go_on` is set, the raw bytes `rest` and the end of the
    connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(_HEAD + chunk(first))
        await writer.drain()
        await go_on.wait()
        writer.write(rest)
        await writer.drain()

    async with serving(handler) as port:
        yield await post(tcp(port), "/v1/chat/completions", [], b"{}")


async def relay(upstream: Upstream, watcher: Watcher, client: Client, go_on: asyncio.Event,
                *, leave: bool = False) -> RelayedStream:
    response = RelayedStream(upstream, {"content-type": "text/event-stream", "x-variet-tier": "fast"}, watcher)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(response, {"type": "http"}, client.receive, client.send)
            await watcher.first.wait()
            if leave:
                client.leave.set()
                await client.left.wait()  # the response's disconnect watcher has seen it too
            go_on.set()
    return response


async def test_every_chunk_is_relayed_in_order_and_the_stream_ends_complete() -> None:
    watcher, client, go_on = Watcher(), Client(), asyncio.Event()
    async with upstream_of(b"data: one\n\n", chunk(b"data: two\n\n") + b"0\r\n\r\n", go_on) as upstream:
        response = await relay(upstream, watcher, client, go_on)
    start = client.messages[0]
    assert start["status"] == 200 and (b"x-variet-tier", b"fast") in start["headers"]
    assert client.body == b"data: one\n\ndata: two\n\n" and client.messages[-1]["more_body"] is False
    assert response.status_code == 200 and watcher.completed is True and watcher.broken == []


async def test_an_upstream_that_breaks_off_ends_the_stream_with_the_engines_error_event_and_a_502() -> None:
    watcher, client, go_on = Watcher(), Client(), asyncio.Event()
    async with upstream_of(b"data: one\n\n", b"ff\r\ndata: tw", go_on) as upstream:  # dies inside a chunk
        response = await relay(upstream, watcher, client, go_on)
    head, _, event = client.body.partition(b"event: error\ndata: ")
    assert head.startswith(b"data: one\n\n") and client.messages[-1]["more_body"] is False
    error = json.loads(event)["error"]
    assert (error["code"], error["src"]) == ("peer_down", "variet-engine") and "peer 'b'" in error["message"]
    assert response.status_code == 502 and watcher.broken and watcher.completed is False


async def test_a_client_that_leaves_closes_the_upstream_at_the_next_chunk() -> None:
    watcher, client, go_on = Watcher(), Client(), asyncio.Event()
    async with upstream_of(b"data: one\n\n", chunk(b"data: two\n\n"), go_on) as upstream:
        response = await relay(upstream, watcher, client, go_on, leave=True)
    assert watcher.completed is False and response.status_code == 200
    assert all(m.get("more_body", True) for m in client.messages), "a client gone gets no end of body"
