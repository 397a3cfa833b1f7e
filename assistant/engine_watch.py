"""What the engine is doing, followed from its event stream: the loaded tier, a swap under way, recent swaps.

`EngineView.apply` is a pure reducer over the contract's events; `EngineWatch` keeps one subscription to
`/variet/events` open (reconnecting with backoff while the engine is down) and passes each event on to the
turns listening, so a turn whose answer waits for a swap can say so at once. Against an OpenAI-compatible
server without Variet's control API the watch stops quietly and turns simply get no swap notices.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from variet.contract import (
    EngineEvent,
    EngineStatus,
    SubscribedEvent,
    SwapDoneEvent,
    SwapFailedEvent,
    SwapStartedEvent,
    UnloadedEvent,
)
from variet.shared.engine_client import EngineClient
from variet.shared.errors import EngineError, EngineUnreachable

__all__ = ["EngineView", "EngineWatch"]

log = logging.getLogger("variet.assistant")

_RECENT = 5
_BACKOFF_FIRST, _BACKOFF_MAX = 1.0, 30.0
_LISTENER_BUFFER = 64


@dataclass(frozen=True)
class EngineView:
    """The engine as its events describe it."""

    connected: bool = False
    loaded: str | None = None
    swapping: SwapStartedEvent | None = None
    expected: Mapping[str, float] = field(default_factory=dict)
    """Seconds a swap to each tier is expected to take: the last one measured, else its load_seconds."""
    recent: tuple[SwapDoneEvent | SwapFailedEvent, ...] = ()
    """The last swaps, newest last."""

    @classmethod
    def from_status(cls, status: EngineStatus, time: float) -> EngineView:
        expected = {name: (tier.last_swap.seconds if tier.last_swap is not None and tier.last_swap.ok
                           else tier.expected_load_seconds) for name, tier in status.tiers.items()}
        swapping = None
        if status.swapping is not None:
            swapping = SwapStartedEvent(time=time - status.swapping.elapsed_seconds, tier=status.swapping.tier,
                                        previous=status.loaded, expected_seconds=status.swapping.expected_seconds)
        return cls(connected=True, loaded=status.loaded, swapping=swapping, expected=expected)

    def apply(self, event: EngineEvent) -> EngineView:
        """The view after `event`."""
        if isinstance(event, SubscribedEvent):
            return replace(EngineView.from_status(event.status, event.time), recent=self.recent)
        if isinstance(event, SwapStartedEvent):
            return replace(self, swapping=event)
        if isinstance(event, SwapDoneEvent):
            return replace(self, loaded=event.tier, swapping=None, recent=(*self.recent, event)[-_RECENT:],
                           expected={**self.expected, event.tier: event.seconds})
        if isinstance(event, SwapFailedEvent):
            return replace(self, swapping=None, recent=(*self.recent, event)[-_RECENT:])
        if isinstance(event, UnloadedEvent):
            return replace(self, loaded=None if self.loaded == event.tier else self.loaded)
        return self

    def expected_seconds(self, tier: str) -> float | None:
        return self.expected.get(tier)


class EngineWatch:
    """One subscription to the engine's events for the whole bot; `run` until cancelled."""

    def __init__(self, engine: EngineClient) -> None:
        self._engine = engine
        self.view = EngineView()
        self._listeners: set[MemoryObjectSendStream[EngineEvent]] = set()
        self.supported = True
        """False once the server turned out to have no `/variet/events` (not a Variet engine)."""

    async def run(self) -> None:
        delay = _BACKOFF_FIRST
        while True:
            try:
                async for event in self._engine.events():
                    delay = _BACKOFF_FIRST
                    self._publish(event)
            except EngineUnreachable:
                pass
            except EngineError as exc:
                if exc.status == 404:
                    self.supported = False
                    log.info("%s has no /variet/events (not a Variet engine): no swap notices", self._engine.url)
                    return
                log.warning("engine events: %s", exc)
            self.view = replace(self.view, connected=False, swapping=None)
            await anyio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def _publish(self, event: EngineEvent) -> None:
        self.view = self.view.apply(event)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(event)
            except anyio.WouldBlock:
                pass  # a listener that falls behind loses events; it only shows notices from them
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._listeners.discard(listener)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[MemoryObjectReceiveStream[EngineEvent]]:
        """The events published while the block runs."""
        send, receive = anyio.create_memory_object_stream[EngineEvent](_LISTENER_BUFFER)
        self._listeners.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._listeners.discard(send)
            send.close()
