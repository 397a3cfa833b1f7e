"""Peers as data: which name means which box's tier, up and down, when to poll again; and the peer set over a
mock transport (events, status views, the routing catalogue, the key kept out of every answer).

The real thing, two engines on loopback, is in test_peers.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import httpx2
import pytest

from variet.contract import (
    BackendInfo,
    EngineEvent,
    EngineStatus,
    ModelEntry,
    PeerDownEvent,
    PeerLoadedEvent,
    PeerUpEvent,
    TierFacts,
    TierState,
)
from variet.engine.events import EventBus
from variet.engine.peers.registry import Peer, Peers
from variet.engine.peers.view import PeerTier, PeerView, Reading, name_table, observe, retry_delay
from variet.shared.config import PeerSettings
from variet.shared.tiers import Tier, TierCatalogue

KEY = "peer-key-never-shown"
_E = TypeVar("_E")


def entry(name: str, *aliases: str, box: str = "local") -> ModelEntry:
    facts = TierFacts(model_file=f"{name}.gguf", context=4096, gpus=[], split=None, strengths=["code", "hard"],
                      expected_tokens_per_second=20, expected_load_seconds=30)
    return ModelEntry(id=name, created=0, aliases=list(aliases), tier=facts, box=box)


def status(loaded: str | None, *tiers: str, uptime: float = 10.0) -> EngineStatus:
    state = TierState(loaded=False, queued=0, in_flight=0, expected_tokens_per_second=20,
                      measured_tokens_per_second=None, expected_load_seconds=30, last_swap=None, requests=0,
                      model_file_present=True)
    return EngineStatus(loaded=loaded, state="ready" if loaded else "idle", swapping=None, queued=0, in_flight=0,
                        swaps=0, failed_swaps=0, backend=BackendInfo(url="http://127.0.0.1:1", up=True, restarts=0,
                                                                     pid=1),
                        tiers={t: state.model_copy(update={"loaded": t == loaded}) for t in tiers},
                        uptime_seconds=uptime)


def test_a_local_name_stays_local_and_the_peer_tier_is_served_as_peer_slash_tier() -> None:
    table = name_table({"fast", "tiny-fast"}, [("box-b", [entry("fast"), entry("coder", "tiny-fast", "gemma")])])
    assert "fast" not in table and "tiny-fast" not in table
    assert table["box-b/fast"] == PeerTier("box-b", "fast", "box-b/fast")
    coder = PeerTier("box-b", "coder", "coder")
    assert table["coder"] == table["gemma"] == table["box-b/coder"] == table["box-b/tiny-fast"] == coder


def test_between_peers_the_first_configured_wins_and_tier_names_beat_aliases() -> None:
    table = name_table(set(), [("b", [entry("coder", "logic")]), ("c", [entry("coder"), entry("logic")])])
    assert table["coder"].peer == "b" and table["c/coder"].served == "c/coder"
    assert table["logic"] == PeerTier("c", "logic", "logic")  # c's tier name beats b's alias


def test_only_a_peers_own_tiers_count_so_engines_that_name_each_other_do_not_loop() -> None:
    view = observe(PeerView(), Reading(status("coder", "coder"), (entry("coder"), entry("a/fast", box="a"))), 1.0)
    assert [e.id for e in view.tiers] == ["coder"]


def test_a_peer_goes_down_keeping_its_tiers_then_comes_back() -> None:
    up = observe(PeerView(), Reading(status("coder", "coder"), (entry("coder"),)), 1.0)
    assert up.up and up.since == 1.0 and up.loaded == "coder"
    down = observe(up, "cannot connect: refused", 2.0)
    assert not down.up and down.error == "cannot connect: refused" and down.since == 2.0 and down.failures == 1
    assert down.tiers == up.tiers and down.loaded is None
    still = observe(down, "cannot connect: refused", 3.0)
    assert still.since == 2.0 and still.failures == 2
    back = observe(still, Reading(status(None, "coder")), 4.0)
    assert back.up and back.since == 4.0 and back.failures == 0 and back.error is None and back.tiers == up.tiers


def test_tiers_are_read_again_after_a_restart_or_when_their_names_change() -> None:
    view = observe(PeerView(), Reading(status(None, "coder"), (entry("coder"),)), 1.0)
    assert not view.needs_tiers(status(None, "coder", uptime=12.0))
    assert view.needs_tiers(status(None, "coder", uptime=3.0))
    assert view.needs_tiers(status(None, "coder", "logic", uptime=12.0))
    assert PeerView().needs_tiers(status(None, "coder"))


def test_an_up_peer_is_polled_every_poll_seconds_and_a_down_one_ever_less_often_up_to_five_times_that() -> None:
    view = observe(PeerView(), Reading(status(None, "coder"), (entry("coder"),)), 1.0)
    assert retry_delay(view, 2.0) == 2.0
    delays = []
    for _ in range(8):
        view = observe(view, "refused", 2.0)
        delays.append(retry_delay(view, 2.0))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


class FakePeer:
    """A peer engine's status and models over `httpx2.MockTransport`; down while `down`; records auth headers."""

    def __init__(self) -> None:
        self.down = False
        self.loaded: str | None = None
        self.auth: list[str | None] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.auth.append(request.headers.get("authorization"))
        if self.down:
            raise httpx2.ConnectError("Connection refused", request=request)
        if request.url.path == "/variet/status":
            return httpx2.Response(200, content=status(self.loaded, "fast", "coder").model_dump_json())
        body = {"object": "list", "data": [json.loads(e.model_dump_json()) for e in (entry("fast"), entry("coder"))]}
        return httpx2.Response(200, json=body)


