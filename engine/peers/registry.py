"""Peer engines (`[[engine.peers]]`): other boxes' Variet engines, whose tiers this engine serves too.

A `Peer` per configured peer holds its connection details (the relay's `Connect` for completions, an
httpx2 client for status and control) and its current `PeerView`. `Peers` runs one watcher task per peer
that polls the peer's `/variet/status` (and `/v1/models` when its tiers may have changed), folds each
outcome into the view with `peer_view.observe`, and publishes `peer_up`, `peer_down` and `peer_loaded`
on the engine's event bus. From the views it answers what the rest of the engine asks: which peer tier a
name means, the peer tiers' states and model entries, and the catalogue `auto` routes over.

The peer schedules its own tiers: nothing here touches the local scheduler, so a request for a peer's
tier never evicts a local one. A peer's API key is held in a private attribute, sent only in the
`Authorization` header, and never formatted into a message, log line or status answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx2
from pydantic import ValidationError

from variet.contract import (
    EngineStatus,
    LoadAnswer,
    ModelEntry,
    ModelList,
    PeerDownEvent,
    PeerInfo,
    PeerLoadedEvent,
    PeerUpEvent,
    TierState,
)
from variet.engine.errors import PeerUnavailable
from variet.engine.events import EventBus
from variet.engine.llama.upstream import Connect, Tcp, Tls
from variet.engine.peers.view import MIN_POLL_SHARE, PeerTier, PeerView, Reading, name_table, observe, retry_delay
from variet.shared.config import PeerSettings
from variet.shared.tiers import Tier, TierCatalogue

__all__ = ["Peer", "Peers", "peer_connect"]

log = logging.getLogger(__name__)


def peer_connect(url: str) -> Connect:
    """The relay's connection factory for a peer's base URL (TLS for https)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return Tls(host, parts.port or 443)
    return Tcp(host, parts.port or 80)


