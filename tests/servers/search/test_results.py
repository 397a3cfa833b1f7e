"""Parsing SearXNG's JSON: the shapes of current SearXNG and of older searx."""

from __future__ import annotations

import pytest

from variet.servers.search.errors import SearxngBadResponse
from variet.servers.search.results import parse_results


def test_older_searx_shapes_are_understood() -> None:
    data = {
        "query": "q",
        "number_of_results": 0,
        "results": [
            {
                "url": "https://a.example/",
                "title": "  A\n title ",
                "content": "c",
                "engine": "old",
                "publishedDate": "Mar 1, 2025",
                "pubdate": "2025-03-01 10:00:00+0000",
                "score": 2,
            },
            {"title": "no url is skipped"},
        ],
        "answers": ["plain answer"],
        "unresponsive_engines": [["old", "timeout"]],
    }
    results = parse_results(data, query="q", page=1)
    assert [r.model_dump() for r in results.results] == [
        {
            "title": "A title",
            "url": "https://a.example/",
            "snippet": "c",
            "engines": ["old"],
            "score": 2.0,
            "published": "2025-03-01 10:00:00+0000",
            "category": None,
        }
    ]
    assert [a.text for a in results.answers] == ["plain answer"]
    assert results.number_of_results is None
    assert results.note == "Some engines did not answer (old (timeout)); results may be incomplete."


def test_newer_unresponsive_engine_objects_are_understood() -> None:
    data = {"results": [], "unresponsive_engines": [{"engine": "g", "error_type": "CAPTCHA"}], "number_of_results": 7}
    results = parse_results(data, query="q", page=2)
    assert [(e.engine, e.reason) for e in results.unresponsive_engines] == [("g", "CAPTCHA")]
    assert results.page == 2
    assert results.number_of_results == 7


def test_an_empty_page_without_failures_suggests_what_to_try() -> None:
    results = parse_results({"results": [], "corrections": ["rust"]}, query="rsut", page=1)
    assert (
        results.note == "No results. Try other words, fewer filters, or another category. Try one of the suggestions."
    )


@pytest.mark.parametrize("data", [[], {"results": "nope"}, {"error": "x"}, None])
def test_a_body_that_is_not_a_result_page_is_a_bad_response(data: object) -> None:
    with pytest.raises(SearxngBadResponse, match="no `results` list"):
        parse_results(data, query="q", page=1)
