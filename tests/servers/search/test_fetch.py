"""`fetch_page` through an MCP client, against a local page server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.parts.searx import LoopbackServer
from tests.servers.search.support import error_text, settings, structured
from variet.servers.search import create_server

pytestmark = pytest.mark.anyio

ARTICLE = """<!doctype html><html><head><title>Local  article</title><style>body{color:red}</style></head>
<body><nav>Home | About</nav><main><h1>Heading one</h1><p>First paragraph with <b>bold</b> words.</p>
<ul><li>alpha</li><li>beta</li></ul><script>document.write("tracking")</script></main>
<footer>Copyright</footer></body></html>"""


class Pages:
    """The page server's routes; `hits` counts requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/article":
            return HTMLResponse(ARTICLE)
        if path == "/plain":
            return PlainTextResponse("just text\nsecond line")
        if path == "/latin1":
            return Response("<p>caf\xe9 cr\xe8me</p>".encode("latin-1"), media_type="text/html; charset=iso-8859-1")
        if path == "/bogus-charset":
            return Response("d\u00e9j\u00e0 vu".encode(), media_type="text/plain; charset=no-such-codec")
        if path == "/big":
            paragraph = "<p>" + "word " * 200 + "</p>\n"
            return HTMLResponse("<html><body>" + paragraph * 300 + "</body></html>")
        if path == "/redirect":
            return RedirectResponse(request.query_params["to"], status_code=302)
        if path == "/loop":
            return RedirectResponse("/loop", status_code=301)
        if path == "/pdf":
            return Response(b"%PDF-1.7 binary", media_type="application/pdf")
        return PlainTextResponse("not here", status_code=404)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle)])


@pytest.fixture(scope="module")
def _page_server() -> Iterator[tuple[LoopbackServer, Pages]]:
    pages = Pages()
    with LoopbackServer(pages.app()) as server:
        yield server, pages


@pytest.fixture
def pages(_page_server: tuple[LoopbackServer, Pages]) -> Pages:
    _page_server[1].hits.clear()
    return _page_server[1]


@pytest.fixture
def site(_page_server: tuple[LoopbackServer, Pages], pages: Pages) -> str:
    """Base URL of the page server (127.0.0.1)."""
    return _page_server[0].url


@asynccontextmanager
async def connected(mode: str = "auto", **search: Any) -> AsyncIterator[Client]:
    server = create_server(settings("http://127.0.0.1:9", **search))
    with anyio.fail_after(10):
        async with Client(server, mode=mode) as client:
            yield client


async def test_a_local_page_becomes_readable_text_when_loopback_is_allowed(site: str, mode: str) -> None:
    async with connected(mode, allow_private_fetch=True) as client:
        page = structured(await client.call_tool("fetch_page", {"url": f"{site}/article#top"}))

    assert page["title"] == "Local article"
    assert page["text"] == "# Heading one\n\nFirst paragraph with bold words.\n\n- alpha\n- beta"
    assert page["final_url"] == f"{site}/article"
    assert page["content_type"] == "text/html"
    assert (page["status"], page["truncated"], page["download_truncated"], page["note"]) == (200, False, False, None)


async def test_plain_text_and_declared_charsets_are_decoded(site: str) -> None:
    async with connected(allow_private_fetch=True) as client:
        plain = structured(await client.call_tool("fetch_page", {"url": f"{site}/plain"}))
        latin = structured(await client.call_tool("fetch_page", {"url": f"{site}/latin1"}))
        bogus = structured(await client.call_tool("fetch_page", {"url": f"{site}/bogus-charset"}))

    assert (plain["text"], plain["content_type"], plain["title"]) == ("just text\nsecond line", "text/plain", None)
    assert latin["text"] == "café crème"
    assert bogus["text"] == "déjà vu"


