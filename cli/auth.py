"""`variet auth google`: sign in to Google for the Calendar and Gmail servers.

The installed-app OAuth flow (PKCE and state, from google-auth-oauthlib) with a one-shot redirect server on
127.0.0.1. It prints to stdout, which is why it lives here and never inside a stdio MCP server. It asks for
the narrowest scopes the settings need and saves the authorized-user JSON with mode 0600.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_LOGIN_MINUTES = 5
_CLIENT_HELP = (
    "create an OAuth client of type 'Desktop app' in the Google Cloud console (APIs & Services > Credentials), "
    "enable the Calendar and Gmail APIs, and save the downloaded JSON there (or set [google] client_file)"
)


def add_parser(sub: Any) -> None:
    auth = sub.add_parser("auth", help="sign in to the services the MCP servers use")
    providers = auth.add_subparsers(dest="auth_provider", required=True, metavar="PROVIDER")
    google = providers.add_parser(
        "google",
        help="sign in to Google for variet-calendar and variet-gmail",
        description="Run the Google sign-in in a browser and save the token (readable by you alone). The scopes "
        "asked for follow [google] calendar_write, gmail_compose, gmail_send and gmail_modify.",
    )
    google.add_argument("--config", help="variet.toml (default: $VARIET_CONFIG or ~/.config/variet/variet.toml)")
    google.add_argument("--account", help="sign in the account [google.accounts.NAME] (default: [google] account)")
    google.add_argument("--show-scopes", action="store_true", help="print the scopes it would ask for, and stop")
    google.add_argument("--no-browser", action="store_true", help="only print the address to open")
    google.add_argument("--browser", help="browser to open (a name Python's webbrowser module knows)")
    google.add_argument("--port", type=int, default=0, help="loopback port for the redirect (default: any free)")
    google.set_defaults(handler=_google)


def _google(args: argparse.Namespace) -> int:
    from variet.servers.google import TESTING_EXPIRY_NOTE, scope_reasons, token_path
    from variet.shared.config import load_settings
    from variet.shared.secrets import write_private_file

    settings = load_settings(args.config)
    path = token_path(settings, args.account)
    reasons = scope_reasons(settings.google)
    print("Variet will ask Google for:")
    for scope, why in reasons:
        print(f"  {scope}\n      {why}")
    print(f"Token file: {path}")
    if args.show_scopes:
        return 0

    client = _client_config(settings.relative_path(settings.google.client_file), settings.google.token_uri)
    wanted = [scope for scope, _ in reasons]
    credentials = _run_flow(client, wanted, args)
    if not credentials.refresh_token:
        from variet.shared.errors import VarietError

        raise VarietError("Google returned no refresh token: remove Variet's access at myaccount.google.com and retry")
    write_private_file(path, credentials.to_json())
    print(f"Signed in; saved {path} (readable by you alone).")
    granted = set(credentials.granted_scopes or wanted)
    missing = [scope for scope in wanted if scope not in granted]
    if missing:
        print(
            "Google did not grant: " + ", ".join(missing) + ". Tools needing them will fail until you run this "
            "again and tick every box on the consent screen.",
            file=sys.stderr,
        )
    print(TESTING_EXPIRY_NOTE)
    return 0


def _client_config(file: Path, token_uri: str) -> dict[str, Any]:
    from variet.shared.errors import ConfigError

    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no OAuth client file at {file}: {_CLIENT_HELP}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{file}: not a readable OAuth client JSON ({type(exc).__name__})") from None
    kind = next((k for k in ("installed", "web") if k in config), None)
    if kind is None:
        raise ConfigError(f"{file}: not an OAuth client JSON (no 'installed' section): {_CLIENT_HELP}")
    # The code exchange uses the same token endpoint as every later refresh.
    config[kind]["token_uri"] = token_uri
    return dict(config)


def _run_flow(client: dict[str, Any], scopes: list[str], args: argparse.Namespace) -> Any:
    from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError

    from variet.shared.errors import VarietError

    flow = InstalledAppFlow.from_client_config(client, scopes=scopes)
    try:
        return flow.run_local_server(
            host="127.0.0.1",
            port=args.port,
            open_browser=not args.no_browser,
            browser=args.browser,
            authorization_prompt_message="Sign in to Google in your browser. If it did not open, visit:\n  {url}",
            success_message="Variet is signed in to Google. You can close this tab.",
            timeout_seconds=_LOGIN_MINUTES * 60,
            access_type="offline",
            prompt="consent",
        )
    except WSGITimeoutError:
        raise VarietError(
            f"no answer from the browser within {_LOGIN_MINUTES} minutes: run the command again"
        ) from None
    except Exception as exc:
        # oauthlib reports a denied consent, a state mismatch or a failed code exchange with its own exceptions.
        if type(exc).__module__.split(".")[0] in ("oauthlib", "requests_oauthlib", "google_auth_oauthlib"):
            raise VarietError(f"Google sign-in failed: {exc}") from None
        raise