class Seen:
    """The events the peer set published, in order, and a bounded wait for the next one of a kind."""

    def __init__(self, events: EventBus) -> None:
        self.all: list[EngineEvent] = []
        self._queue = events.subscribe()

    async def next(self, kind: type[_E]) -> _E:
        with anyio.fail_after(5):
            while True:
                event = await self._queue.get()
                self.all.append(event)
                if isinstance(event, kind):
                    return event


@asynccontextmanager
async def peer_set(fake: FakePeer) -> AsyncIterator[tuple[Peers, Peer, Seen]]:
    local = TierCatalogue(tiers={"fast": Tier(model="f.gguf", context=4096, tokens_per_second=75, load_seconds=20,
                                               strengths=("chat", "easy"))})
    events = EventBus()
    seen = Seen(events)
    settings = PeerSettings(name="box-b", url="http://127.0.0.1:9", poll_seconds=0.05, connect_timeout_seconds=1)
    peer = Peer(settings, KEY, transport=httpx2.MockTransport(fake.handle))
    peers = Peers([peer], local, events)
    await peers.start()
    try:
        yield peers, peer, seen
    finally:
        await peers.stop()


@pytest.mark.anyio
async def test_the_peer_set_serves_a_peers_tiers_follows_its_loaded_tier_and_routes_around_it_when_down(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakePeer()
    async with peer_set(fake) as (peers, peer, seen):
        up = await seen.next(PeerUpEvent)
        assert up.tiers == ["box-b/fast", "coder"] and up.loaded is None
        assert peers.names() == ["box-b/fast", "coder"] and peers.lookup("fast") is None
        assert set(peers.routing_catalogue().tiers) == {"fast", "box-b/fast", "coder"}

        fake.loaded = "coder"
        assert (await seen.next(PeerLoadedEvent)).tier == "coder"
        assert peers.loaded() == {"coder"} and peers.routing_catalogue().tiers["coder"].load_seconds == 0
        assert peers.tier_states()["coder"].loaded and peers.tier_states()["coder"].box == "box-b"

        fake.down = True
        assert "refused" in (await seen.next(PeerDownEvent)).error
        assert set(peers.routing_catalogue().tiers) == {"fast"}
        states = peers.tier_states()
        assert not states["coder"].box_up and not states["coder"].loaded
        (info,) = peers.infos()
        assert not info.up and "refused" in (info.last_error or "")

        fake.down = False
        assert (await seen.next(PeerUpEvent)).loaded == "coder"
    assert set(fake.auth) == {f"Bearer {KEY}"}
    shown = [repr(peer), *(e.model_dump_json() for e in seen.all), *(i.model_dump_json() for i in peers.infos()),
             *(s.model_dump_json() for s in peers.tier_states().values()), caplog.text]
    assert not any(KEY in text for text in shown)


@pytest.mark.anyio
async def test_a_peer_that_refuses_the_key_is_down_with_a_message_that_names_the_setting() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, json={"type": "error", "error": {"message": "wrong API key", "type": "x"}})

    settings = PeerSettings(name="box-b", url="http://127.0.0.1:9")
    peer = Peer(settings, "wrong", transport=httpx2.MockTransport(refuse))
    try:
        outcome = await peer.read()
    finally:
        await peer.client.aclose()
    assert isinstance(outcome, str) and "401" in outcome and "api_key_file" in outcome and "box-b" in outcome
