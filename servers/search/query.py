"""A validated search request, built from a tool's loose arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass

from variet.servers.search.errors import InvalidSearch

__all__ = ["MAX_RESULTS_LIMIT", "TIME_RANGES", "SearchQuery", "check_max_results"]

TIME_RANGES = ("day", "week", "month", "year")
"""The time ranges SearXNG understands."""

MAX_RESULTS_LIMIT = 100

_LANGUAGE = re.compile(r"^(all|auto|[a-z]{2,3}(-[a-z0-9]{2,4})?)$", re.IGNORECASE)


def check_max_results(value: int) -> int:
    """`value` if it is an allowed result count, else `InvalidSearch`."""
    if not 1 <= value <= MAX_RESULTS_LIMIT:
        raise InvalidSearch(f"max_results must be between 1 and {MAX_RESULTS_LIMIT} (got {value})")
    return value


def _names(value: str | None) -> tuple[str, ...]:
    """`"News, it ,news"` -> `("news", "it")`: trimmed, lower-case, de-duplicated, in order."""
    if not value:
        return ()
    seen: dict[str, None] = {}
    for part in value.split(","):
        name = " ".join(part.split()).lower()
        if name:
            seen.setdefault(name)
    return tuple(seen)


@dataclass(frozen=True)
class SearchQuery:
    """One page of one search; equal queries share a cache entry."""

    text: str
    categories: tuple[str, ...] = ()
    engines: tuple[str, ...] = ()
    language: str = ""
    time_range: str = ""
    safesearch: int | None = None
    page: int = 1

    @classmethod
    def build(
        cls,
        query: str,
        *,
        categories: str | None = None,
        engines: str | None = None,
        language: str | None = None,
        time_range: str | None = None,
        safesearch: int | None = None,
        page: int = 1,
    ) -> SearchQuery:
        """Normalise and check tool arguments; raises `InvalidSearch` saying how to fix a bad one."""
        text = " ".join((query or "").split())
        if not text:
            raise InvalidSearch("query is empty: pass the words to search for")
        if page < 1:
            raise InvalidSearch(f"page must be 1 or more (got {page}); page 1 is the first page of results")
        span = (time_range or "").strip().lower()
        if span in ("any", "all", "none"):
            span = ""
        if span and span not in TIME_RANGES:
            raise InvalidSearch(
                f"unknown time_range {time_range!r}: use one of {', '.join(TIME_RANGES)}, "
                "or leave it empty for any time"
            )
        if safesearch is not None and safesearch not in (0, 1, 2):
            raise InvalidSearch(f"safesearch must be 0 (off), 1 (moderate) or 2 (strict), got {safesearch}")
        lang = (language or "").strip()
        if lang and not _LANGUAGE.match(lang):
            raise InvalidSearch(
                f"unknown language {language!r}: use a code such as `en` or `de-CH`, `all`, or leave it empty"
            )
        if "-" in lang:
            primary, region = lang.split("-", 1)
            lang = f"{primary.lower()}-{region.upper() if len(region) == 2 else region}"
        elif lang:
            lang = lang.lower()
        return cls(
            text=text,
            categories=_names(categories),
            engines=_names(engines),
            language=lang,
            time_range=span,
            safesearch=safesearch,
            page=page,
        )

    def params(self) -> dict[str, str]:
        """Query-string parameters for SearXNG's `/search?format=json`."""
        out = {"q": self.text, "format": "json", "pageno": str(self.page)}
        if self.categories:
            out["categories"] = ",".join(self.categories)
        if self.engines:
            out["engines"] = ",".join(self.engines)
        if self.language:
            out["language"] = self.language
        if self.time_range:
            out["time_range"] = self.time_range
        if self.safesearch is not None:
            out["safesearch"] = str(self.safesearch)
        return out
