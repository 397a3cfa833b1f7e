"""What the relay learns about one completion request as it goes, for the `request_done` event.

The event is built only while someone subscribes to the engine's events (a dashboard, say); otherwise a
request costs two clock reads here and nothing more.
"""

from __future__ import annotations

import time

from variet.contract import RequestDoneEvent
from variet.engine.events import EventBus

__all__ = ["RequestOutcome"]


class RequestOutcome:
    """One relayed request's tier and timing: created on arrival, told when it queues for its tier and when it
    may run, published once its answer has ended."""

    __slots__ = ("_admitted", "_arrived", "_queued", "resident", "tier", "waited_for_swap")

    def __init__(self) -> None:
        self._arrived = self._queued = time.monotonic()
        self._admitted: float | None = None
        self.tier: str | None = None
        self.waited_for_swap = False
        self.resident = False

    def queue(self, tier: str, *, loaded: str | None, resident: bool = False) -> None:
        """The request now asks for `tier`; `loaded` is the tier loaded at this moment (None while swapping);
        `resident`: the tier is resident (never queued behind a swap)."""
        self.tier = tier
        self.resident = resident
        self.waited_for_swap = loaded != tier
        self._queued = time.monotonic()

    def admitted(self) -> None:
        """The request may run on its tier now."""
        self._admitted = time.monotonic()

    def publish(self, events: EventBus, status: int) -> None:
        """Publish `request_done` with the HTTP status the client got, if the request had a tier and anyone listens."""
        if self.tier is None or not events.subscribers:
            return
        now = time.monotonic()
        waited = (now if self._admitted is None else self._admitted) - self._queued
        events.publish(RequestDoneEvent(
            time=round(time.time(), 3), tier=self.tier, status=status, seconds=round(now - self._arrived, 3),
            waited_seconds=round(waited, 3), waited_for_swap=self.waited_for_swap,
            resident=self.resident,
        ))
