"""The SearXNG adapter: one instance's JSON API behind a result cache. No MCP here.

Works with current SearXNG and with the older searx it forked from (same `/search?format=json` and
`/config`). Requests carry the headers SearXNG's bot detection expects from a well-behaved client
(`Accept` including `text/html`, `Accept-Language`, `Accept-Encoding`), so an instance with the limiter
on does not mistake us for a scraper.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx2

from variet.servers.search.cache import TTLCache
from variet.servers.search.errors import (
    InvalidSearch,
    SearxngBadResponse,
    SearxngError,
    SearxngFormatDisabled,
    SearxngRateLimited,
    SearxngUnreachable,
)
from variet.servers.search.query import SearchQuery
from variet.servers.search.results import SearchResults, parse_results
from variet.shared.http import LazyAsyncClient

__all__ = ["FORMAT_DISABLED", "InstanceConfig", "SearxngClient"]

log = logging.getLogger("variet.search")

FORMAT_DISABLED = "JSON output is disabled on this SearXNG instance: add `json` to `search.formats` in settings.yml"
USER_AGENT = "variet-search/0.1"


@dataclass(frozen=True)
class InstanceConfig:
    """What `/config` says the instance offers."""

    categories: tuple[str, ...]
    engines: tuple[str, ...]
    enabled_engines: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Any) -> InstanceConfig | None:
        if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
            return None
        engines = [e for e in data.get("engines") or [] if isinstance(e, dict) and e.get("name")]
        return cls(
            categories=tuple(str(c).lower() for c in data["categories"]),
            engines=tuple(str(e["name"]).lower() for e in engines),
            enabled_engines=tuple(str(e["name"]).lower() for e in engines if e.get("enabled", True)),
        )

    def check(self, query: SearchQuery) -> None:
        """Raise `InvalidSearch` naming what exists when the query asks for an unknown category or engine."""
        unknown = [c for c in query.categories if c not in self.categories]
        if unknown:
            raise InvalidSearch(
                f"unknown category {', '.join(map(repr, unknown))}: this instance has {', '.join(self.categories)}"
            )
        unknown = [e for e in query.engines if e not in self.engines]
        if unknown:
            shown = ", ".join(self.enabled_engines[:40]) + (" ..." if len(self.enabled_engines) > 40 else "")
            raise InvalidSearch(
                f"unknown engine {', '.join(map(repr, unknown))}: engines enabled on this instance: {shown}"
            )


class SearxngClient:
    """Searches one SearXNG instance; identical searches within the cache TTL do not reach it.

    Pages on which an engine failed are not cached, so a transient failure is not repeated from memory.

    `search` either returns a page of results or raises a `SearchError` subclass whose message says what
    to do. Safe for concurrent tasks on one event loop. With the cache on, identical searches made at the
    same time share one request to SearXNG (and its answer or error).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        cache: TTLCache[SearchQuery, SearchResults] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._timeout = timeout
        self._cache: TTLCache[SearchQuery, SearchResults] = cache if cache is not None else TTLCache(ttl=0, size=0)
        self._config: TTLCache[str, InstanceConfig] = TTLCache(ttl=300.0, size=1)
        self._pending: dict[SearchQuery, asyncio.Task[SearchResults]] = {}
        self._owns_transport = transport is None
        self._lazy = LazyAsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json, text/html;q=0.5",
                "Accept-Language": "en;q=0.5",
            },
        )

    async def aclose(self) -> None:
        """Close the connection pool (an injected transport is left to its owner)."""
        if self._owns_transport:
            await self._lazy.aclose()

    @property
    def _http(self) -> httpx2.AsyncClient:
        return self._lazy.client

    async def search(self, query: SearchQuery) -> SearchResults:
        """One page of results for `query`, from the cache when an identical search is recent or under way."""
        hit = self._cache.get(query)
        if hit is not None:
            return hit.model_copy(update={"cached": True})
        if not self._cache.enabled:
            return await self._search(query)
        pending = self._pending.get(query)
        if pending is not None:
            return (await asyncio.shield(pending)).model_copy(update={"cached": True})
        # The request runs as a task of its own, so a caller that goes away does not fail the others.
        task = asyncio.ensure_future(self._search(query))
        self._pending[query] = task
        task.add_done_callback(lambda done: self._settle(query, done))
        return await asyncio.shield(task)

    def _settle(self, query: SearchQuery, task: asyncio.Task[SearchResults]) -> None:
        del self._pending[query]
        if not task.cancelled():
            task.exception()  # retrieved: every caller that is still waiting gets it

    async def _search(self, query: SearchQuery) -> SearchResults:
        if query.categories or query.engines:
            config = await self.instance_config()
            if config is not None:
                config.check(query)
        headers = {"Accept-Language": query.language} if query.language not in ("", "all", "auto") else {}
        data = await self._get_json("search", params=query.params(), headers=headers)
        results = parse_results(data, query=query.text, page=query.page)
        if not results.unresponsive_engines:  # a failed engine may answer next time: do not keep a partial page
            self._cache.put(query, results)
        return results

    async def instance_config(self) -> InstanceConfig | None:
        """The instance's categories and engines, or None when it does not publish `/config`."""
        config = self._config.get("config")
        if config is not None:
            return config
        try:
            config = InstanceConfig.from_json(await self._get_json("config"))
        except SearxngUnreachable:
            raise
        except SearxngError as exc:
            log.info("SearXNG /config unavailable (%s); not checking categories and engines", exc)
            return None
        if config is not None:
            self._config.put("config", config)
        return config

    async def _get_json(
        self, path: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        url = self.base_url + path
        try:
            response = await self._http.get(path, params=params, headers=headers)
        except httpx2.TimeoutException as exc:
            raise SearxngUnreachable(
                f"SearXNG at {url} did not answer within {self._timeout:g} s: check that it is running and "
                "not overloaded, narrow the search with `engines`, or raise `[search] timeout_seconds`"
            ) from exc
        except httpx2.ConnectError as exc:
            raise SearxngUnreachable(
                f"cannot connect to SearXNG at {url} ({exc or 'connection refused'}): SearXNG must be running "
                "there; start it, or set `[search] url` (or VARIET_SEARCH_URL) to its address"
            ) from exc
        except httpx2.TransportError as exc:
            raise SearxngUnreachable(f"the connection to SearXNG at {url} failed: {exc!r}; try again") from exc
        return self._decode(response, url)

    def _decode(self, response: httpx2.Response, url: str) -> Any:
        status = response.status_code
        if status == 403:
            raise SearxngFormatDisabled(f"{FORMAT_DISABLED} (HTTP 403 from {url})", status=status)
        if status == 429:
            raise SearxngRateLimited(
                f"SearXNG at {url} refused the search with HTTP 429 Too Many Requests: its limiter or bot "
                "detection blocked this client. On your own instance set `server.limiter: false` in settings.yml, "
                "or add this machine's address to `botdetection.ip_lists.pass_ip` in limiter.toml; otherwise "
                "wait a minute and retry",
                status=status,
            )
        detail = _error_detail(response)
        if status == 400:
            raise InvalidSearch(f"SearXNG rejected the search as invalid: {detail or 'HTTP 400'}")
        if status >= 400:
            raise SearxngBadResponse(
                f"SearXNG at {url} answered HTTP {status}{': ' + detail if detail else ''}; check its logs",
                status=status,
            )
        try:
            return response.json()
        except ValueError as exc:
            kind = response.headers.get("content-type", "no content type")
            raise SearxngBadResponse(
                f"SearXNG at {url} did not return JSON ({kind}): is `[search] url` the instance's own address "
                "and not a login page or proxy in front of it?",
                status=status,
            ) from exc


def _error_detail(response: httpx2.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""
