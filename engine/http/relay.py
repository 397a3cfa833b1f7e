"""Completions: check the request, pick the tier, hold it, and relay the request to llama-server, stream included.

This is the engine's hot path, so it is plain ASGI (no Starlette routing or middleware) and talks to
llama-server through `variet.engine.llama.upstream`, over connections from the backend's `connect`. The tier's
slot is taken by the scheduler and released here when the upstream response ends, the client goes away or
the upstream fails. Streams are relayed chunk by chunk as they arrive; the first chunk and the last few are
kept to read llama-server's `timings` (the measured decode and prompt speeds) and, for the prompt cache,
how many tokens the prompt and the answer took (read later, only if the tier's slots are saved).

A client's mistake gets a 4xx in the contract's error shape, whether the engine sees it (`variet.engine.
requests`) or llama-server does; llama-server's own errors are wrapped, keeping its message
(`variet.engine.http.backend_errors`).

A name that is no local tier may be a peer engine's tier (`variet.engine.peers.registry`): such requests, `auto`'s
choices included, go to `variet.engine.peers.relay` and never through the local scheduler.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from variet.engine.core import Engine, Router
from variet.engine.errors import BackendDown, EngineFailure, NoResponse, TierLoadError, UpstreamError
from variet.engine.http.backend_errors import wrap_backend_error
from variet.engine.http.fim import (
    INFILL_PATH,
    OpenAIFromInfill,
    check_infill,
    choose_fim_tier,
    fim_unsupported,
    is_fim,
    to_infill,
)
from variet.engine.http.outcome import RequestOutcome
from variet.engine.http.requests import RequestProblem, check_request, parse_body
from variet.engine.http.responses import Family, error_response, failure_response, family_of
from variet.engine.http.streaming import RelayedStream
from variet.engine.llama.upstream import Upstream, post
from variet.engine.peers.relay import relay_to_peer, unknown_on_peer

__all__ = ["RELAYED_PATHS", "TIER_HEADER", "find_timings", "relay"]

RELAYED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/messages/count_tokens",
                           INFILL_PATH})
"""What the engine passes to llama-server once the request's tier is loaded."""
TIER_HEADER = "x-variet-tier"

log = logging.getLogger(__name__)

_TAIL_CHUNKS = 4
_SEND_ATTEMPTS = 3
_PROXY_ERROR = b"proxy error: "
"""How llama-server's router ends a proxied answer whose model instance went away: a plain-text line, at the start
of a line, in place of the rest of the body (the chunked encoding itself ends cleanly). Inside an SSE data line
a newline is always escaped, so the model's own text cannot look like it."""
_LINE_PROXY_ERROR = b"\n" + _PROXY_ERROR


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
    with contextlib.suppress(ValueError, RecursionError):
        timings = json.loads(line).get("timings")
        if isinstance(timings, dict):
            return timings
    return None


