"""The engine's HTTP app: OpenAI and Anthropic APIs relayed to llama-server, plus control and metrics.

Every completion passes through the `TierScheduler`, which holds it until its tier is loaded and keeps
the tier loaded until the response (stream included) is finished. Errors raised here are OpenAI-shaped
and carry `"src": "variet-engine"`, so users can tell them from llama-server's.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from variet.engine.backend import LlamaServer
from variet.engine.errors import backend_down, error_response
from variet.engine.events import EventBus
from variet.engine.metrics import render_metrics
from variet.engine.relay import RELAYED_PATHS, relay
from variet.engine.scheduler import TierScheduler
from variet.shared.config import Settings, TierCatalogue

__all__ = ["Engine", "create_app"]

log = logging.getLogger(__name__)

_EMA = 0.3


@dataclass
class _TierStats:
    requests: int = 0
    errors: int = 0
    tokens_per_second: float | None = None
    tokens: int = 0


@dataclass
class Engine:
    """Everything the app needs at run time: settings, tiers, the backend, the scheduler, counters."""

    settings: Settings
    catalogue: TierCatalogue
    binary: Path
    api_key: str | None = None
    events: EventBus = field(default_factory=EventBus)
    backend: LlamaServer = field(init=False)
    scheduler: TierScheduler = field(init=False)
    stats: dict[str, _TierStats] = field(init=False)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        tiers = list(self.catalogue.tiers)
        self.stats = {tier: _TierStats() for tier in tiers}
        self.backend = LlamaServer(
            self.binary,
            self.catalogue,
            self.settings.engine,
            self.events,
            on_down=lambda: self.scheduler.backend_down(),
            on_up=lambda: self.scheduler.backend_up(),
        )
        self.scheduler = TierScheduler(
            tiers,
            self.backend,
            self.events,
            max_wait=self.settings.engine.max_wait_seconds,
            gather=self.settings.engine.swap_gather_seconds,
            expected_swap_seconds={name: tier.load_seconds for name, tier in self.catalogue.tiers.items()},
        )

    async def start(self) -> None:
        self.scheduler.start()
        await self.backend.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.backend.stop()

    def valid_names(self) -> list[str]:
        names = list(self.catalogue.tiers)
        for tier in self.catalogue.tiers.values():
            names += tier.aliases
        return names

    def record_speed(self, tier: str, timings: dict[str, Any]) -> None:
        speed = timings.get("predicted_per_second")
        count = timings.get("predicted_n")
        if not isinstance(speed, int | float) or not isinstance(count, int) or count < 2:
            return
        stats = self.stats[tier]
        stats.tokens += count
        previous = stats.tokens_per_second
        stats.tokens_per_second = speed if previous is None else (1 - _EMA) * previous + _EMA * speed

    def status(self) -> dict[str, Any]:
        scheduler = self.scheduler
        tiers: dict[str, Any] = {}
        for name, tier in self.catalogue.tiers.items():
            swap = scheduler.stats.last_swap.get(name)
            tiers[name] = {
                "loaded": scheduler.loaded == name,
                "queued": scheduler.queued(name),
                "in_flight": scheduler.in_flight(name),
                "expected_tokens_per_second": tier.tokens_per_second,
                "measured_tokens_per_second": _round(self.stats[name].tokens_per_second),
                "expected_load_seconds": tier.load_seconds,
                "last_swap": None if swap is None else {
                    "at": swap.started, "seconds": round(swap.seconds, 3), "ok": swap.ok, "error": swap.error,
                },
                "requests": self.stats[name].requests,
                "model_file_present": self.catalogue.model_path(name).is_file(),
            }
        swapping = None
        if scheduler.swapping_to is not None and scheduler.swap_started is not None:
            swapping = {
                "tier": scheduler.swapping_to,
                "elapsed_seconds": round(time.monotonic() - scheduler.swap_started, 3),
                "expected_seconds": self.catalogue.tiers[scheduler.swapping_to].load_seconds,
            }
        return {
            "loaded": scheduler.loaded,
            "state": scheduler.state,
            "swapping": swapping,
            "queued": sum(scheduler.queued(name) for name in tiers),
            "in_flight": sum(scheduler.in_flight(name) for name in tiers),
            "swaps": scheduler.stats.swaps,
            "failed_swaps": scheduler.stats.failed_swaps,
            "backend": {
                "url": self.backend.url,
                "up": self.backend.up,
                "restarts": self.backend.restarts,
                "pid": self.backend.pid,
            },
            "tiers": tiers,
            "uptime_seconds": round(time.time() - self.started, 1),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class _ApiKey:
    """Require the engine's API key (Bearer or x-api-key) on everything but /health."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self._app = app
        self._key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            headers = dict(scope["headers"])
            given = headers.get(b"x-api-key") or headers.get(b"authorization", b"").removeprefix(b"Bearer ")
            if not hmac.compare_digest(given, self._key):
                kind = "missing" if not given else "wrong"
                response = error_response(
                    401, f"{kind} API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
                    "authentication_error", "invalid_api_key",
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


Router = Callable[[dict[str, Any], "Engine"], tuple[str, dict[str, Any]]]
"""Picks a tier for `model: "auto"`: returns the tier and a JSON-able explanation."""


def create_app(engine: Engine, *, router: Router | None = None) -> ASGIApp:
    """The engine's ASGI app; its lifespan starts and stops llama-server."""

    async def list_models(request: Request) -> Response:
        data = [
            {
                "id": name,
                "object": "model",
                "owned_by": "variet",
                "created": int(engine.started),
                "aliases": list(tier.aliases),
                "loaded": engine.scheduler.loaded == name,
                "description": tier.description,
                "tier": {
                    "model_file": Path(tier.model).name,
                    "context": tier.context,
                    "gpus": list(tier.gpus),
                    "split": tier.split if len(tier.gpus) > 1 else None,
                    "strengths": list(tier.strengths),
                    "expected_tokens_per_second": tier.tokens_per_second,
                    "expected_load_seconds": tier.load_seconds,
                },
            }
            for name, tier in engine.catalogue.tiers.items()
        ]
        if router is not None:
            data.append({"id": "auto", "object": "model", "owned_by": "variet", "created": int(engine.started),
                         "description": "Variet picks the tier for each request (swap-aware router)."})
        return JSONResponse({"object": "list", "data": data})

    async def status(request: Request) -> Response:
        return JSONResponse(engine.status())

    async def load(request: Request) -> Response:
        tier = request.path_params["tier"]
        if tier not in engine.catalogue.tiers:
            return error_response(
                404, f"unknown tier {tier!r}: use one of {', '.join(engine.catalogue.tiers)}",
                "invalid_request_error", "tier_not_found",
            )
        if engine.scheduler.down:
            return backend_down(engine, "llama-server is down; the engine is restarting it")
        started = engine.scheduler.request_load(tier)
        state = "loaded" if engine.scheduler.loaded == tier and not engine.scheduler.pending_load(tier) else "loading"
        return JSONResponse({"tier": tier, "state": state, "started": started}, status_code=202)

    async def unload(request: Request) -> Response:
        engine.scheduler.request_unload()
        return JSONResponse({"state": "unloading", "tier": engine.scheduler.loaded}, status_code=202)

    async def events(request: Request) -> Response:
        queue = engine.events.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                hello = {"event": "subscribed", "status": engine.status()}
                yield f"event: subscribed\ndata: {json.dumps(hello)}\n\n".encode()
                while True:
                    record = await queue.get()
                    yield f"event: {record['event']}\ndata: {json.dumps(record)}\n\n".encode()
            finally:
                engine.events.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    async def health(request: Request) -> Response:
        if engine.backend.up:
            return JSONResponse({"status": "ok", "loaded": engine.scheduler.loaded})
        return JSONResponse({"status": "backend_down", "backend": engine.backend.url}, status_code=503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(render_metrics(engine), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/variet/status", status, methods=["GET"]),
        Route("/variet/tiers/{tier}/load", load, methods=["POST"]),
        Route("/variet/unload", unload, methods=["POST"]),
        Route("/variet/events", events, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    control = Starlette(routes=routes, lifespan=lifespan)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Completions skip Starlette's routing and middleware: they are the hot path, relayed as plain ASGI.
        if scope["type"] == "http" and scope["path"] in RELAYED_PATHS:
            await relay(engine, router, scope, receive, send)
        else:
            await control(scope, receive, send)

    return _ApiKey(app, engine.api_key) if engine.api_key else app
