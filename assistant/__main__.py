"""`variet-discord` (and `variet discord`): run the Discord assistant in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "serve"]

log = logging.getLogger("variet.assistant")


def serve(config: str | None) -> int:
    """Load settings, check the token, run until interrupted; one line on stderr (and 2) for a setup error."""
    from variet.assistant.app import run_assistant
    from variet.assistant.credentials import TokenRedactor, discord_token
    from variet.assistant.errors import explain
    from variet.shared.config import load_settings
    from variet.shared.errors import VarietError

    try:
        settings = load_settings(config)
        token = discord_token(settings)
        redactor = TokenRedactor(token)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redactor)
        run_assistant(settings, token=token)
    except VarietError as exc:
        line = explain(exc)
        log.error("%s", line)
        print(f"variet discord: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="variet-discord", description="Run the Variet Discord assistant.")
    parser.add_argument("--config", help="variet.toml to read (default: $VARIET_CONFIG or ~/.config/variet)")
    parser.add_argument("--log-level", default=os.environ.get("VARIET_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx2", "httpcore2", "mcp"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    raise SystemExit(serve(args.config))


if __name__ == "__main__":
    main()
