"""The `variet-search` MCP server: `web_search` through SearXNG and `fetch_page` for reading a result.

The tools are thin: they hand their arguments to the query builder and the adapters, and turn
`SearchError`s into `ToolError`s (the only text a model sees) at one boundary, `tool_errors`.
"""

# No `from __future__ import annotations`: tool signatures use values of `settings` in their descriptions,
# so their annotations must be evaluated where they are defined.

from typing import Annotated

import httpx2
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from variet.servers.kit.runner import service_lifespan
from variet.servers.kit.tools import tool_errors
from variet.servers.search.backends import SearchBackends
from variet.servers.search.fetch import DEFAULT_PAGE_CHARS, MAX_PAGE_CHARS, MIN_PAGE_CHARS, Page
from variet.servers.search.query import MAX_RESULTS_LIMIT, SearchQuery, check_max_results
from variet.servers.search.results import SearchResults
from variet.shared.config import Settings

__all__ = ["build", "create_server"]

_INSTRUCTIONS = (
    "Web search through the user's SearXNG instance. Call web_search first; then fetch_page on the most "
    "promising result URLs to read them. Cite the URLs you used."
)


def create_server(settings: Settings, *, http: httpx2.AsyncBaseTransport | None = None) -> MCPServer[SearchBackends]:
    """The search MCP server. `http` replaces the network transport for SearXNG and page fetches (tests)."""
    search = settings.search

    backends = SearchBackends.open(search, http)
    server: MCPServer[SearchBackends] = MCPServer(
        "variet-search", instructions=_INSTRUCTIONS, lifespan=service_lifespan(backends, owned=True))

    @server.tool(
        title="Web search",
        annotations=ToolAnnotations(
            title="Web search", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
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
    ) -> SearchResults:
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
            results = await backends.searxng.search(request)
        return results.limited(max_results)

    @server.tool(
        title="Fetch page",
        annotations=ToolAnnotations(
            title="Fetch page", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def fetch_page(
        url: Annotated[str, Field(description="http or https URL to read, usually one from web_search.")],
        max_chars: Annotated[
            int,
            Field(
                description=f"Most characters of text to return, {MIN_PAGE_CHARS} to {MAX_PAGE_CHARS}. "
                f"Default: {DEFAULT_PAGE_CHARS}."
            ),
        ] = DEFAULT_PAGE_CHARS,
    ) -> Page:
        """Download a web page and return its readable text (HTML converted to text), title and final URL.

        Follows a few redirects. Private and local network addresses are refused unless the user allowed
        them. `truncated` or `download_truncated` tell when the text is incomplete.
        """
        with tool_errors():
            return await backends.fetcher.fetch(url, max_chars=max_chars)

    return server


def build(settings: Settings) -> MCPServer[SearchBackends]:
    """Entry point for `run_server`."""
    return create_server(settings)
