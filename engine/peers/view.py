"""What this engine knows about its peer engines, as pure data: names, up or down, and when to look again.

No I/O here (`variet.engine.peers.registry` polls and relays). Three decisions live here, each a pure function:

* **Names** (`name_table`). A peer's tiers are served here under their own names unless this engine already
  answers to that name: a local tier or alias always wins, and among peers the first one configured wins
  (tier names before aliases). `PEER/TIER` (and `PEER/ALIAS`) always addresses the peer. Only a peer's own
  tiers are served, not the tiers it serves for its peers, so two engines that name each other do not loop.
* **Up or down** (`observe`). A poll that reads the peer's status brings it up (or keeps it up); one that fails,
  as does a relayed request that cannot connect, takes it down with the reason. While down, its last known
  tiers stay listed (marked down) so clients can see what is missing, and requests for them answer 503.
* **When to look again** (`retry_delay`): every `poll_seconds` while up; while down, from a quarter of that,
  doubling per failure, up to five times it, so a peer that comes back is noticed within seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from variet.contract import LOCAL_BOX, EngineStatus, ModelEntry

__all__ = [
    "MIN_POLL_SHARE",
    "PeerTier",
    "PeerView",
    "Reading",
    "name_table",
    "observe",
    "retry_delay",
]

MIN_POLL_SHARE = 0.25
"""The first retry of a down peer, and the shortest gap between polls, as a share of `poll_seconds`."""
_MAX_BACKOFF_FACTOR = 5.0


@dataclass(frozen=True)
class PeerTier:
    """One tier of a peer engine, as this engine serves it."""

    peer: str
    remote: str
    """Its name on the peer (what the relayed request's `model` becomes)."""
    served: str
    """The name this engine lists it under: `remote`, or `peer/remote` when a local or earlier name has that."""


def name_table(local: Collection[str], peers: Sequence[tuple[str, Sequence[ModelEntry]]]) -> dict[str, PeerTier]:
    """Every name a peer tier answers to here, mapped to that tier.

    `local` holds this engine's own tier names and aliases; `peers` each peer's own tiers (its `/v1/models`
    entries on its own box), in configuration order.
    """
    plain: dict[str, tuple[str, str]] = {}
    for pass_aliases in (False, True):
        for peer, entries in peers:
            for entry in entries:
                for name in entry.aliases if pass_aliases else [entry.id]:
                    if name not in local and name not in plain:
                        plain[name] = (peer, entry.id)
    table: dict[str, PeerTier] = {}
    for peer, entries in peers:
        for entry in entries:
            served = entry.id if plain.get(entry.id) == (peer, entry.id) else f"{peer}/{entry.id}"
            tier = PeerTier(peer, entry.id, served)
            table[served] = tier
            for name in (entry.id, *entry.aliases):
                table[f"{peer}/{name}"] = tier
                if plain.get(name) == (peer, entry.id):
                    table[name] = tier
    return table


@dataclass(frozen=True)
class Reading:
    """What one successful poll read from a peer."""

    status: EngineStatus
    tiers: tuple[ModelEntry, ...] | None = None
    """Its own tiers from `/v1/models`; None when they were not read again (unchanged)."""


@dataclass(frozen=True)
class PeerView:
    """A peer as this engine knows it; replaced by `observe`, never changed in place."""

    up: bool = False
    status: EngineStatus | None = None
    """Its last status read (kept while it is down)."""
    tiers: tuple[ModelEntry, ...] = ()
    """Its own tiers as last read (kept while it is down)."""
    error: str | None = None
    """Why it is down."""
    since: float | None = None
    """When it last went up or down (seconds since the epoch)."""
    failures: int = 0
    """Failed polls or requests in a row."""

    @property
    def loaded(self) -> str | None:
        """Its loaded tier (its own name for it), while it is up."""
        return self.status.loaded if self.up and self.status is not None else None

    def needs_tiers(self, status: EngineStatus) -> bool:
        """Whether a poll that read `status` must read `/v1/models` too: the first time, after the peer was
        down or restarted, or when its tier names changed."""
        if not self.up or self.status is None or not self.tiers:
            return True
        if status.uptime_seconds < self.status.uptime_seconds or status.version != self.status.version:
            return True
        own = {name for name, tier in status.tiers.items() if tier.box == LOCAL_BOX}
        return own != {entry.id for entry in self.tiers}


def observe(view: PeerView, outcome: Reading | str, now: float) -> PeerView:
    """Fold one outcome into the view: a `Reading`, or the text of what failed."""
    if isinstance(outcome, str):
        went_down: float | None = now if view.up or view.since is None else view.since
        return replace(view, up=False, error=outcome, since=went_down, failures=view.failures + 1)
    tiers = view.tiers if outcome.tiers is None else tuple(e for e in outcome.tiers if e.box == LOCAL_BOX)
    since = view.since if view.up else now
    return PeerView(up=True, status=outcome.status, tiers=tiers, error=None, since=since, failures=0)


def retry_delay(view: PeerView, poll_seconds: float) -> float:
    """Seconds until the next poll of a peer in this state."""
    if view.up:
        return poll_seconds
    first = MIN_POLL_SHARE * poll_seconds
    return min(_MAX_BACKOFF_FACTOR * poll_seconds, first * 2.0 ** min(max(view.failures - 1, 0), 16))
