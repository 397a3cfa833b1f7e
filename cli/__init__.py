"""The `variet` command line.

Each subcommand lives in its own module with `add_parser(subparsers)` registering it and a handler that
imports what it needs lazily, so `variet --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from variet.shared.errors import VarietError

__all__ = ["main"]

# Modules under variet.cli that contribute subcommands, in --help order.
_COMMANDS = ("demo", "engine", "doctor", "hosts", "auth", "discord")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="variet", description="Variet: a tiered local LLM assistant.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"variet.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for chatty in ("httpx2", "httpcore2", "mcp"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        code: int = args.handler(args)
    except VarietError as exc:
        print(f"variet: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
