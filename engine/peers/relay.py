"""Completions for a peer's tier: relayed to the peer engine, which schedules them itself.

The relay (`variet.engine.http.relay`) checks the request and resolves its model; when the name means a peer's
tier it hands over here. The body goes to the peer with `model` set to the tier's name there and the
peer's key in the `Authorization` header, over the same small HTTP/1.1 client as llama-server's leg; the
answer comes back as it arrives, streams chunk by chunk. The local scheduler is never involved.

Failures say which peer and what to check. A peer already known to be down answers 503 at once (and is
polled again soon); one that refuses the connection is taken down now; one that breaks off a stream ends
it with the engine's `event: error`. The peer's own error answers keep their status, type and code, with
the peer named in the message; a 401 from the peer means this engine holds the wrong key for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from variet.engine.errors import EngineFailure, NoResponse, PeerUnavailable, UpstreamError
from variet.engine.http.responses import Family, error_response, failure_response
from variet.engine.http.streaming import RelayedStream
from variet.engine.llama.upstream import post
from variet.engine.peers.registry import Peer, Peers
from variet.engine.peers.view import PeerTier

__all__ = ["BOX_HEADER", "peer_down", "relay_to_peer", "unknown_on_peer"]

BOX_HEADER = "x-variet-box"
"""Names the peer that answered, on answers relayed from one."""

log = logging.getLogger(__name__)


def peer_down(peer: Peer, family: Family, detail: str | None = None) -> JSONResponse:
    return failure_response(PeerUnavailable(peer.down_message(detail)), family=family)


def unknown_on_peer(peers: Peers, peer: Peer, name: str, family: Family) -> JSONResponse:
    """The answer for `PEER/NAME` when the peer has no such tier (or is down, so nobody knows)."""
    if not peer.view.tiers:
        peers.poll_soon(peer)
        return peer_down(peer, family)
    listed = ", ".join(peers.names(of=peer))
    return error_response(404, f"peer {peer.name!r} has no tier {name.partition('/')[2]!r}: use one of {listed}",
                          "invalid_request_error", "model_not_found", family=family, param="model")


async def relay_to_peer(peers: Peers, tier: PeerTier, target: str, payload: dict[str, Any], headers: dict[str, str],
                        family: Family) -> ASGIApp:
    """Send one completion request to `tier`'s peer and answer with what it answers."""
    peer = peers.get(tier.peer)
    if not peer.view.up:
        peers.poll_soon(peer)
        return peer_down(peer, family)
    payload["model"] = tier.remote
    body = json.dumps(payload).encode()
    settings = peer.settings
    peers.relayed(peer)
    try:
        async with asyncio.timeout(settings.request_timeout_seconds):
            upstream = await post(peer.connect, target, [("content-type", "application/json"), *peer.auth_headers],
                                  body, connect_timeout=settings.connect_timeout_seconds)
    except NoResponse as exc:
        peers.faltered(peer)
        return peer_down(peer, family, f"it closed the connection without answering: {exc}")
    except UpstreamError as exc:
        peers.failed(peer, str(exc))
        return peer_down(peer, family)
    except TimeoutError:
        peers.faltered(peer)
        return peer_down(peer, family, f"no answer within {settings.request_timeout_seconds:g} s")
    headers = {**headers, BOX_HEADER: peer.name, "content-type": upstream.headers.get("content-type",
                                                                                       "application/json")}
    if payload.get("stream") is True and upstream.status == 200:
        return RelayedStream(upstream, headers, _PeerStreamWatcher(peers, peer, tier), family=family)
    try:
        answer = await upstream.read()
    except UpstreamError as exc:
        peers.faltered(peer)
        return peer_down(peer, family, f"the answer broke off: {exc}")
    finally:
        upstream.close()
        _swapped_there(peers, peer, tier)
    if upstream.status == 200:
        return Response(answer, status_code=200, headers=headers)
    return _peer_error(peer, tier, upstream.status, answer, family, headers)


def _swapped_there(peers: Peers, peer: Peer, tier: PeerTier) -> None:
    """After a request for a tier the peer did not have loaded, read its status now: it has swapped."""
    if not peers.loaded_there(tier):
        peers.poll_soon(peer)


def _peer_error(peer: Peer, tier: PeerTier, status: int, body: bytes, family: Family,
                headers: dict[str, str]) -> JSONResponse:
    """The peer's error answer, kept as the peer gave it but naming the peer."""
    where = f"peer {peer.name!r} (tier {tier.served!r})"
    try:
        error = json.loads(body)["error"]
        message, kind = str(error["message"]), str(error.get("type") or "server_error")
        code, param = error.get("code"), error.get("param")
    except (ValueError, KeyError, TypeError, RecursionError):
        text = body[:300].decode(errors="replace").strip()
        response = error_response(502, f"{where} answered HTTP {status}: {text}", "server_error", "peer_error",
                                  family=family)
    else:
        if status == 401:
            response = error_response(
                502, f"{where} refused this engine's key: put the peer's API key in the file named by its "
                     f"api_key_file in [[engine.peers]] (name = {peer.name!r})", "server_error", "peer_auth",
                family=family)
        else:
            response = error_response(status, f"{where}: {message}", kind, code if isinstance(code, str) else None,
                                      family=family, param=param if isinstance(param, str) else None)
    response.headers.update({k: v for k, v in headers.items() if k != "content-type"})
    return response


class _PeerStreamWatcher:
    """A peer's stream: a break-off counts against the peer, and its status is read again at the end."""

    def __init__(self, peers: Peers, peer: Peer, tier: PeerTier) -> None:
        self._peers, self._peer, self._tier = peers, peer, tier

    def sent(self, chunk: bytes) -> None:
        pass

    def broke_off(self, exc: UpstreamError) -> EngineFailure:
        self._peers.faltered(self._peer)
        return PeerUnavailable(f"peer {self._peer.name!r} broke off the stream of tier {self._tier.served!r} "
                               f"({exc}); retry the request, and if it persists check that engine (`variet doctor`)")

    def ended(self, *, completed: bool) -> None:
        _swapped_there(self._peers, self._peer, self._tier)
