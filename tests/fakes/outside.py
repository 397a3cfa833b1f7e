"""The outside world for exfiltration tests: a recording server on loopback, and the seams that route to it.

`Outside` answers every request and records it (`RecordingStub`): `GET /search?format=json` as a SearXNG
instance with one result per query, `/redirect?to=URL` with a redirect, anything else as a small HTML page
titled with the host it was asked for. `outside_resolver` gives every
name a public address (so the SSRF guard, unchanged, lets it through) and `RoutedTransport` sends whatever
the fetcher connects to, to the recording server instead. Nothing here is patched into our classes: the
search server takes both as its `http=` and `resolver=` seams; `serving_search` runs it so over streamable
HTTP (for a host that connects by URL, like the Discord assistant's `server_urls`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.recording import Recorded, RecordingStub
from tests.parts.searx import LoopbackServer, loopback_socket
from variet.servers.kit.runner import http_app
from variet.servers.search import create_server
from variet.shared.config import Settings

__all__ = ["PUBLIC_ADDRESS", "Outside", "RoutedTransport", "outside_resolver", "serving_outside", "serving_search"]

PUBLIC_ADDRESS = "93.184.216.34"
"""A globally routable address every outside name resolves to (nothing is ever sent there)."""


class Outside(RecordingStub):
    """The recording server; `url` is its loopback base URL once served."""

    def __init__(self) -> None:
        super().__init__()
        self.url = ""

    def hits(self, fragment: str) -> list[Recorded]:
        """Requests whose path or query contains `fragment`."""
        return [r for r in self.requests if fragment in r.path or fragment in r.query]

    async def _handle(self, request: Request) -> Response:
        await self._record(request)
        if request.url.path == "/search" and request.query_params.get("format") == "json":
            query = request.query_params.get("q", "")
            result = {"url": "https://news.example/story?id=7", "title": f"About {query}",
                      "content": f"A story about {query}.", "engine": "stub", "engines": ["stub"], "score": 1.0}
            return JSONResponse({"query": query, "number_of_results": 1, "results": [result], "answers": [],
                                 "infoboxes": [], "suggestions": [], "corrections": [], "unresponsive_engines": []})
        if request.url.path == "/redirect":
            return RedirectResponse(request.query_params["to"], status_code=302)
        host = request.headers.get("host", "")
        return HTMLResponse(f"<html><head><title>{host}</title></head><body><p>Page at {host}"
                            f"{request.url.path}</p></body></html>")

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])


class RoutedTransport(httpx2.AsyncBaseTransport):
    """Sends every request to `target` (scheme, host and port replaced; path, query and headers kept)."""

    def __init__(self, target: str) -> None:
        self._target = httpx2.URL(target)
        # No keep-alive: the transport may be used from another thread's loop, and no pool outlives a request.
        self._inner = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_keepalive_connections=0))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host=self._target.host, port=self._target.port)
        request.extensions = {k: v for k, v in request.extensions.items() if k != "sni_hostname"}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def outside_resolver(host: str, port: int) -> list[str]:
    """Every name is a public host out there."""
    return [PUBLIC_ADDRESS]


@contextmanager
def serving_outside() -> Iterator[Outside]:
    outside = Outside()
    with LoopbackServer(outside.app) as server:
        outside.url = server.url
        yield outside



@contextmanager
def serving_search(outside: Outside, settings: Settings) -> Iterator[str]:
    """`variet-search` over streamable HTTP on a loopback port, its outside routed to `outside`; yields its URL."""
    server = create_server(settings, http=RoutedTransport(outside.url), resolver=outside_resolver)
    sock = loopback_socket()
    port = sock.getsockname()[1]
    app = http_app(server, settings, host="127.0.0.1", port=port, token=None)
    running = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, name=f"search-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        running.should_exit = True
        thread.join(timeout=10)
        sock.close()
