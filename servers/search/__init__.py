"""Web search for MCP hosts: `web_search` through a SearXNG instance and `fetch_page` to read results.

`server.py` wires the tools; `searxng.py` (SearXNG's JSON API) and `fetch.py` (pages, behind the SSRF
guard in `guard.py`) are plain adapters with no MCP imports.
"""

from __future__ import annotations

__all__ = ["build", "create_server"]

from variet.servers.search.server import build, create_server
