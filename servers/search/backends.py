"""The long-lived objects the search tools use, opened in the server's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from variet.servers.search.cache import TTLCache
from variet.servers.search.fetch import PageFetcher
from variet.servers.search.guard import AddressPolicy, Resolver
from variet.servers.search.query import SearchQuery
from variet.servers.search.results import SearchResults
from variet.servers.search.searxng import SearxngClient
from variet.shared.config import SearchSettings

__all__ = ["SearchBackends"]


@dataclass
class SearchBackends:
    """What the tools use, opened for the server's lifetime."""

    searxng: SearxngClient
    fetcher: PageFetcher

    @classmethod
    def open(cls, settings: SearchSettings, transport: httpx2.AsyncBaseTransport | None = None,
             resolver: Resolver | None = None) -> SearchBackends:
        cache: TTLCache[SearchQuery, SearchResults] = TTLCache(ttl=settings.cache_ttl_seconds, size=settings.cache_size)
        policy = AddressPolicy.build(
            allow_private=settings.allow_private_fetch, allowed_networks=settings.fetch_allowed_networks,
            resolver=resolver,
        )
        return cls(
            searxng=SearxngClient(settings.url, timeout=settings.timeout_seconds, cache=cache, transport=transport),
            fetcher=PageFetcher(
                policy=policy,
                max_bytes=settings.fetch_max_bytes,
                max_redirects=settings.fetch_max_redirects,
                timeout=settings.fetch_timeout_seconds,
                transport=transport,
            ),
        )

    async def aclose(self) -> None:
        await self.searxng.aclose()
        await self.fetcher.aclose()
