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

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from variet.engine.core import Engine, Router
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
from variet.engine.http.responses import Family, backend_down, error_response, family_of
from variet.engine.llama.upstream import NoResponse, Upstream, UpstreamError, post
from variet.engine.peers.relay import relay_to_peer, unknown_on_peer
from variet.engine.scheduler import BackendDown, TierLoadError

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
    outcome = RequestOutcome()
    response = await _answer(engine, router, scope, receive, outcome)
    try:
        await response(scope, receive, send)
    finally:
        outcome.publish(engine.events, getattr(response, "status_code", 200))


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
    engine.stats[tier].requests += 1
    resident = engine.scheduler.is_resident(tier)
    outcome.queue(tier, loaded=tier if resident and engine.scheduler.is_loaded(tier) else engine.scheduler.loaded,
                  resident=resident)
    try:
        loading = await engine.scheduler.acquire(tier, payload)
    except TierLoadError as exc:
        engine.stats[tier].errors += 1
        return error_response(500, f"could not load tier {tier!r}: {exc}", "server_error", "tier_load_failed",
                              family=family)
    except BackendDown as exc:
        engine.stats[tier].errors += 1
        return backend_down(engine.backend.url, engine.backend.log_file, str(exc), family=family)
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
        down = [peer.name for peer in peers.all if not peer.view.up]
        note = f" (peers down, their tiers not listed: {', '.join(down)})" if down else ""
        return error_response(404, f"unknown model {name!r}: use one of {valid}{note}", "invalid_request_error",
                              "model_not_found", family=family, param="model")
    headers[TIER_HEADER] = remote.served
    # The peer queues it: for `request_done` it waits for a swap if its tier was not loaded there, last we saw.
    loaded_there = peers.get(remote.peer).view.loaded == remote.remote
    outcome.queue(remote.served, loaded=remote.served if loaded_there else None)
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
    streaming = bool(payload.get("stream"))
    upstream_headers = [("content-type", "application/json"), backend.auth_header]
    for attempt in range(_SEND_ATTEMPTS):
        try:
            upstream = await post(backend.connect, target, upstream_headers, body)
            break
        except NoResponse as exc:
            # llama-server's router sometimes closes a connection without answering while it swaps
            # instances; nothing was generated yet, so retrying is safe.
            if attempt + 1 < _SEND_ATTEMPTS:
                log.info("llama-server dropped a %s request before answering; retrying", tier)
                continue
            error: Exception = exc
        except UpstreamError as exc:
            error = exc
        engine.scheduler.release(tier)
        engine.stats[tier].errors += 1
        return backend_down(backend.url, backend.log_file, str(error), family=family)
    content_type = upstream.headers.get("content-type", "application/json")
    if not streaming or upstream.status != 200:
        try:
            body = await upstream.read()
        except UpstreamError as exc:
            engine.stats[tier].errors += 1
            return backend_down(backend.url, backend.log_file, str(exc), family=family)
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
        engine.stats[tier].errors += 1
        if loading and upstream.status >= 500:
            # llama-server failed the tier's load while holding this request: say so as the engine would.
            record = await engine.scheduler.finished_swap(tier)
            if record is not None and not record.ok:
                return error_response(500, f"could not load tier {tier!r}: {record.error}", "server_error",
                                      "tier_load_failed", family=family)
        return wrap_backend_error(upstream.status, body, tier, engine.catalogue.tiers[tier].context, family, headers)
    return _Relayed(engine, tier, upstream, {**headers, "content-type": content_type}, (target, payload), convert)


def _proxy_error_at(chunk: bytes) -> int:
    """Where llama-server's `proxy error:` line starts in `chunk`, or -1."""
    if chunk.startswith(_PROXY_ERROR):
        return 0
    at = chunk.find(_LINE_PROXY_ERROR)
    return at + 1 if at >= 0 else -1


def _died_mid_stream(engine: Engine, tier: str) -> bytes:
    """The engine's `event: error` for a stream that broke off, naming the RPC workers of a tier that has some."""
    message = "the model backend died mid-stream; retry the request"
    workers = engine.catalogue.tiers[tier].rpc
    if workers:
        message = (f"tier {tier!r} died mid-stream; it runs partly on the RPC worker(s) {', '.join(workers)}: check "
                   f"that they are running and reachable (`variet doctor`), then retry the request")
    error = {"type": "error", "error": {"message": message, "type": "backend_unavailable", "code": "backend_down",
                                        "src": "variet-engine"}}
    return f"event: error\ndata: {json.dumps(error)}\n\n".encode()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Relayed:
    """A streamed upstream response as a plain ASGI response: each upstream chunk is sent on as it arrives.

    Lighter than Starlette's `StreamingResponse` (no task group per request), which matters on the hot
    path. A client that goes away is noticed at the next chunk; the upstream is then closed, which stops
    llama-server's generation and frees the tier.
    """

    status_code = 200  # what `request_done` reports; 502 once llama-server breaks the stream off

    def __init__(self, engine: Engine, tier: str, upstream: Upstream, headers: dict[str, str],
                 request: tuple[str, dict[str, Any]], convert: OpenAIFromInfill | None = None) -> None:
        self._engine, self._tier, self._upstream = engine, tier, upstream
        self._convert = convert
        self._headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._request = request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine, tier, upstream = self._engine, self._tier, self._upstream
        gone = asyncio.ensure_future(_until_disconnect(receive))
        last: deque[bytes] = deque(maxlen=_TAIL_CHUNKS)  # the final data line may span a few chunks
        first = b""
        completed = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            try:
                async for chunk in upstream.chunks():
                    if (cut := _proxy_error_at(chunk)) >= 0:
                        log.warning("tier %s failed mid-stream: %s", tier, chunk[cut:].decode(errors="replace"))
                        if cut:
                            await send({"type": "http.response.body", "body": chunk[:cut], "more_body": True})
                        raise UpstreamError("the model instance went away")
                    if self._convert is not None:
                        chunk = self._convert.chunk(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    if not first:
                        first = chunk
                    last.append(chunk)
                    if gone.done():
                        log.info("the client left a %s stream; stopping its generation", tier)
                        return
                if self._convert is not None and (rest := self._convert.end()):
                    await send({"type": "http.response.body", "body": rest, "more_body": True})
                completed = True
            except UpstreamError:
                engine.stats[tier].errors += 1
                self.status_code = 502
                await send({"type": "http.response.body", "more_body": True, "body": _died_mid_stream(engine, tier)})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            upstream.close()
            engine.scheduler.release(tier)
            tail = b"".join(last)
            timings = find_timings(tail)
            if timings:
                engine.record_speed(tier, timings)
            if completed:
                _note_answer(engine, tier, *self._request, first, tail)
