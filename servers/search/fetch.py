"""Fetch a web page and return its readable text, guarded against SSRF. No MCP here.

Every hop (the URL and each redirect) is resolved and checked by `AddressPolicy` before anything is
sent, and the connection goes to the checked address (the hostname travels in `Host` and TLS SNI), so
a name that resolves differently a moment later (DNS rebinding) cannot slip through. Keep-alive is off
because connections are keyed by address, not name. Redirects are followed by hand, up to a bound, and a
page that ends on another host says so in its `note` and `other_host`.
The body is read up to a byte limit (after decompression) and the whole fetch has one deadline.
"""

from __future__ import annotations

import codecs
from typing import Any

import anyio
import httpx2
from pydantic import BaseModel

from variet.servers.search.errors import FetchFailed, InvalidSearch
from variet.servers.search.guard import AddressPolicy
from variet.shared.http import LazyAsyncClient

__all__ = ["DEFAULT_PAGE_CHARS", "MAX_PAGE_CHARS", "MIN_PAGE_CHARS", "Page", "PageFetcher"]

DEFAULT_PAGE_CHARS = 20_000
MIN_PAGE_CHARS = 100
MAX_PAGE_CHARS = 200_000

USER_AGENT = "Mozilla/5.0 (compatible; variet-search/0.1; +fetch_page)"
_HTML = {"text/html", "application/xhtml+xml"}
_TEXT = {"application/json", "application/xml", "application/javascript", "application/x-yaml", "application/yaml"}
_REDIRECTS = {301, 302, 303, 307, 308}


class Page(BaseModel):
    """A fetched page as text."""

    url: str
    """The URL asked for."""
    final_url: str
    """Where the page was found after redirects."""
    status: int
    content_type: str
    title: str | None = None
    text: str
    truncated: bool = False
    """True when `text` was cut at `max_chars`."""
    total_chars: int
    """Length of the whole text before cutting."""
    bytes_read: int
    download_truncated: bool = False
    """True when the download stopped at the byte limit, so the end of the page is missing."""
    redirects: list[str] = []
    """Every URL redirected to, in order (the last is `final_url`)."""
    other_host: str | None = None
    """The host the redirects ended on when it is not the one asked for (also said in `note`)."""
    note: str | None = None


class PageFetcher:
    """Fetches pages under an `AddressPolicy`; `fetch` returns a `Page` or raises a `FetchError`."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        max_bytes: int,
        max_redirects: int,
        timeout: float,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.timeout = timeout
        self._owns_transport = transport is None
        self._lazy = LazyAsyncClient(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            limits=httpx2.Limits(max_keepalive_connections=0),
            headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"},
        )

    async def aclose(self) -> None:
        """Close the connection pool (an injected transport is left to its owner)."""
        if self._owns_transport:
            await self._lazy.aclose()

    @property
    def _http(self) -> httpx2.AsyncClient:
        return self._lazy.client

    async def fetch(self, url: str, *, max_chars: int) -> Page:
        """Fetch `url`, following up to `max_redirects` redirects, and return at most `max_chars` of text."""
        if not MIN_PAGE_CHARS <= max_chars <= MAX_PAGE_CHARS:
            raise InvalidSearch(f"max_chars must be between {MIN_PAGE_CHARS} and {MAX_PAGE_CHARS} (got {max_chars})")
        try:
            with anyio.fail_after(self.timeout):
                return await self._fetch(url, max_chars)
        except (TimeoutError, httpx2.TimeoutException):
            raise self._timed_out(url) from None
        except httpx2.TransportError as exc:
            raise FetchFailed(f"the connection broke while loading {url}: {exc or type(exc).__name__}") from exc

    def _timed_out(self, url: str) -> FetchFailed:
        return FetchFailed(f"{url} did not finish loading within {self.timeout:g} s; try another result")

    async def _fetch(self, url: str, max_chars: int) -> Page:
        current = _parse(url)
        redirects: list[str] = []
        for _ in range(self.max_redirects + 1):
            request = await self._request(current)
            try:
                response = await self._http.send(request, stream=True)
            except httpx2.ConnectError as exc:
                raise FetchFailed(f"cannot connect to {current.host}: {exc or 'connection refused'}") from exc
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = _parse(str(current.join(location)))
                    redirects.append(str(current))
                    continue
                return await self._page(url, current, response, max_chars, redirects)
            finally:
                await response.aclose()
        raise FetchFailed(f"{url} redirected more than {self.max_redirects} times; giving up")

    async def _request(self, url: httpx2.URL) -> httpx2.Request:
        if self.policy.allows_everything:
            return self._http.build_request("GET", url)
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await self.policy.resolve(host, port)
        extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
        return self._http.build_request(
            "GET",
            url.copy_with(host=str(address)),
            headers={"Host": url.netloc.decode("ascii")},
            extensions=extensions,
        )

    async def _page(self, url: str, final: httpx2.URL, response: httpx2.Response, max_chars: int,
                    redirects: list[str]) -> Page:
        status = response.status_code
        if status >= 400:
            raise FetchFailed(f"{final} answered HTTP {status} {response.reason_phrase}".rstrip())
        content_type = response.headers.get("content-type", "")
        mime = content_type.split(";")[0].strip().lower()
        is_html = mime in _HTML
        if not is_html and not _is_text(mime):
            kind = mime or "of unknown type"
            raise FetchFailed(f"{final} is {kind}, not a web page or text; fetch_page reads only those")
        body, cut = await self._read(response)
        if not mime:
            is_html = body.lstrip()[:1] == b"<"
        charset = _known_codec(response.charset_encoding)
        if is_html:
            from variet.servers.search.readable import html_to_text

            title, text = html_to_text(body, encoding=charset)
        else:
            title, text = None, body.decode(charset or "utf-8", errors="replace").strip()
        notes = []
        asked_host = _parse(url).host
        other_host = final.host if final.host != asked_host else None
        if other_host is not None:
            notes.append(f"{url} redirected to another host, {other_host}: the text below is from {final}")
        if cut:
            notes.append(f"the download stopped at the {self.max_bytes}-byte limit, so the end of the page is missing")
        if len(text) > max_chars:
            notes.append(f"text cut at {max_chars} of {len(text)} characters; ask for a larger max_chars to read more")
        return Page(
            url=url,
            final_url=str(final),
            status=status,
            content_type=mime or "unknown",
            title=title,
            text=text[:max_chars],
            truncated=len(text) > max_chars,
            total_chars=len(text),
            bytes_read=len(body),
            download_truncated=cut,
            redirects=redirects,
            other_host=other_host,
            note=_sentence(notes),
        )

    async def _read(self, response: httpx2.Response) -> tuple[bytes, bool]:
        """The body up to `max_bytes`, and whether more was left unread."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            room = self.max_bytes - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False


def _known_codec(name: str | None) -> str | None:
    """`name` if Python has that codec; a page declaring a bogus charset is then decoded as UTF-8."""
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _sentence(parts: list[str]) -> str | None:
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _is_text(mime: str) -> bool:
    return not mime or mime.startswith("text/") or mime in _TEXT or mime.endswith(("+json", "+xml"))


def _parse(url: str) -> httpx2.URL:
    try:
        parsed = httpx2.URL(url.strip())
    except httpx2.InvalidURL as exc:
        raise FetchFailed(f"not a valid URL: {url!r} ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchFailed(f"only http and https URLs can be fetched, not {url!r}")
    if not parsed.host:
        raise FetchFailed(f"URL {url!r} has no host")
    return parsed.copy_with(fragment=None)
