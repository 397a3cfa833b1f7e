"""The server's own default against smuggling data out in a URL, for hosts that track nothing.

An injected instruction leaks private data through `fetch_page` by putting it in the URL it asks for:
`https://collector.example/c?d=<the data>`. Without a host's help this server cannot know where the data
came from, so it judges the URL itself: a query string that carries long opaque data needs the user
(asked by elicitation, or refused when the host cannot ask), unless the host says it checked the call
(`variet/host-approved`). `carried_data` is the heuristic, a pure function.

The heuristic: after percent-decoding, one query value (or a bare query) of `VALUE_CHARS` characters or
more, or all of them together `QUERY_CHARS` or more. Short words and ids (`?v=dQw4w9WgXcQ`, `?page=2`,
`?q=rust+async`) pass; tokens, base64 blobs and sentences do not. Short data passes too: a host that tracks
untrusted content (as the Discord assistant does) catches those.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_plus, urlsplit

__all__ = ["QUERY_CHARS", "VALUE_CHARS", "carried_data"]

VALUE_CHARS = 32
"""A query value this long (decoded) is data, not a word or an id."""
QUERY_CHARS = 100
"""Query values this long together are data, however they are split."""


def carried_data(url: str) -> str | None:
    """Why `url`'s query string looks like it carries data out ("a 48-character value in `d`"), or None."""
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return None
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True) if "=" in query else [("", unquote_plus(query))]
    longest = max(pairs, key=lambda pair: len(pair[1]), default=("", ""))
    if len(longest[1]) >= VALUE_CHARS:
        where = f"in `{longest[0]}`" if longest[0] else "as the query"
        return f"a {len(longest[1])}-character value {where}"
    total = sum(len(key) + len(value) for key, value in pairs)
    if total >= QUERY_CHARS:
        return f"{total} characters of query data"
    return None
