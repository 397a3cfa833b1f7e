"""What only current SearXNG does (disabled formats, the limiter, answers as objects), via the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client

from tests.fakes.searxng import FakeSearxng
from tests.servers.search.support import error_text, settings, structured
from variet.servers.search import create_server
from variet.servers.search.searxng import FORMAT_DISABLED

pytestmark = pytest.mark.anyio

FAKE_URL = "http://searxng.test"


@asynccontextmanager
async def connected(fake: FakeSearxng, mode: str = "auto") -> AsyncIterator[Client]:
    server = create_server(settings(FAKE_URL), http=httpx2.ASGITransport(app=fake.app))
    with anyio.fail_after(10):
        async with Client(server, mode=mode) as client:
            yield client


async def test_json_disabled_on_the_instance_says_to_add_it_to_search_formats(mode: str) -> None:
    fake = FakeSearxng(formats=("html",))
    async with connected(fake, mode) as client:
        message = error_text(await client.call_tool("web_search", {"query": "anything"}))

    assert message.startswith(f"Error executing tool web_search: {FORMAT_DISABLED}")
    assert "add `json` to `search.formats` in settings.yml" in message


async def test_the_limiter_refusal_says_so_and_points_at_its_settings() -> None:
    fake = FakeSearxng(rate_limited=True)
    async with connected(fake) as client:
        message = error_text(await client.call_tool("web_search", {"query": "too often"}))

    assert "HTTP 429 Too Many Requests" in message
    assert "limiter" in message and "bot detection" in message
    assert "server.limiter: false" in message


async def test_searches_pass_searxng_bot_detection() -> None:
    fake = FakeSearxng(limiter=True)
    async with connected(fake) as client:
        data = structured(await client.call_tool("web_search", {"query": "polite", "language": "de-ch"}))

    assert len(data["results"]) == 2
    sent = fake.requests[-1]
    assert sent.params == {"q": "polite", "format": "json", "pageno": "1", "language": "de-CH"}
    assert sent.headers["accept-language"] == "de-CH"


async def test_answers_as_objects_and_as_strings_both_become_text() -> None:
    fake = FakeSearxng(
        answers=[
            {
                "answer": "42",
                "url": "https://calc.example.org",
                "engine": "calculator",
                "template": "answer/legacy.html",
            },
            {"translations": [{"text": "Hallo"}, {"text": "Servus"}], "engine": "lingva"},
            {"current": {"summary": "Berlin: 21 °C, clear sky"}, "engine": "wttr.in"},
            "a plain string answer from older searx",
            {"template": "answer/legacy.html"},
        ]
    )
    async with connected(fake) as client:
        data = structured(await client.call_tool("web_search", {"query": "answer me"}))

    assert data["answers"] == [
        {"text": "42", "url": "https://calc.example.org", "engine": "calculator"},
        {"text": "Hallo; Servus", "url": None, "engine": "lingva"},
        {"text": "Berlin: 21 °C, clear sky", "url": None, "engine": "wttr.in"},
        {"text": "a plain string answer from older searx", "url": None, "engine": None},
    ]


async def test_infoboxes_corrections_and_dates_are_passed_on() -> None:
    fake = FakeSearxng(
        infoboxes=[
            {
                "infobox": "SearXNG",
                "id": "https://en.wikipedia.org/wiki/SearXNG",
                "content": "A metasearch engine.",
                "urls": [{"title": "Website", "url": "https://searxng.org"}],
                "attributes": [{"label": "License", "value": "AGPL-3.0"}, {"label": "Logo", "image": {"src": "x"}}],
                "engine": "wikidata",
            }
        ],
        corrections=["searxng"],
        suggestions=["searxng docker"],
    )
    async with connected(fake) as client:
        data = structured(await client.call_tool("web_search", {"query": "searxgn"}))

    assert data["infoboxes"] == [
        {
            "title": "SearXNG",
            "content": "A metasearch engine.",
            "url": "https://en.wikipedia.org/wiki/SearXNG",
            "links": [{"title": "Website", "url": "https://searxng.org"}],
            "attributes": [{"label": "License", "value": "AGPL-3.0"}],
            "engines": ["wikidata"],
        }
    ]
    assert data["corrections"] == ["searxng"]
    assert data["suggestions"] == ["searxng docker"]
    assert [r["published"] for r in data["results"]] == ["2025-03-01T10:00:00", None]
    assert data["results"][0]["engines"] == ["duckduckgo", "brave"]
    assert data["results"][1]["snippet"] == ""


async def test_no_results_with_suspended_engines_is_explained() -> None:
    fake = FakeSearxng(
        results=[], unresponsive_engines=[["google", "Suspended: CAPTCHA"], ["brave", "Suspended: too many requests"]]
    )
    async with connected(fake) as client:
        data = structured(await client.call_tool("web_search", {"query": "nothing"}))

    assert data["results"] == []
    assert data["unresponsive_engines"] == [
        {"engine": "google", "reason": "Suspended: CAPTCHA"},
        {"engine": "brave", "reason": "Suspended: too many requests"},
    ]
    assert data["note"].startswith("No results because every engine that was asked failed: google (Suspended: CAPTCHA)")


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (502, "<html>Bad gateway</html>", "text/html", "answered HTTP 502; check its logs"),
        (500, '{"error": "search error"}', "application/json", "answered HTTP 500: search error"),
        (400, '{"error": "invalid language"}', "application/json", "SearXNG rejected the search as invalid"),
        (200, "<html>login</html>", "text/html", "did not return JSON (text/html"),
        (200, '{"unexpected": true}', "application/json", "has no `results` list"),
    ],
)
async def test_other_failures_name_the_status_and_what_to_check(
    status: int, body: str, content_type: str, expected: str
) -> None:
    fake = FakeSearxng(status=status, body=body, content_type=content_type)
    async with connected(fake) as client:
        message = error_text(await client.call_tool("web_search", {"query": "fail"}))

    assert expected in message


async def test_categories_are_checked_against_the_instance_config_once() -> None:
    fake = FakeSearxng()
    async with connected(fake) as client:
        structured(await client.call_tool("web_search", {"query": "a", "categories": "it"}))
        structured(await client.call_tool("web_search", {"query": "b", "categories": "science, it"}))
        message = error_text(await client.call_tool("web_search", {"query": "c", "categories": "maps"}))

    assert "unknown category 'maps': this instance has general, images, news, it, science" in message
    assert [r.path for r in fake.requests] == ["/config", "/search", "/search"]
    assert fake.requests[2].params["categories"] == "science,it"
