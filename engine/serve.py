"""`variet engine serve`: check the settings, find llama-server, and run the engine with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from types import FrameType

from variet.engine.llama.build import cached_llama_server
from variet.shared.config import Settings
from variet.shared.errors import ConfigError
from variet.shared.net import is_loopback

__all__ = ["check_bind", "find_llama_server", "parse_listen", "serve"]

log = logging.getLogger(__name__)


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) to its parts; a clear error otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"listen address {listen!r} must be HOST:PORT, for example 127.0.0.1:8000")
    return host.strip("[]"), int(port)


def find_llama_server(settings: Settings) -> Path:
    """`[engine] llama_server` if set, else the cached build; a clear error when neither exists."""
    if settings.engine.llama_server:
        path = settings.relative_path(settings.engine.llama_server)
        if not path.is_file():
            raise ConfigError(f"[engine] llama_server points at {path}, which does not exist")
        return path
    cached = cached_llama_server()
    if cached is None:
        raise ConfigError("llama-server is not built yet: run `variet engine install-llama-server` (takes minutes)")
    return cached


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse a non-loopback bind without an API key: the engine would be open to the LAN."""
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to listen on {host} without an API key: set VARIET_ENGINE_API_KEY or "
            "[engine] api_key_file (a file only you can read), or listen on 127.0.0.1"
        )


def serve(settings: Settings, *, listen: str | None = None) -> int:
    import uvicorn

    from variet.engine.auto import AutoRouter
    from variet.engine.core import Engine
    from variet.engine.http.app import create_app
    from variet.engine.http.dashboard import dashboard_url
    from variet.engine.llama.memory import check_residents, describe_budget

    host, port = parse_listen(listen or settings.engine.listen)
    api_key = settings.engine_api_key()
    check_bind(host, api_key)
    catalogue = settings.tiers()
    for line in describe_budget(check_residents(catalogue)):
        log.info("memory: %s", line)
    peer_keys = {peer.name: settings.peer_api_key(peer) for peer in settings.engine.peers}
    engine = Engine(settings, catalogue, binary=find_llama_server(settings), api_key=api_key, peer_keys=peer_keys)
    log.info("engine on http://%s:%d with tiers %s", host, port, ", ".join(catalogue.tiers))
    log.info("dashboard: %s", dashboard_url(host, port))
    app = create_app(engine, router=AutoRouter(settings.router))
    # No proxy-header rewriting: the engine is not meant to sit behind a proxy, and it costs every request.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False,
                            timeout_graceful_shutdown=_GRACEFUL_SECONDS)

    class Server(uvicorn.Server):
        """uvicorn's server, ending the engine's event streams first when asked to stop: an open
        `/variet/events` subscriber would otherwise hold the shutdown until the graceful timeout."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            with contextlib.suppress(RuntimeError):  # no running loop yet: nothing is subscribed
                asyncio.get_running_loop().call_soon_threadsafe(engine.events.close)
            super().handle_exit(sig, frame)

    Server(config).run()
    return 0


_GRACEFUL_SECONDS = 10
"""On shutdown, how long requests still running may take before they are cut."""
