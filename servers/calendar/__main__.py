"""`variet-calendar`: the Google Calendar MCP server (stdio by default)."""

from __future__ import annotations

from variet.servers.calendar.server import build
from variet.servers.kit.runner import run_server


def main() -> None:
    run_server("calendar", build)


if __name__ == "__main__":
    main()
