"""A small fan-out of engine events (swap started/done/failed, backend down/up) to SSE subscribers."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

__all__ = ["EventBus"]

_SUBSCRIBER_BACKLOG = 256
_HISTORY = 64


class EventBus:
    """Publish events to every current subscriber; a slow subscriber loses its oldest events, never blocks."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.history: deque[dict[str, Any]] = deque(maxlen=_HISTORY)

    async def publish(self, event: str, **data: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **data}
        self.history.append(record)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(record)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """Register a subscriber now; read events from the returned queue, then `unsubscribe` it."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