class Peer:
    """One peer engine: where it is, how to reach it, and what this engine last saw of it."""

    def __init__(self, settings: PeerSettings, api_key: str | None, *,
                 transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.url = settings.url
        self.connect = peer_connect(settings.url)
        self.__key = api_key
        self.view = PeerView()
        self.requests = 0
        """Requests relayed to it."""
        self.errors = 0
        """Of those, how many failed on the way (not the peer's own error answers)."""
        self.client = httpx2.AsyncClient(
            base_url=settings.url, headers=dict(self.auth_headers), transport=transport,
            timeout=httpx2.Timeout(settings.connect_timeout_seconds),
        )
        self.poke = asyncio.Event()
        """Set to poll now (a relayed request failed, or may have swapped a tier there)."""

    def __repr__(self) -> str:
        return f"Peer({self.name!r}, {self.url!r}, up={self.view.up})"

    @property
    def auth_headers(self) -> list[tuple[str, str]]:
        """The headers that carry its key (none without one)."""
        return [] if self.__key is None else [("authorization", f"Bearer {self.__key}")]

    def down_message(self, detail: str | None = None) -> str:
        """Why its tiers cannot be served now, and what to check."""
        why = detail or self.view.error or "it has not answered yet"
        return (f"peer {self.name!r} at {self.url} is unavailable ({why}); check that `variet engine serve` runs on "
                f"that box and that this box reaches it (`variet doctor`); its tiers come back by themselves "
                f"once it answers")

    async def read(self) -> Reading | str:
        """Poll it once: its status, and its tiers when they may have changed; or what failed."""
        timeout = self.settings.connect_timeout_seconds
        try:
            answer = await self.client.get("/variet/status")
            if answer.status_code != 200:
                return self._refused("/variet/status", answer)
            status = EngineStatus.model_validate_json(answer.content)
            if not self.view.needs_tiers(status):
                return Reading(status)
            answer = await self.client.get("/v1/models")
            if answer.status_code != 200:
                return self._refused("/v1/models", answer)
            return Reading(status, tuple(ModelList.model_validate_json(answer.content).tiers))
        except httpx2.TimeoutException:
            return f"no answer within {timeout:g} s"
        except httpx2.TransportError as exc:
            return f"cannot connect: {type(exc).__name__}: {exc}"
        except ValidationError:
            return "what answers there is not a Variet engine (check the peer's url)"

    def _refused(self, path: str, answer: httpx2.Response) -> str:
        if answer.status_code == 401:
            return (f"it refused this engine's key (HTTP 401): put its API key in the file named by its "
                    f"api_key_file in [[engine.peers]] (name = {self.name!r})")
        return f"its {path} answered HTTP {answer.status_code}"

    async def load(self, tier: PeerTier) -> LoadAnswer:
        """Ask it to load one of its tiers; raises `PeerUnavailable`."""
        if not self.view.up:
            self.poke.set()
            raise PeerUnavailable(self.down_message())
        try:
            answer = await self.client.post(f"/variet/tiers/{tier.remote}/load")
        except httpx2.HTTPError as exc:
            self.poke.set()
            raise PeerUnavailable(self.down_message(f"{type(exc).__name__}: {exc}")) from exc
        if answer.status_code != 202:
            raise PeerUnavailable(self.down_message(self._refused(f"/variet/tiers/{tier.remote}/load", answer)))
        self.poke.set()
        loaded = LoadAnswer.model_validate_json(answer.content)
        return loaded.model_copy(update={"tier": tier.served})


class Peers:
    """Every configured peer, their watchers, and the views the engine serves from them."""

    def __init__(self, peers: Sequence[Peer], local: TierCatalogue, events: EventBus) -> None:
        self._peers = {peer.name: peer for peer in peers}
        self._local = local
        self._local_names = {*local.tiers, *(alias for tier in local.tiers.values() for alias in tier.aliases)}
        self._events = events
        self._tasks: list[asyncio.Task[None]] = []
        self.table: dict[str, PeerTier] = {}
        """Every name a peer tier answers to here."""
        self._routing: TierCatalogue | None = None

    @property
    def all(self) -> list[Peer]:
        return list(self._peers.values())

    def get(self, name: str) -> Peer:
        return self._peers[name]

    async def start(self) -> None:
        """Start a watcher per peer; returns at once (peers come up as they answer)."""
        for peer in self._peers.values():
            self._tasks.append(asyncio.create_task(self._watch(peer), name=f"variet-peer-{peer.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for peer in self._peers.values():
            await peer.client.aclose()

    async def _watch(self, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            peer.poke.clear()
            self.apply(peer, await peer.read())
            try:  # not `wait_for`, which may swallow `stop`'s cancellation on Python 3.11
                async with asyncio.timeout(retry_delay(peer.view, peer.settings.poll_seconds)):
                    await peer.poke.wait()
            except TimeoutError:
                continue
            # Poked: poll now, but never more often than this (a burst of failed requests is one poll).
            gap = MIN_POLL_SHARE * peer.settings.poll_seconds - (loop.time() - started)
            if gap > 0:
                await asyncio.sleep(gap)

    def apply(self, peer: Peer, outcome: Reading | str) -> None:
        """Fold a poll's outcome (or a relayed request's failure) into `peer`'s view; publish what changed."""
        before = peer.view
        after = observe(before, outcome, time.time())
        peer.view = after
        if _routing_key(after) != _routing_key(before):
            self._routing = None
        if after.tiers != before.tiers:
            self._rebuild()
        now = time.time()
        if after.up and not before.up:
            log.info("peer %s at %s is up with tiers %s", peer.name, peer.url, ", ".join(self._served(peer)))
            self._events.publish(PeerUpEvent(time=now, peer=peer.name, url=peer.url,
                                             loaded=self._served_name(peer, after.loaded), tiers=self._served(peer)))
        elif before.up and not after.up:
            log.warning("peer %s at %s is down: %s", peer.name, peer.url, after.error)
            self._events.publish(PeerDownEvent(time=now, peer=peer.name, url=peer.url, error=after.error or ""))
        elif after.up and after.loaded != before.loaded:
            self._events.publish(PeerLoadedEvent(time=now, peer=peer.name, tier=self._served_name(peer, after.loaded),
                                                 previous=self._served_name(peer, before.loaded)))

    def relayed(self, peer: Peer) -> None:
        """A request is on its way to `peer`."""
        peer.requests += 1

    def failed(self, peer: Peer, error: str) -> None:
        """A relayed request could not reach `peer`: count it down now and poll it again soon."""
        peer.errors += 1
        self.apply(peer, error)
        peer.poke.set()

    def faltered(self, peer: Peer) -> None:
        """A relayed request to `peer` failed on the way (no answer, a timeout, a break-off), though it may well be
        up: count the failure and poll it again soon, which tells."""
        peer.errors += 1
        peer.poke.set()

    def poll_soon(self, peer: Peer) -> None:
        """Read `peer`'s status again soon (it may be back, or have swapped a tier)."""
        peer.poke.set()

    async def load(self, tier: PeerTier) -> LoadAnswer:
        """Ask `tier`'s peer to load it; raises `PeerUnavailable`."""
        return await self._peers[tier.peer].load(tier)

    def _rebuild(self) -> None:
        own = [(peer.name, peer.view.tiers) for peer in self._peers.values()]
        self.table = name_table(self._local_names, own)

    def _served(self, peer: Peer) -> list[str]:
        return [self.table[f"{peer.name}/{entry.id}"].served for entry in peer.view.tiers]

    def _served_name(self, peer: Peer, remote: str | None) -> str | None:
        if remote is None:
            return None
        tier = self.table.get(f"{peer.name}/{remote}")
        return tier.served if tier is not None else f"{peer.name}/{remote}"

    def lookup(self, name: str) -> PeerTier | None:
        """The peer tier a model name means here, if any (local names are looked up first, elsewhere)."""
        return self.table.get(name) if self.table else None

    def addressed_peer(self, name: str) -> Peer | None:
        """The peer a `PEER/...` name addresses, whether or not it has such a tier."""
        prefix, slash, _ = name.partition("/")
        return self._peers.get(prefix) if slash else None

    def names(self, *, of: Peer | None = None) -> list[str]:
        """The names peer tiers are listed under (those of peer `of` only, when given)."""
        return [tier.served for tier in self._tiers() if of is None or tier.peer == of.name]

    def down(self) -> list[str]:
        """The names of the peers that are down."""
        return [peer.name for peer in self._peers.values() if not peer.view.up]

    def loaded_there(self, tier: PeerTier) -> bool:
        """Whether `tier` is loaded on its peer, as last seen."""
        return self._peers[tier.peer].view.loaded == tier.remote

    def _tiers(self) -> list[PeerTier]:
        return [self.table[f"{peer.name}/{entry.id}"] for peer in self._peers.values() for entry in peer.view.tiers]

    def loaded(self) -> set[str]:
        """The served names of the tiers loaded on peers that are up."""
        loaded = {self._served_name(peer, peer.view.loaded) for peer in self._peers.values()}
        return {name for name in loaded if name is not None}

    def infos(self) -> list[PeerInfo]:
        return [
            PeerInfo(name=peer.name, url=peer.url, up=peer.view.up,
                     state=peer.view.status.state if peer.view.up and peer.view.status else None,
                     loaded=self._served_name(peer, peer.view.loaded), tiers=self._served(peer),
                     since=peer.view.since, last_error=peer.view.error, requests=peer.requests, errors=peer.errors)
            for peer in self._peers.values()
        ]

    def tier_states(self) -> dict[str, TierState]:
        """Each peer tier's state as its peer last reported it, marked with its box."""
        states: dict[str, TierState] = {}
        for peer in self._peers.values():
            view = peer.view
            for entry in view.tiers:
                served = self.table[f"{peer.name}/{entry.id}"].served
                reported = view.status.tiers.get(entry.id) if view.status is not None else None
                state = reported or _state_from_entry(entry)
                if not view.up:
                    state = state.model_copy(update={"loaded": False, "queued": 0, "in_flight": 0})
                states[served] = state.model_copy(update={"box": peer.name, "box_up": view.up})
        return states

    def model_entries(self) -> list[ModelEntry]:
        """The `/v1/models` entries of peer tiers: the peer's own, under the names served here."""
        entries = []
        for peer in self._peers.values():
            for entry in peer.view.tiers:
                tier = self.table[f"{peer.name}/{entry.id}"]
                aliases = [name for name, other in self.table.items() if other == tier and name != tier.served]
                entries.append(entry.model_copy(update={
                    "id": tier.served, "aliases": aliases, "loaded": peer.view.loaded == entry.id,
                    "box": peer.name, "box_up": peer.view.up}))
        return entries

    def routing_catalogue(self) -> TierCatalogue:
        """The tiers `auto` chooses from: the local ones and those of peers that are up and whose own model server
        runs (others are routed around). A tier loaded on its peer costs no swap there, so its load time is
        counted as zero."""
        if self._routing is not None:
            return self._routing
        tiers = dict(self._local.tiers)
        for peer in self._peers.values():
            if not _routable_peer(peer.view):
                continue
            for entry in peer.view.tiers:
                tier = _routable(entry, loaded=peer.view.loaded == entry.id)
                if tier is not None:
                    tiers[self.table[f"{peer.name}/{entry.id}"].served] = tier
        catalogue = self._local
        if len(tiers) > len(self._local.tiers):
            try:
                catalogue = TierCatalogue(models_dir=self._local.models_dir, tiers=tiers, source=self._local.source)
            except ValidationError as exc:
                log.warning("cannot route over peer tiers (%s); routing over local tiers only", exc)
        self._routing = catalogue
        return catalogue


def _routable_peer(view: PeerView) -> bool:
    return view.up and view.status is not None and view.status.state != "down"


def _routing_key(view: PeerView) -> tuple[object, ...]:
    """What the routing catalogue depends on."""
    return view.tiers, view.loaded, _routable_peer(view)


def _state_from_entry(entry: ModelEntry) -> TierState:
    facts = entry.tier
    return TierState(
        loaded=entry.loaded, queued=0, in_flight=0,
        expected_tokens_per_second=facts.expected_tokens_per_second if facts else 0.0,
        measured_tokens_per_second=None, expected_load_seconds=facts.expected_load_seconds if facts else 0.0,
        last_swap=None, requests=0, model_file=facts.model_file if facts else "",
        context=facts.context if facts else 0, model_file_present=True,
    )


def _routable(entry: ModelEntry, *, loaded: bool) -> Tier | None:
    """A peer tier as the router's catalogue takes it, or None when its facts do not make a tier."""
    facts = entry.tier
    if facts is None:
        return None
    try:
        return Tier(model=facts.model_file or entry.id, context=facts.context, gpus=tuple(facts.gpus),
                    tokens_per_second=facts.expected_tokens_per_second,
                    load_seconds=0.0 if loaded else facts.expected_load_seconds,
                    strengths=tuple(facts.strengths), description=entry.description)
    except ValidationError:
        return None
