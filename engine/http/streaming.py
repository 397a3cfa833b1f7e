"""A streamed answer relayed as it arrives, from llama-server or from a peer engine, as a plain ASGI response.

Lighter than Starlette's `StreamingResponse` (no task group per request), which matters on the hot path.
Each upstream chunk is sent on as it arrives. A client that goes away is noticed at the next chunk; the
upstream is then closed, which stops the generation there. An upstream that breaks off ends the stream
with the engine's `event: error` (the 200 is already sent) and reports 502 for `request_done`.

What differs between the local and the peer relay (what a chunk teaches, what a break-off costs, what
is freed at the end) is the `StreamWatcher`'s business.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.types import Receive, Scope, Send

from variet.engine.errors import EngineFailure, UpstreamError
from variet.engine.http.responses import Family, failure_event
from variet.engine.llama.upstream import Upstream

__all__ = ["RelayedStream", "StreamWatcher"]

log = logging.getLogger(__name__)


class StreamWatcher(Protocol):
    """Told what happens to one relayed stream."""

    def sent(self, chunk: bytes) -> None:
        """`chunk` went to the client."""

    def broke_off(self, exc: UpstreamError) -> EngineFailure:
        """The upstream broke the stream off: record it; return what to tell the client."""

    def ended(self, *, completed: bool) -> None:
        """The stream is over and the upstream closed; `completed`: the upstream's answer arrived whole."""


class RelayedStream:
    """An upstream's streamed answer as a plain ASGI response."""

    status_code = 200
    """What `request_done` reports; 502 once the upstream breaks the stream off."""

    def __init__(self, upstream: Upstream, headers: dict[str, str], watcher: StreamWatcher, *,
                 family: Family = "openai", chunks: AsyncIterator[bytes] | None = None) -> None:
        """`chunks`: the body as the client is to get it, when not `upstream.chunks()` as they come."""
        self._upstream = upstream
        self._chunks = chunks if chunks is not None else upstream.chunks()
        self._headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._watcher = watcher
        self._family = family
        tier = headers.get("x-variet-tier")
        self._what = f"a {tier} stream" if tier else "a stream"  # the log names the tier, as a user reads it
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = self._watcher
        gone = asyncio.ensure_future(_until_disconnect(receive))
        completed = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            try:
                async for chunk in self._chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    watcher.sent(chunk)
                    if gone.done():
                        log.info("the client left %s; closing it upstream", self._what)
                        return
                completed = True
            except UpstreamError as exc:
                self.status_code = 502
                event = failure_event(watcher.broke_off(exc), family=self._family)
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            self._upstream.close()
            watcher.ended(completed=completed)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
