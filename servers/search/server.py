"""The `variet-search` MCP server: `web_search` through SearXNG and `fetch_page` for reading a result.

The tools are thin: they hand their arguments to the query builder and the adapters, and turn
`SearchError`s into `ToolError`s (the only text a model sees) at one boundary, `tool_errors`. Both tools'
results are marked untrusted for hosts (`variet/untrusted`), and both declare what they send out
(`variet/outbound`); `fetch_page` applies `[search] outbound` to URLs that carry data (`outbound.py`).
"""

# No `from __future__ import annotations`: tool signatures use values of `settings` in their descriptions,
# so their annotations must be evaluated where they are defined.

from typing import Annotated, Any

import httpx2
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from variet.servers.kit.confirm import Confirmation, can_elicit
from variet.servers.kit.runner import service_lifespan
from variet.servers.kit.tools import tool_errors
from variet.servers.kit.untrusted import Outbound, host_approved, untrusted_result
from variet.servers.search.backends import SearchBackends
from variet.servers.search.errors import FetchHeld
from variet.servers.search.fetch import DEFAULT_PAGE_CHARS, MAX_PAGE_CHARS, MIN_PAGE_CHARS, Page
from variet.servers.search.guard import Resolver
from variet.servers.search.outbound import carried_data
from variet.servers.search.query import MAX_RESULTS_LIMIT, SearchQuery, check_max_results
from variet.servers.search.results import SearchResults
from variet.shared.config import Settings

__all__ = ["build", "create_server"]

_INSTRUCTIONS = (
    "Web search through the user's SearXNG instance. Call web_search first; then fetch_page on the most "
    "promising result URLs to read them. Cite the URLs you used."
)


class FetchClearance(BaseModel):
    """The outbound check's verdict when nobody was asked: go ahead, or the reason it may not."""

    refusal: str | None = None


def create_server(settings: Settings, *, http: httpx2.AsyncBaseTransport | None = None,
                  resolver: Resolver | None = None) -> MCPServer[SearchBackends]:
    """The search MCP server. `http` replaces the network transport for SearXNG and page fetches, `resolver`
    the DNS lookup of page hosts (tests)."""
    search = settings.search

    backends = SearchBackends.open(search, http, resolver)
    server: MCPServer[SearchBackends] = MCPServer(
        "variet-search", instructions=_INSTRUCTIONS, lifespan=service_lifespan(backends, owned=True))

    @server.tool(
        title="Web search",
        annotations=ToolAnnotations(
            title="Web search", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
        meta=Outbound(carries=("query",)).meta(),
    )
    async def web_search(
        query: Annotated[str, Field(description="What to search for, in plain words. Required, not empty.")],
        categories: Annotated[
            str,
            Field(
                description="Comma-separated SearXNG categories, e.g. `general`, `news`, `it,science`. "
                "Default: empty (the instance's default categories)."
            ),
        ] = "",
        engines: Annotated[
            str,
            Field(
                description="Comma-separated engine names to use only, e.g. `duckduckgo,wikipedia`. "
                "Default: empty (the instance's enabled engines)."
            ),
        ] = "",
        language: Annotated[
            str, Field(description="Result language code such as `en` or `de-CH`, or `all`. Default: empty.")
        ] = "",
        time_range: Annotated[
            str,
            Field(description="Only results from the last `day`, `week`, `month` or `year`. Default: empty (any)."),
        ] = "",
        safesearch: Annotated[
            int | None,
            Field(description="0 off, 1 moderate, 2 strict. Default: null (the instance's setting)."),
        ] = None,
        page: Annotated[int, Field(description="Result page, 1 or more. Default: 1.")] = 1,
        max_results: Annotated[
            int,
            Field(description=f"Most results to return, 1 to {MAX_RESULTS_LIMIT}. Default: {search.max_results}."),
        ] = search.max_results,
    ) -> Annotated[CallToolResult, SearchResults]:
        """Search the web with SearXNG and return ranked results (title, url, snippet, engines, date).

        Also returns direct answers, infoboxes, suggested and corrected queries, and engines that failed.
        When `results` is empty, `note` says why. Repeating an identical search soon is answered from a cache.
        Read a promising result with fetch_page.
        """
        with tool_errors():
            check_max_results(max_results)
            request = SearchQuery.build(
                query,
                categories=categories,
                engines=engines,
                language=language,
                time_range=time_range,
                safesearch=safesearch,
                page=page,
            )
            results = (await backends.searxng.search(request)).limited(max_results)
        return untrusted_result(results, source="web search", private=False, links=[r.url for r in results.results])

    async def check_fetch(url: str, ctx: Context[Any, Any]) -> Elicit[Confirmation] | FetchClearance:
        carried = carried_data(url)
        if carried is None or search.outbound == "allow" or host_approved(ctx):
            return FetchClearance()
        why = (f"its query string carries {carried}, the way an injected instruction smuggles private data "
               "out")
        if search.outbound == "block":
            return FetchClearance(refusal=f"Not fetched: {why} ([search] outbound = \"block\"). If the user "
                                          "wrote this URL, they can open it in a browser.")
        if can_elicit(ctx):
            return Elicit(f"Open {url}? {why[0].upper()}{why[1:]}; approve only if you wrote or expected this "
                          "address.", Confirmation)
        return FetchClearance(refusal=f"Not fetched: {why}, and this host cannot ask the user. Show the user "
                                      "the exact URL; if they wrote it, they can open it in a browser, or allow "
                                      "such URLs with [search] outbound = \"allow\".")

    @server.tool(
        title="Fetch page",
        annotations=ToolAnnotations(
            title="Fetch page", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
        meta=Outbound(url="url").meta(),
    )
    async def fetch_page(
        url: Annotated[str, Field(description="http or https URL to read, usually one from web_search.")],
        clearance: Annotated[ElicitationResult[Confirmation], Resolve(check_fetch)],
        max_chars: Annotated[
            int,
            Field(
                description=f"Most characters of text to return, {MIN_PAGE_CHARS} to {MAX_PAGE_CHARS}. "
                f"Default: {DEFAULT_PAGE_CHARS}."
            ),
        ] = DEFAULT_PAGE_CHARS,
    ) -> Annotated[CallToolResult, Page]:
        """Download a web page and return its readable text (HTML converted to text), title and final URL.

        Follows a few redirects; `note` says when they end on another host. Private and local network
        addresses are refused unless the user allowed them. A URL whose query string carries long opaque
        data needs the user's approval. `truncated` or `download_truncated` tell when the text is incomplete.
        """
        with tool_errors():
            _require_clearance(clearance, url)
            page = await backends.fetcher.fetch(url, max_chars=max_chars)
        return untrusted_result(page, source="web page", private=False)

    return server


def _require_clearance(outcome: ElicitationResult[Confirmation], url: str) -> None:
    """Return when the fetch may go ahead; raise `FetchHeld` with the reason otherwise."""
    data = getattr(outcome, "data", None)
    if isinstance(data, FetchClearance):
        if data.refusal is not None:
            raise FetchHeld(data.refusal)
        return
    if isinstance(data, Confirmation) and data.confirm:
        return
    answer = "declined" if outcome.action == "decline" else "did not approve"
    raise FetchHeld(f"Not fetched: the user {answer} opening {url}.")


def build(settings: Settings) -> MCPServer[SearchBackends]:
    """Entry point for `run_server`."""
    return create_server(settings)
