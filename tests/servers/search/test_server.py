"""`variet-search` through an MCP client, against a real searx whose engines are the fixture engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.parts.searx import FixtureEngine
from tests.servers.search.support import error_text, settings, structured
from variet.servers.search import create_server

pytestmark = pytest.mark.anyio


def _urls(data: dict[str, Any]) -> list[str]:
    return [result["url"] for result in data["results"]]


@pytest.mark.searx
async def test_web_search_returns_searx_results_in_both_protocol_modes(
    searx_url: str, engine: FixtureEngine, mode: str
) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url)), mode=mode) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            data = structured(await client.call_tool("web_search", {"query": "rust async"}))

    assert set(tools) == {"web_search", "fetch_page"}
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools.values())
    assert _urls(data) == [FixtureEngine.result_url("search", "rust async", 1, i) for i in range(1, 6)]
    first = data["results"][0]
    assert first["title"] == "rust async result 1 (page 1)"
    assert first["snippet"] == "Snippet 1 about rust async on page 1."
    assert first["engines"] == ["fixture"]
    assert first["score"] > 0
    assert data["suggestions"] == ["rust async tutorial"]
    assert data["unresponsive_engines"] == []
    assert data["note"] is None
    assert data["cached"] is False
    assert engine.requests == [("search", "rust async", 1)]


@pytest.mark.searx
async def test_page_two_asks_the_engines_for_their_second_page(searx_url: str, engine: FixtureEngine) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url))) as client:
            data = structured(await client.call_tool("web_search", {"query": "paging", "page": 2}))

    assert data["page"] == 2
    assert _urls(data) == [FixtureEngine.result_url("search", "paging", 2, i) for i in range(1, 6)]
    assert engine.requests == [("search", "paging", 2)]


@pytest.mark.searx
async def test_max_results_keeps_only_the_best_results(searx_url: str, engine: FixtureEngine) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url, max_results=3))) as client:
            default = structured(await client.call_tool("web_search", {"query": "trim"}))
            two = structured(await client.call_tool("web_search", {"query": "trim", "max_results": 2}))

    assert _urls(default) == [FixtureEngine.result_url("search", "trim", 1, i) for i in range(1, 4)]
    assert _urls(two) == _urls(default)[:2]


@pytest.mark.searx
async def test_a_failing_engine_is_reported_as_unresponsive_and_not_cached(
    searx_url: str, engine: FixtureEngine
) -> None:
    engine.fail_status = 500
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url))) as client:
            data = structured(await client.call_tool("web_search", {"query": "broken"}))
            engine.fail_status = None
            again = structured(await client.call_tool("web_search", {"query": "broken"}))

    assert data["results"] == []
    assert data["unresponsive_engines"] == [{"engine": "fixture", "reason": "HTTP error"}]
    assert "fixture (HTTP error)" in data["note"]
    assert "suspends" in data["note"]
    assert (again["cached"], len(again["results"])) == (False, 5)  # a failed page is not cached


@pytest.mark.searx
async def test_two_identical_searches_reach_the_engine_once(searx_url: str, engine: FixtureEngine) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url))) as client:
            first = structured(await client.call_tool("web_search", {"query": "cache me"}))
            second = structured(await client.call_tool("web_search", {"query": "  cache   me ", "max_results": 2}))
            other_page = structured(await client.call_tool("web_search", {"query": "cache me", "page": 2}))

    assert engine.count("cache me") == 2  # page 1 once, page 2 once
    assert (first["cached"], second["cached"], other_page["cached"]) == (False, True, False)
    assert _urls(second) == _urls(first)[:2]


@pytest.mark.searx
async def test_identical_searches_at_the_same_time_share_one_request(searx_url: str, engine: FixtureEngine) -> None:
    answers: list[dict[str, Any]] = []
    engine.hold()
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url))) as client:

            async def search() -> None:
                answers.append(structured(await client.call_tool("web_search", {"query": "together"})))

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(search)
                await anyio.to_thread.run_sync(engine.wait_for_request)
                await anyio.wait_all_tasks_blocked()  # the other two have asked too
                engine.release()

    assert engine.count("together") == 1
    assert sorted(answer["cached"] for answer in answers) == [False, True, True]
    assert all(_urls(answer) == _urls(answers[0]) for answer in answers)


@pytest.mark.searx
async def test_with_the_cache_off_every_search_reaches_the_engine(searx_url: str, engine: FixtureEngine) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url, cache_ttl_seconds=0))) as client:
            for _ in range(2):
                structured(await client.call_tool("web_search", {"query": "uncached"}))

    assert engine.count("uncached") == 2


@pytest.mark.searx
async def test_categories_and_engines_select_the_instance_engines(searx_url: str, engine: FixtureEngine) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url))) as client:
            news = structured(await client.call_tool("web_search", {"query": "headline", "categories": "News"}))
            named = structured(await client.call_tool("web_search", {"query": "named", "engines": "fixture news"}))

    assert _urls(news)[0] == FixtureEngine.result_url("news", "headline", 1, 1)
    assert _urls(named)[0] == FixtureEngine.result_url("news", "named", 1, 1)
    assert [path for path, _, _ in engine.requests] == ["news", "news"]


@pytest.mark.searx
async def test_an_unknown_category_or_engine_is_refused_naming_what_exists(
    searx_url: str, engine: FixtureEngine
) -> None:
    with anyio.fail_after(20):
        async with Client(create_server(settings(searx_url))) as client:
            category = error_text(await client.call_tool("web_search", {"query": "x", "categories": "videos"}))
            name = error_text(await client.call_tool("web_search", {"query": "x", "engines": "google"}))

    assert "unknown category 'videos'" in category
    assert "general" in category and "news" in category
    assert "unknown engine 'google'" in name
    assert "fixture" in name
    assert engine.count() == 0


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"query": "   "}, "query is empty"),
        ({"query": "x", "page": 0}, "page must be 1 or more"),
        (
            {"query": "x", "time_range": "fortnight"},
            "unknown time_range 'fortnight': use one of day, week, month, year",
        ),
        ({"query": "x", "safesearch": 3}, "safesearch must be 0 (off), 1 (moderate) or 2 (strict)"),
        ({"query": "x", "language": "english please"}, "unknown language"),
        ({"query": "x", "max_results": 0}, "max_results must be between 1 and 100"),
    ],
)
async def test_bad_arguments_are_refused_with_a_fix_before_any_request(
    refused_url: str, arguments: dict[str, Any], expected: str
) -> None:
    with anyio.fail_after(10):
        async with Client(create_server(settings(refused_url))) as client:
            message = error_text(await client.call_tool("web_search", arguments))

    assert expected in message
    assert "cannot connect" not in message


async def test_searx_down_names_the_url_and_says_it_must_run(refused_url: str) -> None:
    with anyio.fail_after(10):
        async with Client(create_server(settings(refused_url))) as client:
            message = error_text(await client.call_tool("web_search", {"query": "anyone there"}))

    assert f"cannot connect to SearXNG at {refused_url}/search" in message
    assert "SearXNG must be running" in message
    assert "VARIET_SEARCH_URL" in message


async def test_a_searx_that_never_answers_times_out_with_advice(silent_url: str) -> None:
    with anyio.fail_after(10):
        async with Client(create_server(settings(silent_url, timeout_seconds=0.3))) as client:
            message = error_text(await client.call_tool("web_search", {"query": "slow"}))

    assert f"SearXNG at {silent_url}/search did not answer within 0.3 s" in message
    assert "timeout_seconds" in message


@pytest.mark.searx
async def test_the_stdio_server_searches_through_searx(searx_url: str, engine: FixtureEngine, tmp_path: Path) -> None:
    config = tmp_path / "variet.toml"
    config.write_text(f'[search]\nurl = "{searx_url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    env["VARIET_CONFIG"] = str(config)
    params = StdioServerParameters(command=sys.executable, args=["-m", "variet.servers.search"], env=env)
    with anyio.fail_after(30):
        async with Client(params, mode="legacy") as client:
            data = structured(await client.call_tool("web_search", {"query": "over stdio"}))

    assert _urls(data)[0] == FixtureEngine.result_url("search", "over stdio", 1, 1)
    assert engine.count("over stdio") == 1
