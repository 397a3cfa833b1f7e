"""The engine's HTTP app: OpenAI and Anthropic APIs relayed to llama-server, plus control and metrics.

Completions go to the relay (`variet.engine.http.relay`) as plain ASGI; everything else is a Starlette route
answering with the contract's models (`variet.contract`). Every error is the contract's `ErrorBody` with
`"src": "variet-engine"`, unknown paths and wrong methods included.
"""

from __future__ import annotations

import contextlib
import gc
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
from variet.shared.bearer import BearerAuth

__all__ = ["create_app"]

_NOT_FOUND_HINT = ("the engine serves /v1/models, /v1/chat/completions, /v1/completions, /infill, /v1/messages, "
                   "/v1/messages/count_tokens, /variet/status, /variet/tiers/{tier}/load, /variet/unload, "
                   "/variet/events, /variet/openapi.json, /metrics, /health and the dashboard at /ui")
_OPEN_PATHS = frozenset({"/health", *PUBLIC_PATHS})


def _refuse(scope: Scope, given: bool) -> ASGIApp:
    return error_response(401, f"{'wrong' if given else 'missing'} API key: send `Authorization: Bearer <key>` or "
                               f"`x-api-key: <key>`", "authentication_error", "invalid_api_key",
                          family=family_of(scope["path"]))


def _json(model: LoadAnswer | UnloadAnswer | Health, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


class _Control:
    """The control API, the models list, health and metrics: everything but completions, as Starlette routes."""

    def __init__(self, engine: Engine, router: Router | None) -> None:
        self._engine, self._router = engine, router

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/variet/status", self.status, methods=["GET"]),
            Route("/variet/openapi.json", self.openapi, methods=["GET"]),
            Route("/variet/tiers/{tier:path}/load", self.load, methods=["POST"]),  # a peer's tier may be PEER/TIER
            Route("/variet/unload", self.unload, methods=["POST"]),
            Route("/variet/events", self.events, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            *dashboard_routes(key_required=bool(self._engine.api_key)),
        ]

    async def list_models(self, request: Request) -> Response:
        body = self._engine.models(with_auto=self._router is not None).model_dump_json()
        return Response(body, media_type="application/json")

    async def status(self, request: Request) -> Response:
        return Response(self._engine.status().model_dump_json(), media_type="application/json")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self._engine.version))

    async def load(self, request: Request) -> Response:
        try:
            return _json(await self._engine.load(request.path_params["tier"]), 202)
        except (UnknownTier, BackendDown, PeerUnavailable) as exc:
            return failure_response(exc, backend=self._engine.backend)

    async def unload(self, request: Request) -> Response:
        return _json(self._engine.unload(), 202)

    async def events(self, request: Request) -> Response:
        return StreamingResponse(_event_stream(self._engine), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    async def health(self, request: Request) -> Response:
        backend = self._engine.backend
        if backend.up:
            return _json(Health(status="ok", loaded=self._engine.loaded))
        return _json(Health(status="backend_down", backend=backend.url), 503)

    async def metrics(self, request: Request) -> Response:
        return PlainTextResponse(render_metrics(self._engine), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        engine = self._engine
        await engine.start()
        if self._router is not None:  # load its data now, not mid-request
            self._router({"messages": [{"role": "user", "content": "warm up"}]}, engine)
        # A full garbage collection walks every object the imports made (about 10 ms here, and it comes
        # every few hundred requests): that was the engine's p99 time to first token. Objects alive after
        # start-up live as long as the engine, so move them out of the collector's sight.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await engine.stop()


async def _event_stream(engine: Engine) -> AsyncIterator[bytes]:
    """`/variet/events`: `subscribed` with the whole status, then every event as it is published."""
    queue = engine.events.subscribe()
    try:
        hello = SubscribedEvent(time=round(time.time(), 3), status=engine.status())
        yield f"event: subscribed\ndata: {hello.model_dump_json()}\n\n".encode()
        while (event := await queue.get()) is not None:
            yield f"event: {event.event}\ndata: {event.model_dump_json()}\n\n".encode()
    finally:
        engine.events.unsubscribe(queue)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, in the engine's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no such endpoint: {request.url.path}; {_NOT_FOUND_HINT}",
                              "invalid_request_error", "not_found")
    if exc.status_code == 405:
        allowed = exc.headers.get("allow", "") if exc.headers else ""
        return error_response(405, f"{request.url.path} does not take {request.method}; use {allowed}",
                              "invalid_request_error", "method_not_allowed")
    return error_response(exc.status_code, str(exc.detail), "invalid_request_error")


def create_app(engine: Engine, *, router: Router | None = None) -> ASGIApp:
    """The engine's ASGI app; its lifespan starts and stops the engine."""
    handlers = _Control(engine, router)
    control = Starlette(routes=handlers.routes(), lifespan=handlers.lifespan,
                        exception_handlers={HTTPException: _http_error})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Completions skip Starlette's routing and middleware: they are the hot path, relayed as plain ASGI.
        if scope["type"] == "http" and scope["path"] in RELAYED_PATHS:
            await relay(engine, router, scope, receive, send)
        else:
            await control(scope, receive, send)

    if not engine.api_key:
        return app
    # /health and the dashboard's files are open: the page asks for the key itself.
    return BearerAuth(app, engine.api_key, _refuse, open_paths=_OPEN_PATHS, x_api_key=True)
