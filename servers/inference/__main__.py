"""`variet-inference`: the inference-control MCP server (stdio by default)."""

from __future__ import annotations

from variet.servers.inference.server import build
from variet.servers.kit.runner import run_server


def main() -> None:
    run_server("inference", build)


if __name__ == "__main__":
    main()