@pytest.mark.parametrize(
    "url",
    [
        "{site}/article",
        "http://localhost:{port}/article",
        "http://[::1]:{port}/article",
        "http://[::ffff:127.0.0.1]:{port}/article",
        "http://10.20.30.40/internal",
        "http://192.168.1.1/router",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:{port}/article",
    ],
)
async def test_loopback_private_and_link_local_addresses_are_refused_by_default(
    site: str, pages: Pages, url: str
) -> None:
    target = url.format(site=site, port=site.rsplit(":", 1)[1])
    async with connected() as client:
        message = error_text(await client.call_tool("fetch_page", {"url": target}))

    assert "refusing to fetch from" in message
    assert "private, loopback and link-local addresses are blocked" in message
    assert "allow_private_fetch" in message
    assert pages.hits == {}


async def test_a_redirect_to_a_private_address_is_refused_at_that_hop(site: str, pages: Pages) -> None:
    async with connected(fetch_allowed_networks=("127.0.0.1",)) as client:
        message = error_text(
            await client.call_tool("fetch_page", {"url": f"{site}/redirect?to=http://10.0.0.7/secret"})
        )

    assert "refusing to fetch from 10.0.0.7" in message
    assert pages.hits == {"/redirect": 1}


async def test_an_allowed_address_is_fetched_and_its_redirects_followed(site: str, pages: Pages) -> None:
    async with connected(fetch_allowed_networks=("127.0.0.0/8",)) as client:
        page = structured(await client.call_tool("fetch_page", {"url": f"{site}/redirect?to=/plain"}))

    assert page["final_url"] == f"{site}/plain"
    assert page["url"] == f"{site}/redirect?to=/plain"
    assert pages.hits == {"/redirect": 1, "/plain": 1}


async def test_redirects_stop_after_the_configured_number(site: str, pages: Pages) -> None:
    async with connected(allow_private_fetch=True, fetch_max_redirects=3) as client:
        message = error_text(await client.call_tool("fetch_page", {"url": f"{site}/loop"}))

    assert "redirected more than 3 times" in message
    assert pages.hits == {"/loop": 4}


async def test_an_oversized_page_is_cut_at_the_byte_limit_and_says_so(site: str) -> None:
    async with connected(allow_private_fetch=True, fetch_max_bytes=10_000) as client:
        page = structured(await client.call_tool("fetch_page", {"url": f"{site}/big", "max_chars": 200_000}))

    assert page["download_truncated"] is True
    assert page["bytes_read"] == 10_000
    assert page["text"].startswith("word word")
    assert "10000-byte limit" in page["note"]


async def test_max_chars_cuts_the_text_and_reports_the_full_length(site: str) -> None:
    async with connected(allow_private_fetch=True) as client:
        page = structured(await client.call_tool("fetch_page", {"url": f"{site}/big", "max_chars": 100}))

    assert len(page["text"]) == 100
    assert page["truncated"] is True
    assert page["total_chars"] > 100_000
    assert "larger max_chars" in page["note"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/pdf", "is application/pdf, not a web page or text"),
        ("/missing", "answered HTTP 404 Not Found"),
    ],
)
async def test_pages_that_are_not_readable_text_are_refused(site: str, path: str, expected: str) -> None:
    async with connected(allow_private_fetch=True) as client:
        message = error_text(await client.call_tool("fetch_page", {"url": f"{site}{path}"}))

    assert expected in message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"url": "ftp://example.org/file"}, "only http and https URLs can be fetched"),
        ({"url": "not a url"}, "only http and https URLs can be fetched"),
        ({"url": "https://example.org/", "max_chars": 5}, "max_chars must be between 100 and 200000"),
    ],
)
async def test_bad_arguments_are_refused_before_any_connection(arguments: dict[str, Any], expected: str) -> None:
    async with connected() as client:
        message = error_text(await client.call_tool("fetch_page", arguments))

    assert expected in message


async def test_a_page_that_never_answers_times_out(silent_url: str) -> None:
    async with connected(allow_private_fetch=True, fetch_timeout_seconds=0.3) as client:
        message = error_text(await client.call_tool("fetch_page", {"url": f"{silent_url}/slow"}))

    assert "did not finish loading within 0.3 s" in message
