"""`variet-router`: the tier-routing MCP server (stdio by default)."""

from __future__ import annotations

from variet.servers.router.server import build
from variet.shared.runner import run_server


def main() -> None:
    run_server("router", build)


if __name__ == "__main__":
    main()
