"""`variet-gmail`: the Gmail MCP server (stdio by default)."""

from __future__ import annotations

from variet.servers.gmail.server import build
from variet.servers.kit.runner import run_server


def main() -> None:
    run_server("gmail", build)


if __name__ == "__main__":
    main()
