"""`variet-search`: the web search MCP server (stdio by default, `--transport http` on request)."""

from __future__ import annotations

from variet.servers.kit.runner import run_server
from variet.servers.search.server import build


def main() -> None:
    run_server("search", build)


if __name__ == "__main__":
    main()
