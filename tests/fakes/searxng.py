"""An in-process SearXNG for what Debian's searx 1.1 cannot show: fault injection only.

searx 1.1 predates SearXNG's `search.formats` switch (403 for a disabled format), its limiter and bot
detection (429), and answers as objects (`Answer`, `Translations`, `WeatherAnswer`). This Starlette app
answers `/search` and `/config` the way current SearXNG does; mount it with `httpx2.ASGITransport`.
Everything else is tested against the real searx (tests/parts/searx.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["FakeSearxng", "RecordedRequest"]

# A few of the patterns SearXNG's `botdetection.http_user_agent` refuses.
_BOT_AGENTS = re.compile(r"curl|wget|python-requests|python-httpx|Go-http-client|Scrapy|HeadlessChrome", re.I)
_FORBIDDEN_PAGE = (
    "<!doctype html>\n<html lang=en>\n<title>403 Forbidden</title>\n<h1>Forbidden</h1>\n"
    "<p>You don&#39;t have the permission to access the requested resource. It is either read-protected "
    "or not readable by the server.</p>\n"
)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def _default_results() -> list[dict[str, Any]]:
    return [
        {
            "url": "https://docs.example.org/searxng",
            "title": "SearXNG documentation",
            "content": "SearXNG is a free internet metasearch engine.",
            "engine": "duckduckgo",
            "engines": ["duckduckgo", "brave"],
            "score": 4.0,
            "category": "general",
            "publishedDate": "2025-03-01T10:00:00",
        },
        {
            "url": "https://example.org/no-date",
            "title": "Second",
            "content": None,
            "engine": "brave",
            "engines": ["brave"],
            "score": 1.5,
            "category": "general",
            "publishedDate": None,
        },
    ]


@dataclass
class FakeSearxng:
    """Answers like SearXNG with the switches below; `requests` records what it received."""

    formats: tuple[str, ...] = ("html", "json")
    """settings.yml `search.formats`: any other `format` gets SearXNG's 403."""
    limiter: bool = False
    """Apply SearXNG's bot-detection header checks to `/search` (a failed check is a 429)."""
    rate_limited: bool = False
    """Answer every `/search` with 429, as when the limiter's per-address budget is spent."""
    status: int | None = None
    """Answer `/search` with this status and `body` instead of results."""
    body: str = ""
    content_type: str = "application/json"
    results: list[dict[str, Any]] = field(default_factory=_default_results)
    answers: list[Any] = field(default_factory=list)
    infoboxes: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)
    unresponsive_engines: list[list[str]] = field(default_factory=list)
    categories: tuple[str, ...] = ("general", "images", "news", "it", "science")
    engines: tuple[str, ...] = ("duckduckgo", "brave", "wikipedia")
    requests: list[RecordedRequest] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/search", self._search, methods=["GET", "POST"]),
                Route("/config", self._config),
            ]
        )

    def _bot_check(self, request: Request) -> str | None:
        headers = request.headers
        if _BOT_AGENTS.search(headers.get("user-agent", "unknown")):
            return "bot user agent"
        if "text/html" not in headers.get("accept", ""):
            return "HTTP header Accept did not contain text/html"
        encoding = headers.get("accept-encoding", "")
        if "gzip" not in encoding and "deflate" not in encoding:
            return "HTTP header Accept-Encoding did not contain gzip nor deflate"
        if not headers.get("accept-language"):
            return "missing HTTP header Accept-Language"
        if headers.get("connection", "").strip() == "close":
            return "HTTP header 'Connection=close"
        return None

    async def _search(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        self.requests.append(RecordedRequest("/search", params, dict(request.headers)))
        output = params.get("format", "html")
        if output not in ("html", "json", "csv", "rss"):
            output = "html"
        if output not in self.formats:
            return HTMLResponse(_FORBIDDEN_PAGE, status_code=403)
        if self.rate_limited or (self.limiter and self._bot_check(request)):
            return PlainTextResponse("Too Many Requests", status_code=429)
        if self.status is not None:
            return Response(self.body, status_code=self.status, media_type=self.content_type)
        if not params.get("q"):
            return JSONResponse({"error": "No query"}, status_code=400)
        return JSONResponse(
            {
                "query": params["q"],
                "number_of_results": 0,
                "results": self.results,
                "answers": self.answers,
                "corrections": self.corrections,
                "infoboxes": self.infoboxes,
                "suggestions": self.suggestions,
                "unresponsive_engines": self.unresponsive_engines,
            }
        )

    async def _config(self, request: Request) -> Response:
        self.requests.append(RecordedRequest("/config", dict(request.query_params), dict(request.headers)))
        engines = [{"name": name, "categories": ["general"], "enabled": True} for name in self.engines]
        return JSONResponse({"categories": list(self.categories), "engines": engines, "instance_name": "fake"})
