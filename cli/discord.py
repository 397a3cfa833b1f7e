"""`variet discord`: run the Discord assistant (the same as the `variet-discord` script)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    discord = sub.add_parser("discord", help="run the Discord assistant (an MCP host for search, calendar, mail)")
    discord.add_argument("--config", help="variet.toml (default: $VARIET_CONFIG or ~/.config/variet/variet.toml)")
    discord.set_defaults(handler=_discord)


def _discord(args: argparse.Namespace) -> int:
    from variet.assistant.__main__ import serve

    return serve(args.config)
