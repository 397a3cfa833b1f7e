"""The engine client over real loopback HTTP: a kept-alive connection the server has dropped is not an outage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from variet.shared.engine_client import EngineClient

ANSWER = json.dumps({"object": "list", "data": []}).encode()


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one HTTP/1.1 request (headers and a Content-Length body); False when the client closed instead."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    length = 0
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return True


@asynccontextmanager
async def dropping_server(connections: list[int]) -> AsyncIterator[str]:
    """Answers the first request of each connection and keeps it alive, then drops the connection without a word
    when a second request comes on it: what a client sees when the server closed an idle connection just as the
    client reused it. `connections` counts the connections opened."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if await _read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: " + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)
            await writer.drain()
            await _read_request(reader)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.anyio
async def test_a_request_on_a_connection_the_server_dropped_is_sent_again_on_a_fresh_one() -> None:
    connections: list[int] = []
    async with dropping_server(connections) as url, EngineClient(url) as client:
        first = await client.models()
        second = await client.models()  # on the kept-alive connection, which the server drops

    assert first.data == second.data == []
    assert len(connections) == 2  # the second request went out again, on a new connection
