"""The engine's HTTP app: OpenAI and Anthropic APIs relayed to llama-server, plus control and metrics.

Completions go to the relay (`variet.engine.http.relay`) as plain ASGI; everything else is a Starlette route
answering with the contract's models (`variet.contract`). Every error is the contract's `ErrorBody` with
`"src": "variet-engine"`, unknown paths and wrong methods included.
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from variet.contract import Health, LoadAnswer, SubscribedEvent, UnloadAnswer
from variet.contract.openapi import openapi_document
from variet.engine.core import Engine, Router
from variet.engine.errors import BackendDown, PeerUnavailable, UnknownTier
from variet.engine.http.dashboard import PUBLIC_PATHS, dashboard_routes
from variet.engine.http.metrics import render_metrics
from variet.engine.http.relay import RELAYED_PATHS, relay
from variet.engine.http.responses import error_response, failure_response, family_of

__all__ = ["create_app"]

_NOT_FOUND_HINT = ("the engine serves /v1/models, /v1/chat/completions, /v1/completions, /v1/messages, "
                   "/v1/messages/count_tokens, /variet/status, /variet/tiers/{tier}/load, /variet/unload, "
                   "/variet/events, /variet/openapi.json, /metrics, /health and the dashboard at /ui")
_OPEN_PATHS = frozenset({"/health", *PUBLIC_PATHS})


class _ApiKey:
    """Require the engine's API key (Bearer or x-api-key) on everything but /health and the dashboard's files."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self._app = app
        self._key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in _OPEN_PATHS:
            headers = dict(scope["headers"])
            given = headers.get(b"x-api-key") or headers.get(b"authorization", b"").removeprefix(b"Bearer ")
            if not hmac.compare_digest(given, self._key):
                kind = "missing" if not given else "wrong"
                response = error_response(
                    401, f"{kind} API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
                    "authentication_error", "invalid_api_key", family=family_of(scope["path"]),
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _json(model: LoadAnswer | UnloadAnswer | Health, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def create_app(engine: Engine, *, router: Router | None = None) -> ASGIApp:
    """The engine's ASGI app; its lifespan starts and stops the model backend."""

    async def list_models(request: Request) -> Response:
        body = engine.models(with_auto=router is not None).model_dump_json()
        return Response(body, media_type="application/json")

    async def status(request: Request) -> Response:
        return Response(engine.status().model_dump_json(), media_type="application/json")

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(engine.version))

    async def load(request: Request) -> Response:
        try:
            return _json(await engine.load(request.path_params["tier"]), 202)
        except (UnknownTier, BackendDown, PeerUnavailable) as exc:
            return failure_response(exc, backend=engine.backend)

    async def unload(request: Request) -> Response:
        return _json(engine.unload(), 202)

    async def events(request: Request) -> Response:
        queue = engine.events.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                hello = SubscribedEvent(time=round(time.time(), 3), status=engine.status())
                yield f"event: subscribed\ndata: {hello.model_dump_json()}\n\n".encode()
                while (event := await queue.get()) is not None:
                    yield f"event: {event.event}\ndata: {event.model_dump_json()}\n\n".encode()
            finally:
                engine.events.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    async def health(request: Request) -> Response:
        if engine.backend.up:
            return _json(Health(status="ok", loaded=engine.loaded))
        return _json(Health(status="backend_down", backend=engine.backend.url), 503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(render_metrics(engine), media_type="text/plain; version=0.0.4")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(404, f"no such endpoint: {request.url.path}; {_NOT_FOUND_HINT}",
                                  "invalid_request_error", "not_found")
        if exc.status_code == 405:
            allowed = exc.headers.get("allow", "") if exc.headers else ""
            return error_response(405, f"{request.url.path} does not take {request.method}; use {allowed}",
                                  "invalid_request_error", "method_not_allowed")
        return error_response(exc.status_code, str(exc.detail), "invalid_request_error")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        if router is not None:
            router({"messages": [{"role": "user", "content": "warm up"}]}, engine)  # load its data now, not mid-request
        # A full garbage collection walks every object the imports made (about 10 ms here, and it comes
        # every few hundred requests): that was the engine's p99 time to first token. Objects alive after
        # start-up live as long as the engine, so move them out of the collector's sight.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await engine.stop()

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/variet/status", status, methods=["GET"]),
        Route("/variet/openapi.json", openapi, methods=["GET"]),
        Route("/variet/tiers/{tier:path}/load", load, methods=["POST"]),  # a peer's tier may be PEER/TIER
        Route("/variet/unload", unload, methods=["POST"]),
        Route("/variet/events", events, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *dashboard_routes(key_required=bool(engine.api_key)),
    ]
    control = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Completions skip Starlette's routing and middleware: they are the hot path, relayed as plain ASGI.
        if scope["type"] == "http" and scope["path"] in RELAYED_PATHS:
            await relay(engine, router, scope, receive, send)
        else:
            await control(scope, receive, send)

    return _ApiKey(app, engine.api_key) if engine.api_key else app
