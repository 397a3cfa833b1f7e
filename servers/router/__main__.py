"""`variet-router`: the tier-routing MCP server (stdio by default)."""

from __future__ import annotations

from variet.servers.kit.runner import run_server
from variet.servers.router.server import build


def main() -> None:
    run_server("router", build)


if __name__ == "__main__":
    main()
