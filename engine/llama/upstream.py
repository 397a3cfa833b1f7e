"""The relay's HTTP/1.1 leg to a model server: one request per connection, parsed by httptools.

Every completion the engine relays costs it this exchange, on the same CPU that, on a small machine, runs
inference too. httpx2 spent about 1.1 ms of CPU per request and 0.04 ms per streamed chunk here (its
pool, h11 and anyio layers), which was most of what the engine added to time to first token. This leg
needs none of that generality: the other end is our llama-server child on 127.0.0.1, or a peer engine on
another box (`Tls` when its URL is https). So it opens a connection, writes one request, and parses the
answer with httptools (the C parser uvicorn serves the engine's own port with), chunked or not, reading
until the message is complete.

Everything else the engine says to llama-server or a peer (health, status, loads) goes through httpx2.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import httptools

from variet.engine.errors import NoResponse, UpstreamError

__all__ = ["Connect", "Tcp", "Tls", "Upstream", "post", "tcp"]

_READ_SIZE = 65536

class Connect(Protocol):
    """Opens a new connection to the model server: the relay's injection seam (tests connect to a fake)."""

    @property
    def address(self) -> str:
        """`host:port`, for the Host header and messages."""

    async def __call__(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


@dataclass(frozen=True)
class Tcp:
    """A `Connect` for a TCP address."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def __call__(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)


@dataclass(frozen=True)
class Tls(Tcp):
    """A `Connect` for a TLS server, its certificate checked against the system's trusted authorities."""

    async def __call__(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, ssl=_tls_context())


_TLS: list[ssl.SSLContext] = []


def _tls_context() -> ssl.SSLContext:
    """One default client context, built on first use (loading the trusted certificates takes a while)."""
    if not _TLS:
        _TLS.append(ssl.create_default_context())
    return _TLS[0]


def tcp(port: int, host: str = "127.0.0.1") -> Tcp:
    return Tcp(host, port)


class _Parsed:
    """httptools callbacks: the status line and headers, then body pieces as they are decoded."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.complete = False
        self.body: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class Upstream:
    """llama-server's response: status and headers are read; the body is read with `chunks` or `read`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._parsed = _Parsed()
        self._parser = httptools.HttpResponseParser(self._parsed)
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _feed(self) -> bool:
        """Read and parse what has arrived; False once the connection has ended."""
        try:
            data = await self._reader.read(_READ_SIZE)
        except OSError as exc:
            kind = UpstreamError if self._parsed.headers_done else NoResponse
            raise kind(f"connection lost: {exc}") from exc
        if not data:
            return False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise UpstreamError(f"the server sent a malformed response: {exc}") from exc
        return True

    async def _start(self) -> None:
        parsed = self._parsed
        while not parsed.headers_done:
            if not await self._feed():
                raise NoResponse("the server closed the connection without answering")
        self.status = self._parser.get_status_code()
        self.headers = parsed.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece as it arrives (chunked transfer encoding already removed)."""
        parsed = self._parsed
        while True:
            if parsed.body:
                piece = b"".join(parsed.body)
                parsed.body.clear()
                yield piece
            if parsed.complete:
                return
            if not await self._feed():
                if "content-length" in self.headers or "transfer-encoding" in self.headers:
                    raise UpstreamError("connection lost: the server closed it mid-response")
                return  # a body delimited by the end of the connection

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.chunks()])

    def close(self) -> None:
        """Close the connection; llama-server stops generating for a closed connection."""
        self._writer.close()


async def post(
    connect: Connect, target: str, headers: Sequence[tuple[str, str]], body: bytes, *, connect_timeout: float = 10.0
) -> Upstream:
    """POST `body` over a new connection from `connect`; return once the status and headers are in."""
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await connect()
    except (OSError, TimeoutError) as exc:
        raise UpstreamError(f"cannot connect to {connect.address}: {exc or 'timed out'}") from exc
    head = [f"POST {target} HTTP/1.1", f"host: {connect.address}", f"content-length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers]
    upstream = Upstream(reader, writer)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        await upstream._start()
    except OSError as exc:
        upstream.close()
        raise NoResponse(f"connection lost before an answer: {exc}") from exc
    except BaseException:
        upstream.close()
        raise
    return upstream
