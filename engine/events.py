"""A small fan-out of the engine's events to SSE subscribers and to in-process listeners.

Events are the contract's models (`variet.contract.events`). In-process listeners are how the engine's
parts hear of each other without calling back: the backend publishes `backend_down`, the scheduler
listens for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from variet.contract import EngineEvent

__all__ = ["EventBus", "Listener"]

_SUBSCRIBER_BACKLOG = 256
_HISTORY = 64

Listener = Callable[[EngineEvent], None]
"""Called synchronously with each event as it is published; must not block."""


class EventBus:
    """Publish events to every current subscriber; a slow subscriber loses its oldest events, never blocks."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[EngineEvent | None]] = set()
        self._listeners: list[Listener] = []
        self.history: deque[EngineEvent] = deque(maxlen=_HISTORY)
        """The last events, oldest first."""

    def publish(self, event: EngineEvent) -> None:
        self.history.append(event)
        for listener in self._listeners:
            listener(event)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def listen(self, listener: Listener) -> None:
        """Call `listener` with every event from now on (for the engine's own parts)."""
        self._listeners.append(listener)

    def subscribe(self) -> asyncio.Queue[EngineEvent | None]:
        """Register a subscriber now; read events from the returned queue until None (the bus closed), then
        `unsubscribe` it."""
        queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue(_SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[EngineEvent | None]) -> None:
        self._subscribers.discard(queue)

    def close(self) -> None:
        """End every subscription (the engine is shutting down): each subscriber reads None next."""
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
