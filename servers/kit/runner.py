"""The one way every Variet MCP server starts.

`variet-<name>` speaks stdio by default, or streamable HTTP with `--transport http --host H --port N`.
Over HTTP a bearer token is required whenever the bind address is not loopback (token from
`VARIET_MCP_TOKEN` or the 0600 file `[mcp] token_file`), and the SDK's Host/Origin checks stay on
against DNS rebinding. Logs go to stderr: stdout belongs to the stdio protocol.

A server package provides `build(settings) -> MCPServer` and calls `run_server("name", build)` from its
`__main__.main`. Every server keeps its state and its domain logic in one plain service object without MCP
imports (`InferenceService`, `RouterService`, the search backends, `CalendarApi`, `GmailApi`) that its thin
tools close over, and hands it to the SDK with `service_lifespan`, which yields it for the server's lifetime
and closes it afterwards if the server opened it. Keep module-level imports light, and settings are read
lazily (only the sections a server reads are validated): start-up time is measured against a bare `MCPServer`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from variet.shared.config import Settings, load_settings
from variet.shared.errors import ConfigError
from variet.shared.net import is_loopback
from variet.shared.secrets import secret_from

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp, Scope

__all__ = [
    "Closable",
    "ServeOptions",
    "http_app",
    "mcp_token",
    "parse_args",
    "run_server",
    "service_lifespan",
]

log = logging.getLogger("variet")


class Closable(Protocol):
    async def aclose(self) -> None: ...


_Service = TypeVar("_Service", bound=Closable)


def service_lifespan(
    service: _Service, *, owned: bool
) -> Callable[[Any], AbstractAsyncContextManager[_Service]]:
    """The server's lifespan: yields `service`, then closes it when `owned` (a test's injected one stays open)."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[_Service]:
        try:
            yield service
        finally:
            if owned:
                await service.aclose()

    return lifespan


def mcp_token(settings: Settings) -> str | None:
    """The bearer token for HTTP transport, from `VARIET_MCP_TOKEN` or the 0600 `[mcp] token_file`."""
    file = settings.mcp.token_file
    return secret_from("VARIET_MCP_TOKEN", settings.relative_path(file) if file else None)
    return None


class ServeOptions(argparse.Namespace):
    config: str | None
    transport: str
    host: str
    port: int
    stateless: bool
    log_level: str


def parse_args(name: str, argv: Sequence[str] | None = None) -> ServeOptions:
    parser = argparse.ArgumentParser(
        prog=f"variet-{name}",
        description=f"Variet {name} MCP server (stdio by default; streamable HTTP with --transport http).",
    )
    parser.add_argument("--config", help="variet.toml to read (default: $VARIET_CONFIG or ~/.config/variet)")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="bind address for --transport http")
    parser.add_argument("--port", type=int, default=0, help="port for --transport http (required there)")
    parser.add_argument("--stateless", action="store_true",
                        help="with --transport http: no sessions, each request stands alone (for load balancers)")
    parser.add_argument("--log-level", default=os.environ.get("VARIET_LOG_LEVEL", "WARNING"))
    return parser.parse_args(argv, namespace=ServeOptions())


def _unauthorized(scope: Scope, given: bool) -> ASGIApp:
    from starlette.responses import JSONResponse

    body = {"error": "unauthorized", "error_description": "send Authorization: Bearer <token>"}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def http_app(server: MCPServer[Any], settings: Settings, *, host: str, port: int, token: str | None,
             stateless: bool = False) -> ASGIApp:
    """The streamable HTTP app with DNS-rebinding protection and, when a token is given, bearer auth."""
    from mcp.server.transport_security import TransportSecuritySettings

    from variet.shared.bearer import BearerAuth

    hosts = [f"{h}:{p}" for h in ("127.0.0.1", "localhost", "[::1]") for p in (port, "*")]
    if not is_loopback(host):
        hosts += [f"{host}:{port}", host]
    origins = [f"http://{h}" for h in hosts] + list(settings.mcp.allowed_origins)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
    app: ASGIApp = server.streamable_http_app(transport_security=security, host=host, stateless_http=stateless)
    return BearerAuth(app, token, _unauthorized) if token else app


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def run_server(name: str, build: Callable[[Settings], MCPServer[Any]], argv: Sequence[str] | None = None) -> None:
    """Parse the command line, load settings, build the server and serve until stopped."""
    opts = parse_args(name, argv)
    _configure_logging(opts.log_level)
    try:
        settings = load_settings(opts.config, lazy=True)  # a server reads only its own sections
        if opts.transport == "stdio":
            build(settings).run("stdio")
            return
        if not opts.port:
            raise ConfigError("--transport http needs --port N (and usually --host 127.0.0.1)")
        token = mcp_token(settings)
        if token is None and not is_loopback(opts.host):
            raise ConfigError(
                f"refusing to serve on {opts.host} without a token: set VARIET_MCP_TOKEN or "
                "[mcp] token_file (a file only you can read), or bind to 127.0.0.1"
            )
        app = http_app(build(settings), settings, host=opts.host, port=opts.port, token=token,
                       stateless=opts.stateless)
    except ConfigError as exc:
        print(f"variet-{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    import uvicorn

    log.warning("variet-%s listening on http://%s:%d/mcp", name, opts.host, opts.port)
    uvicorn.run(app, host=opts.host, port=opts.port, log_level=opts.log_level.lower())
