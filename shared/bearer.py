"""One key check for Variet's HTTP services: the engine's API and the MCP servers over HTTP.

The key comes as `Authorization: Bearer <key>` (or `x-api-key: <key>` where a service takes Anthropic-style
clients) and is compared in constant time. Each service words its own refusal: the engine in its error
shape, the MCP servers as OAuth clients expect.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerAuth", "Refusal"]

Refusal = Callable[[Scope, bool], ASGIApp]
"""The 401 answer for a request without the right key; the flag tells whether it sent a key at all."""


class BearerAuth:
    """ASGI middleware: every HTTP request needs the key, except those for `open_paths`."""

    def __init__(self, app: ASGIApp, key: str, refuse: Refusal, *, open_paths: Collection[str] = (),
                 x_api_key: bool = False) -> None:
        """`x_api_key`: also take the key from an `x-api-key` header."""
        self._app = app
        self._key = key.encode()
        self._refuse = refuse
        self._open = frozenset(open_paths)
        self._x_api_key = x_api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self._open:
            given = self._given(scope)
            if not hmac.compare_digest(given, self._key):
                await self._refuse(scope, bool(given))(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _given(self, scope: Scope) -> bytes:
        headers = dict(scope["headers"])
        if self._x_api_key and (key := headers.get(b"x-api-key")):
            return bytes(key)
        return bytes(headers.get(b"authorization", b"")).removeprefix(b"Bearer ")
