"""The HTTP client factory every Variet component uses (httpx2, one library for the whole suite)."""

from __future__ import annotations

from typing import Any

import httpx2

__all__ = ["LazyAsyncClient"]


class LazyAsyncClient:
    """An `httpx2.AsyncClient` built on first use from the given options.

    Building a client loads TLS certificates (tens of milliseconds); MCP servers hold one per upstream and
    must answer `tools/list` quickly, so they build it only when a tool first needs it.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._client: httpx2.AsyncClient | None = None

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(**self._options)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
