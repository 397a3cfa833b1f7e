"""The relay's HTTP/1.1 leg, against small loopback servers that misbehave on cue.

The happy path also runs against the real llama-server in test_engine.py (every relayed completion goes
through it); these cover what llama-server does only now and then: closing without an answer, dying
mid-body, and the client leaving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from variet.engine.errors import NoResponse, UpstreamError
from variet.engine.llama.upstream import post, tcp

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """A loopback server running `handler` per connection; yields its port."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    line, *fields = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
    body = await reader.readexactly(int(headers["content-length"]))
    return line, headers, body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_the_request_goes_out_as_written_and_a_sized_answer_is_read_whole() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
                     b"Connection: close\r\n\r\n{\"error\":404}")
        await writer.drain()

    async with serving(handler) as port:
        answer = await post(tcp(port), "/v1/messages?beta=true", [("authorization", "Bearer k")], b'{"model":"fast"}')
        body = await answer.read()
        answer.close()
    assert (answer.status, answer.headers["content-type"], body) == (404, "application/json", b'{"error":404}')
    line, headers, sent = seen[0]
    assert line == "POST /v1/messages?beta=true HTTP/1.1"
    assert headers["authorization"] == "Bearer k" and headers["host"] == f"127.0.0.1:{port}"
    assert sent == b'{"model":"fast"}'


async def test_a_chunked_stream_arrives_piece_by_piece_without_its_framing() -> None:
    next_piece = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunk(b"data: one\n\n"))
        await writer.drain()
        await next_piece.wait()  # the second piece is only sent once the first has been seen
        writer.write(chunk(b"data: two\n\n") + b"0\r\n\r\n")
        await writer.drain()

    async with serving(handler) as port:
        answer = await post(tcp(port), "/v1/chat/completions", [], b"{}")
        pieces = []
        async for piece in answer.chunks():
            pieces.append(piece)
            next_piece.set()
        answer.close()
    assert answer.status == 200
    assert pieces == [b"data: one\n\n", b"data: two\n\n"]


async def test_a_connection_closed_before_any_answer_is_safe_to_retry() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with serving(handler) as port:
        with pytest.raises(NoResponse, match="without answering"):
            await post(tcp(port), "/v1/chat/completions", [], b"{}")


async def test_a_connection_lost_mid_body_is_an_error_but_not_a_retry() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"data: one\n\n"))
        await writer.drain()

    async with serving(handler) as port:
        answer = await post(tcp(port), "/v1/chat/completions", [], b"{}")
        pieces = []
        with pytest.raises(UpstreamError, match="mid-response") as raised:
            async for piece in answer.chunks():
                pieces.append(piece)
        answer.close()
    assert not isinstance(raised.value, NoResponse)
    assert pieces == [b"data: one\n\n"]


async def test_a_garbled_answer_is_reported_as_malformed() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async with serving(handler) as port:
        with pytest.raises(UpstreamError, match="malformed"):
            await post(tcp(port), "/v1/chat/completions", [], b"{}")


async def test_nothing_listening_names_the_address() -> None:
    async with serving(read_request) as port:
        pass  # the port is closed again: nothing listens there now
    with pytest.raises(UpstreamError, match=f"cannot connect to 127.0.0.1:{port}"):
        await post(tcp(port), "/v1/chat/completions", [], b"{}")


async def test_closing_mid_stream_hangs_up_on_the_server() -> None:
    hung_up = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"data: one\n\n"))
        await writer.drain()
        if await reader.read() == b"":  # what llama-server sees when the engine stops reading
            hung_up.set()

    async with serving(handler) as port:
        answer = await post(tcp(port), "/v1/chat/completions", [], b"{}")
        async for _ in answer.chunks():
            break
        answer.close()
        await asyncio.wait_for(hung_up.wait(), 10)
