"""What the search server raises on purpose; each message says what to do next.

    SearchError                 base (a `VarietError`); the MCP boundary turns every one into a `ToolError`
    ├── InvalidSearch           an argument is empty, out of range or unknown to the instance
    ├── SearxngError            the SearXNG instance failed
    │   ├── SearxngUnreachable      connection refused, name not found, or no answer in time
    │   ├── SearxngFormatDisabled   403: `json` is missing from `search.formats`
    │   ├── SearxngRateLimited      429: the limiter or bot detection refused us
    │   └── SearxngBadResponse      any other error status, or a body that is not SearXNG JSON
    └── FetchError              `fetch_page` could not return a page
        ├── FetchBlocked            the address is private, loopback or link-local (SSRF guard)
        ├── FetchHeld               the URL's query carries data out and the user did not approve it
        └── FetchFailed             bad URL, HTTP error, too many redirects, not text, or timeout

`httpx2` exceptions are translated in `searxng.py` and `fetch.py`, nowhere else.
"""

from __future__ import annotations

from variet.shared.errors import VarietError

__all__ = [
    "FetchBlocked",
    "FetchError",
    "FetchFailed",
    "FetchHeld",
    "InvalidSearch",
    "SearchError",
    "SearxngBadResponse",
    "SearxngError",
    "SearxngFormatDisabled",
    "SearxngRateLimited",
    "SearxngUnreachable",
]


class SearchError(VarietError):
    """Base class for failures of `web_search` and `fetch_page` the model can act on."""


class InvalidSearch(SearchError):
    """An argument is empty, out of range, or names a category or engine the instance lacks."""


class SearxngError(SearchError):
    """The SearXNG instance could not answer the search."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SearxngUnreachable(SearxngError):
    """Nothing answers at the configured URL, or it did not answer in time."""


class SearxngFormatDisabled(SearxngError):
    """HTTP 403: the instance does not serve `format=json`."""


class SearxngRateLimited(SearxngError):
    """HTTP 429: the limiter or its bot detection refused the request."""


class SearxngBadResponse(SearxngError):
    """Any other error status, or a body that is not SearXNG's JSON."""


class FetchError(SearchError):
    """`fetch_page` could not return the page."""


class FetchBlocked(FetchError):
    """The URL (or a redirect) leads to an address the SSRF guard refuses."""


class FetchFailed(FetchError):
    """The URL is invalid, the server failed, redirected too often, timed out, or sent something not text."""


class FetchHeld(FetchError):
    """The URL's query string carries long opaque data and nobody approved sending it (`[search] outbound`)."""
