"""What the relay learns about one completion request as it goes: the tier's counters and `request_done`.

The relay tells its `RequestOutcome` when the request queues for a tier, when it may run and how it
ended; the outcome counts it on the tier (a request, and a failure unless the client got a 200) and
publishes the `request_done` event. The event is built only while someone subscribes to the engine's
events (a dashboard, say); otherwise a request costs two clock reads here and two counter updates.
A peer's tier is counted by `variet.engine.peers.relay`, where what failed on the way is known.
"""

from __future__ import annotations

import time

from variet.contract import RequestDoneEvent
from variet.engine.core import Engine
from variet.engine.peers.view import PeerTier

__all__ = ["RequestOutcome"]


class RequestOutcome:
    """One relayed request's tier and timing: created on arrival, told when it queues for its tier and when it
    may run, ended once its answer has ended."""

    __slots__ = ("_admitted", "_arrived", "_engine", "_local", "_queued", "resident", "tier", "waited_for_swap")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._arrived = self._queued = time.monotonic()
        self._admitted: float | None = None
        self._local = False
        self.tier: str | None = None
        self.waited_for_swap = False
        self.resident = False

    def queue(self, tier: str) -> None:
        """The request now asks for the local tier `tier`; it waits for a swap unless `tier` is loaded now."""
        engine = self._engine
        engine.count_request(tier)
        self._local = True
        self.tier = tier
        self.resident = engine.is_resident(tier)
        self.waited_for_swap = not engine.ready_now(tier)
        self._queued = time.monotonic()

    def queue_on_peer(self, tier: PeerTier) -> None:
        """The request goes to a peer's tier, which queues it there: it waits for a swap if its tier was not
        loaded there, last we saw."""
        self.tier = tier.served
        self.waited_for_swap = not self._engine.peers.loaded_there(tier)
        self._queued = time.monotonic()

    def admitted(self) -> None:
        """The request may run on its tier now."""
        self._admitted = time.monotonic()

    def end(self, status: int) -> None:
        """The client got `status` and the answer has ended: count a failure on a local tier, and publish
        `request_done` if the request had a tier and anyone listens."""
        tier, engine = self.tier, self._engine
        if tier is None:
            return
        if self._local and status != 200:
            engine.count_failure(tier)
        if not engine.events.subscribers:
            return
        now = time.monotonic()
        waited = (now if self._admitted is None else self._admitted) - self._queued
        engine.events.publish(RequestDoneEvent(
            time=round(time.time(), 3), tier=tier, status=status, seconds=round(now - self._arrived, 3),
            waited_seconds=round(waited, 3), waited_for_swap=self.waited_for_swap,
            resident=self.resident,
        ))