async def relay(engine: Engine, router: Router | None, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one completion request (OpenAI or Anthropic shape) as a plain ASGI app."""
    outcome = RequestOutcome(engine)
    response = await _answer(engine, router, scope, receive, outcome)
    try:
        await response(scope, receive, send)
    finally:
        outcome.end(getattr(response, "status_code", 200))


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None if the client left before sending all of it."""
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _problem(problem: RequestProblem, family: Family) -> ASGIApp:
    return error_response(problem.status, problem.message, "invalid_request_error", problem.code, family=family,
                          param=problem.param)


async def _answer(engine: Engine, router: Router | None, scope: Scope, receive: Receive,
                  outcome: RequestOutcome) -> ASGIApp:
    path: str = scope["path"]
    family = family_of(path)
    if scope["method"] != "POST":
        return error_response(405, f"{path} takes POST, not {scope['method']}",
                              "invalid_request_error", "method_not_allowed", family=family)
    raw = await _read_body(receive)
    if raw is None:
        return Response(status_code=400)  # nobody is left to read it
    payload = parse_body(raw)
    if isinstance(payload, RequestProblem):
        return _problem(payload, family)
    if is_fim(path, payload):
        return await _fill_in_the_middle(engine, scope, path, payload, outcome)
    name = payload.get("model")
    valid = ", ".join([*engine.valid_names(), *(["auto"] if router else [])])
    if not isinstance(name, str) or not name:
        return error_response(400, f"`model` is required: one of {valid}", "invalid_request_error", "model_missing",
                              family=family, param="model")
    headers = {}
    if name == "auto" and router is not None:
        try:
            tier, why = router(payload, engine)
        except (ValueError, RecursionError) as exc:
            return error_response(400, f"cannot route this request: {exc}", "invalid_request_error", "route_failed",
                                  family=family)
        headers["x-variet-route"] = json.dumps(why, separators=(",", ":"))[:1000]
    else:
        resolved = engine.catalogue.resolve(name)
        if resolved is None:
            return await _elsewhere(engine, name, scope, payload, headers, family, valid, outcome)
        tier = resolved
    if tier not in engine.catalogue.tiers:  # `auto` chose a peer's tier
        return await _elsewhere(engine, tier, scope, payload, headers, family, valid, outcome)
    if (problem := check_request(path, payload, engine.catalogue.tiers[tier], tier)) is not None:
        return _problem(problem, family)
    headers[TIER_HEADER] = tier
    if payload["model"] != tier:
        payload["model"] = tier
        raw = json.dumps(payload).encode()  # re-encode only when the model name changed
    return await _hold_and_forward(engine, scope, path, raw, payload, tier, headers, outcome, family)


async def _hold_and_forward(engine: Engine, scope: Scope, target_path: str, raw: bytes, payload: dict[str, Any],
                            tier: str, headers: dict[str, str], outcome: RequestOutcome, family: Family,
                            convert: OpenAIFromInfill | None = None) -> ASGIApp:
    """Wait for the tier's turn, then send the request upstream to `target_path`."""
    outcome.queue(tier)
    try:
        loading = await engine.scheduler.acquire(tier, payload)
    except (TierLoadError, BackendDown) as exc:
        return failure_response(exc, family=family, tier=tier, backend=engine.backend)
    outcome.admitted()
    query = scope.get("query_string", b"").decode("latin-1")
    if loading:  # llama-server holds the request until the tier it is loading is ready
        query += ("&" if query else "") + "autoload=true"
    target = target_path + (f"?{query}" if query else "")
    return await _forward(engine, target, raw, payload, tier, headers, loading, family, convert)


async def _fill_in_the_middle(engine: Engine, scope: Scope, path: str, payload: dict[str, Any],
                              outcome: RequestOutcome) -> ASGIApp:
    """`/infill`, or `/v1/completions` with `suffix`: to the FIM tier (or the one named), as `/infill`."""
    chosen = choose_fim_tier(engine.catalogue, payload.get("model"))
    if isinstance(chosen, RequestProblem):
        return _problem(chosen, "openai")
    tier = chosen
    problem = fim_unsupported(engine.catalogue, tier) or check_request(
        "/v1/completions", {"prompt": "", **{k: v for k, v in payload.items() if k != "prompt"}},
        engine.catalogue.tiers[tier], tier)
    convert = None
    if problem is None and path != INFILL_PATH:
        infill = to_infill(payload)
        if isinstance(infill, RequestProblem):
            problem = infill
        else:
            payload, convert = infill, OpenAIFromInfill(tier)
    if problem is None:
        problem = check_infill(payload)
    if problem is not None:
        return _problem(problem, "openai")
    payload["model"] = tier
    headers = {TIER_HEADER: tier}
    raw = json.dumps(payload).encode()
    return await _hold_and_forward(engine, scope, INFILL_PATH, raw, payload, tier, headers, outcome, "openai",
                                   convert)


async def _elsewhere(engine: Engine, name: str, scope: Scope, payload: dict[str, Any], headers: dict[str, str],
                     family: Family, valid: str, outcome: RequestOutcome) -> ASGIApp:
    """A request whose model is no local tier: a peer's tier, or unknown."""
    peers = engine.peers
    remote = peers.lookup(name)
    if remote is None:
        peer = peers.addressed_peer(name)
        if peer is not None:
            return unknown_on_peer(peers, peer, name, family)
        down = peers.down()
        note = f" (peers down, their tiers not listed: {', '.join(down)})" if down else ""
        return error_response(404, f"unknown model {name!r}: use one of {valid}{note}", "invalid_request_error",
                              "model_not_found", family=family, param="model")
    headers[TIER_HEADER] = remote.served
    outcome.queue_on_peer(remote)
    outcome.admitted()
    query = scope.get("query_string", b"").decode("latin-1")
    target = scope["path"] + (f"?{query}" if query else "")
    return await relay_to_peer(peers, remote, target, payload, headers, family)


def _note_answer(engine: Engine, tier: str, target: str, payload: dict[str, Any], head: bytes, tail: bytes) -> None:
    if engine.prompt_cache is not None and not target.startswith(("/v1/messages/count_tokens", INFILL_PATH)):
        engine.prompt_cache.note_answer(tier, payload, head, tail)


async def _forward(engine: Engine, target: str, body: bytes, payload: dict[str, Any], tier: str,
                   headers: dict[str, str], loading: bool, family: Family,
                   convert: OpenAIFromInfill | None = None) -> ASGIApp:
    """Send the request upstream while holding the tier's slot; release it when the response ends."""
    backend = engine.backend
    try:
        upstream = await _send(engine, target, body, tier)
    except UpstreamError as exc:
        engine.scheduler.release(tier)
        return failure_response(exc, family=family, backend=backend)
    content_type = upstream.headers.get("content-type", "application/json")
    if payload.get("stream") and upstream.status == 200:
        watcher = _StreamWatcher(engine, tier, (target, payload))
        return RelayedStream(upstream, {**headers, "content-type": content_type}, watcher, family=family,
                             chunks=_model_chunks(upstream, tier, convert))
    try:
        body = await upstream.read()
    except UpstreamError as exc:
        return failure_response(exc, family=family, backend=backend)
    finally:
        upstream.close()
        engine.scheduler.release(tier)
    if upstream.status == 200:
        with contextlib.suppress(ValueError, AttributeError, RecursionError):
            timings = json.loads(body).get("timings")
            if isinstance(timings, dict):
                engine.record_speed(tier, timings)
        _note_answer(engine, tier, target, payload, body, body)
        if convert is not None:
            body = convert.body(body)
        return Response(body, status_code=200, media_type=content_type, headers=headers)
    if loading and upstream.status >= 500:
        # llama-server failed the tier's load while holding this request: say so as the engine would.
        record = await engine.scheduler.finished_swap(tier)
        if record is not None and not record.ok:
            return failure_response(TierLoadError(record.error or "the load failed"), family=family, tier=tier)
    return wrap_backend_error(upstream.status, body, tier, engine.catalogue.tiers[tier].context, family, headers)


async def _send(engine: Engine, target: str, body: bytes, tier: str) -> Upstream:
    """POST the request to llama-server; raises `UpstreamError` once it cannot."""
    backend = engine.backend
    upstream_headers = [("content-type", "application/json"), backend.auth_header]
    for attempt in range(_SEND_ATTEMPTS):
        try:
            return await post(backend.connect, target, upstream_headers, body)
        except NoResponse:
            # llama-server's router sometimes closes a connection without answering while it swaps
            # instances; nothing was generated yet, so retrying is safe.
            if attempt + 1 == _SEND_ATTEMPTS:
                raise
            log.info("llama-server dropped a %s request before answering; retrying", tier)
    raise AssertionError("unreachable")


def _proxy_error_at(chunk: bytes) -> int:
    """Where llama-server's `proxy error:` line starts in `chunk`, or -1."""
    if chunk.startswith(_PROXY_ERROR):
        return 0
    at = chunk.find(_LINE_PROXY_ERROR)
    return at + 1 if at >= 0 else -1


async def _model_chunks(upstream: Upstream, tier: str, convert: OpenAIFromInfill | None) -> AsyncIterator[bytes]:
    """llama-server's stream (turned into OpenAI's shape by `convert`, if any), ended with `UpstreamError` where
    its router says the model instance went away."""
    async for chunk in upstream.chunks():
        if (cut := _proxy_error_at(chunk)) >= 0:
            log.warning("tier %s failed mid-stream: %s", tier, chunk[cut:].decode(errors="replace"))
            if cut:
                yield chunk[:cut]
            raise UpstreamError("the model instance went away")
        yield chunk if convert is None else convert.chunk(chunk)
    if convert is not None and (rest := convert.end()):
        yield rest


class _StreamWatcher:
    """A local tier's stream: keeps its first chunk and last few to read `timings` and the token counts, and
    frees the tier at the end."""

    def __init__(self, engine: Engine, tier: str, request: tuple[str, dict[str, Any]]) -> None:
        self._engine, self._tier, self._request = engine, tier, request
        self._first = b""
        self._last: deque[bytes] = deque(maxlen=_TAIL_CHUNKS)  # the final data line may span a few chunks

    def sent(self, chunk: bytes) -> None:
        if not self._first:
            self._first = chunk
        self._last.append(chunk)

    def broke_off(self, exc: UpstreamError) -> EngineFailure:
        """The engine's word for a stream that broke off, naming the RPC workers of a tier that has some."""
        message = "the model backend died mid-stream; retry the request"
        workers = self._engine.catalogue.tiers[self._tier].rpc
        if workers:
            message = (f"tier {self._tier!r} died mid-stream; it runs partly on the RPC worker(s) "
                       f"{', '.join(workers)}: check that they are running and reachable (`variet doctor`), then "
                       f"retry the request")
        return BackendDown(message)

    def ended(self, *, completed: bool) -> None:
        engine, tier = self._engine, self._tier
        engine.scheduler.release(tier)
        tail = b"".join(self._last)
        timings = find_timings(tail)
        if timings:
            engine.record_speed(tier, timings)
        if completed:
            _note_answer(engine, tier, *self._request, self._first, tail)
