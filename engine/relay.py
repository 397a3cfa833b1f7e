"""Relaying a request to llama-server while its tier is held, stream included.

The tier's slot is taken before this is called and released here when the upstream response ends, the
client goes away or the upstream fails. Streams are relayed chunk by chunk as they arrive; the last few
chunks are kept to read llama-server's `timings` (the measured decode speed).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx2
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from variet.engine.errors import backend_down

if TYPE_CHECKING:
    from variet.engine.app import Engine

__all__ = ["find_timings", "forward"]

log = logging.getLogger(__name__)

_TAIL_CHUNKS = 4
_SEND_ATTEMPTS = 3


def find_timings(tail: bytes) -> dict[str, Any] | None:
    """The `timings` object of the last SSE data line that carries one."""
    at = tail.rfind(b'"timings"')
    if at < 0:
        return None
    start = tail.rfind(b"data:", 0, at)
    end = tail.find(b"\n", at)
    if start < 0:
        return None
    line = tail[start + 5 : end if end >= 0 else len(tail)]
    with contextlib.suppress(ValueError):
        timings = json.loads(line).get("timings")
        if isinstance(timings, dict):
            return timings
    return None


async def forward(engine: Engine, request: Request, body: bytes, streaming: bool, tier: str,
                   headers: dict[str, str]) -> Response:
    """Send the request upstream while holding the tier's slot; release it when the response ends."""
    client = engine.backend.client
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    upstream_request = client.build_request(
        "POST", path, content=body, headers={"content-type": "application/json"}
    )
    for attempt in range(_SEND_ATTEMPTS):
        try:
            upstream = await client.send(upstream_request, stream=True)
            break
        except httpx2.RemoteProtocolError as exc:
            # llama-server's router sometimes closes a connection without answering while it swaps
            # instances; nothing was generated yet, so retrying is safe.
            if attempt + 1 < _SEND_ATTEMPTS:
                log.info("llama-server dropped a %s request before answering; retrying", tier)
                continue
            error: Exception = exc
        except httpx2.TransportError as exc:
            error = exc
        engine.scheduler.release(tier)
        engine.stats[tier].errors += 1
        return backend_down(engine, f"connection failed: {error}")
    content_type = upstream.headers.get("content-type", "application/json")
    if not streaming or upstream.status_code != 200:
        try:
            body = await upstream.aread()
        except httpx2.TransportError as exc:
            engine.stats[tier].errors += 1
            return backend_down(engine, f"connection lost: {exc}")
        finally:
            await upstream.aclose()
            engine.scheduler.release(tier)
        if upstream.status_code == 200:
            with contextlib.suppress(ValueError, AttributeError):
                timings = json.loads(body).get("timings")
                if isinstance(timings, dict):
                    engine.record_speed(tier, timings)
        else:
            engine.stats[tier].errors += 1
        return Response(body, status_code=upstream.status_code, media_type=content_type, headers=headers)

    async def stream() -> AsyncIterator[bytes]:
        last: deque[bytes] = deque(maxlen=_TAIL_CHUNKS)  # the final data line may span a few chunks
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
                last.append(chunk)
        except httpx2.TransportError:
            engine.stats[tier].errors += 1
            error = {"error": {"message": "the model backend died mid-stream; retry the request",
                               "type": "backend_unavailable", "src": "variet-engine"}}
            yield f"event: error\ndata: {json.dumps(error)}\n\n".encode()
        finally:
            await upstream.aclose()
            engine.scheduler.release(tier)
            timings = find_timings(b"".join(last))
            if timings:
                engine.record_speed(tier, timings)

    return StreamingResponse(stream(), status_code=200, media_type=content_type, headers=headers)
