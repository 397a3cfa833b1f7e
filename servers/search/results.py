"""Search results as the tools return them, and the parser from SearXNG's JSON.

The parser accepts both current SearXNG (answers are objects: `Answer`, `Translations`, `WeatherAnswer`)
and older searx (answers are strings; `pubdate` next to a localised `publishedDate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from variet.servers.search.errors import SearxngBadResponse

__all__ = [
    "Answer",
    "Infobox",
    "InfoboxAttribute",
    "InfoboxLink",
    "SearchResult",
    "SearchResults",
    "UnresponsiveEngine",
    "parse_results",
]


class SearchResult(BaseModel):
    """One hit, best first."""

    title: str
    url: str
    snippet: str = ""
    engines: list[str] = Field(default_factory=list)
    """Engines that returned this URL (more engines usually means a stronger hit)."""
    score: float | None = None
    published: str | None = None
    """Publication date as the engine gave it, when it gave one."""
    category: str | None = None


class Answer(BaseModel):
    """A direct answer (calculator, definition, translation, weather...)."""

    text: str
    url: str | None = None
    engine: str | None = None


class InfoboxLink(BaseModel):
    title: str
    url: str


class InfoboxAttribute(BaseModel):
    label: str
    value: str


class Infobox(BaseModel):
    """A summary card about the query's subject (often from Wikipedia or Wikidata)."""

    title: str
    content: str = ""
    url: str | None = None
    links: list[InfoboxLink] = Field(default_factory=list)
    attributes: list[InfoboxAttribute] = Field(default_factory=list)
    engines: list[str] = Field(default_factory=list)


class UnresponsiveEngine(BaseModel):
    """An engine that failed this search and why (timeout, CAPTCHA, suspended, HTTP error...)."""

    engine: str
    reason: str


class SearchResults(BaseModel):
    """One page of results from SearXNG, with everything else it said about the search."""

    query: str
    page: int
    results: list[SearchResult] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)
    infoboxes: list[Infobox] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    """Related searches."""
    corrections: list[str] = Field(default_factory=list)
    """Spelling corrections of the query."""
    unresponsive_engines: list[UnresponsiveEngine] = Field(default_factory=list)
    number_of_results: int | None = None
    """SearXNG's estimate of the total, when an engine reported one."""
    cached: bool = False
    """True when this page needed no request of its own to SearXNG: an identical search made recently (the
    server's cache) or at the same time (one shared request) answered it."""
    note: str | None = None
    """Why results are missing or partial, and what to try."""

    def limited(self, max_results: int) -> SearchResults:
        """A copy keeping the first `max_results` results."""
        if len(self.results) <= max_results:
            return self
        return self.model_copy(update={"results": self.results[:max_results]})


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _strings(values: Any) -> list[str]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes | dict):
        return []
    return [s for s in (_text(v).strip() for v in values) if s]


def _engines(item: dict[str, Any]) -> list[str]:
    names = _strings(item.get("engines"))
    if not names and item.get("engine"):
        names = [_text(item["engine"])]
    return names


def _result(item: Any) -> SearchResult | None:
    if not isinstance(item, dict) or not item.get("url"):
        return None
    url = _text(item["url"])
    score = item.get("score")
    published = item.get("pubdate") or item.get("publishedDate")
    return SearchResult(
        title=" ".join(_text(item.get("title")).split()) or url,
        url=url,
        snippet=_text(item.get("content")).strip(),
        engines=_engines(item),
        score=float(score) if isinstance(score, int | float) else None,
        published=_text(published) or None,
        category=_text(item.get("category")) or None,
    )


def _answer_text(item: dict[str, Any]) -> str:
    if item.get("answer"):
        return _text(item["answer"])
    translations = item.get("translations")
    if isinstance(translations, list):
        return "; ".join(_text(t.get("text")) for t in translations if isinstance(t, dict) and t.get("text"))
    current = item.get("current")
    if isinstance(current, dict) and current.get("summary"):
        return _text(current["summary"])
    return _text(item.get("content") or item.get("title"))


def _answer(item: Any) -> Answer | None:
    if isinstance(item, str):
        return Answer(text=item) if item.strip() else None
    if not isinstance(item, dict):
        return None
    text = _answer_text(item).strip()
    if not text:
        return None
    return Answer(text=text, url=_text(item.get("url")) or None, engine=_text(item.get("engine")) or None)


def _infobox(item: Any) -> Infobox | None:
    if not isinstance(item, dict):
        return None
    title = _text(item.get("infobox") or item.get("title")).strip()
    if not title:
        return None
    links = [
        InfoboxLink(title=_text(link.get("title")) or _text(link["url"]), url=_text(link["url"]))
        for link in item.get("urls") or []
        if isinstance(link, dict) and link.get("url")
    ]
    attributes = [
        InfoboxAttribute(label=_text(attr.get("label")), value=_text(attr["value"]))
        for attr in item.get("attributes") or []
        if isinstance(attr, dict) and attr.get("value") not in (None, "")
    ]
    url = item.get("id")
    return Infobox(
        title=title,
        content=_text(item.get("content")).strip(),
        url=_text(url) if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        links=links,
        attributes=attributes,
        engines=_engines(item),
    )


def _unresponsive(item: Any) -> UnresponsiveEngine | None:
    if isinstance(item, list | tuple) and item:
        return UnresponsiveEngine(engine=_text(item[0]), reason=_text(item[1]) if len(item) > 1 else "no answer")
    if isinstance(item, dict) and (item.get("engine") or item.get("name")):
        reason = item.get("error_type") or item.get("reason") or item.get("error") or "no answer"
        return UnresponsiveEngine(engine=_text(item.get("engine") or item.get("name")), reason=_text(reason))
    return None


def _note(results: SearchResults) -> str | None:
    failed = ", ".join(f"{e.engine} ({e.reason})" for e in results.unresponsive_engines)
    found_anything = results.results or results.answers or results.infoboxes
    if failed and not found_anything:
        return (
            f"No results because every engine that was asked failed: {failed}. SearXNG suspends an engine for a "
            "while after errors, CAPTCHAs or rate limits; try again later, or choose other engines with `engines`."
        )
    if failed:
        return f"Some engines did not answer ({failed}); results may be incomplete."
    if not found_anything:
        hint = " Try one of the suggestions." if results.suggestions or results.corrections else ""
        return f"No results. Try other words, fewer filters, or another category.{hint}"
    return None


def _parsed(values: Any, parse: Any) -> list[Any]:
    if not isinstance(values, list):
        return []
    return [parsed for parsed in map(parse, values) if parsed is not None]


def parse_results(data: Any, *, query: str, page: int) -> SearchResults:
    """Turn a `/search?format=json` body into `SearchResults`; raises `SearxngBadResponse` if it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SearxngBadResponse("SearXNG's answer has no `results` list; is `[search] url` a SearXNG instance?")
    total = data.get("number_of_results")
    results = SearchResults(
        query=_text(data.get("query")) or query,
        page=page,
        results=_parsed(data["results"], _result),
        answers=_parsed(data.get("answers"), _answer),
        infoboxes=_parsed(data.get("infoboxes"), _infobox),
        suggestions=_strings(data.get("suggestions")),
        corrections=_strings(data.get("corrections")),
        unresponsive_engines=_parsed(data.get("unresponsive_engines"), _unresponsive),
        number_of_results=int(total) if isinstance(total, int | float) and total > 0 else None,
    )
    return results.model_copy(update={"note": _note(results)})
