"""Turning loose tool arguments into a `SearchQuery`."""

from __future__ import annotations

import pytest

from variet.servers.search.errors import InvalidSearch
from variet.servers.search.query import SearchQuery


def test_arguments_are_normalised_so_equal_searches_compare_equal() -> None:
    a = SearchQuery.build("  rust   async ", categories="IT, news,it", engines="", language="EN-us", time_range="Week")
    b = SearchQuery.build("rust async", categories="it,news", language="en-US", time_range="week")
    assert a == b
    assert hash(a) == hash(b)
    assert a.params() == {
        "q": "rust async",
        "format": "json",
        "pageno": "1",
        "categories": "it,news",
        "language": "en-US",
        "time_range": "week",
    }


def test_empty_filters_are_left_out_of_the_request() -> None:
    query = SearchQuery.build("x", time_range="any", safesearch=0, page=3)
    assert query.params() == {"q": "x", "format": "json", "pageno": "3", "safesearch": "0"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query is empty"),
        ({"query": "x", "page": -1}, "page must be 1 or more (got -1)"),
        ({"query": "x", "time_range": "decade"}, "unknown time_range 'decade'"),
        ({"query": "x", "safesearch": -1}, "safesearch must be 0 (off), 1 (moderate) or 2 (strict)"),
        ({"query": "x", "language": "en_US"}, "unknown language 'en_US'"),
    ],
)
def test_bad_arguments_raise_invalid_search_saying_what_to_do(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSearch, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchQuery.build(**kwargs)  # type: ignore[arg-type]
