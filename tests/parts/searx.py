"""Debian's `searx` (SearXNG's ancestor, same `/search?format=json` API) on a loopback port, and the
fixture engine it queries.

searx runs under Debian's system Python (`/usr/bin/python3`, where `apt-get install searx` puts it),
never our venv. We bind its listening socket ourselves and hand it over (`pass_fds`), so there is no
port race and connections queue in the backlog until searx accepts; readiness is one bounded poll of
`/healthz`. Its settings are generated: the only engines are `json_engine`s pointing at a
`FixtureEngine` the tests control, engines are never suspended after errors (`ban_time_on_fail: 0`),
and nothing reaches beyond loopback.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from variet.engine.llama.launcher import stop_process

__all__ = [
    "SEARX_PACKAGE",
    "SYSTEM_PYTHON",
    "FixtureEngine",
    "LoopbackServer",
    "SearxMissing",
    "SearxProcess",
    "loopback_socket",
    "running_searx",
    "searx_settings",
]

SEARX_PACKAGE = Path("/usr/lib/python3/dist-packages/searx")
SYSTEM_PYTHON = "/usr/bin/python3"
STARTUP_TIMEOUT = 60.0

# Serve searx's Flask app with werkzeug (as `searx.webapp.run()` does) on the socket we pass in.
_BOOT = """\
import sys
from werkzeug.serving import make_server
from searx.webapp import app
make_server("127.0.0.1", 0, app, threaded=True, fd=int(sys.argv[1])).serve_forever()
"""


class SearxMissing(RuntimeError):
    """Debian's searx package is not installed."""


def loopback_socket() -> socket.socket:
    """A listening TCP socket on a free 127.0.0.1 port."""
    # Naming the protocol lets asyncio turn Nagle's algorithm off on each accepted connection (it checks
    # `proto`); otherwise a response written in two parts waits 40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class LoopbackServer:
    """An ASGI app served by uvicorn on a thread, on a socket bound before the thread starts.

    Requests sent before uvicorn is up wait in the socket's backlog, so nobody has to wait for readiness.
    """

    def __init__(self, app: Any) -> None:
        self._sock = loopback_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"loopback-{self.port}", daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass
class FixtureEngine:
    """The JSON API searx's `json_engine` queries: counts requests, and can be told to fail.

    `GET /search?q=..&p=N` (engine `fixture`, category general) and `GET /news?q=..&p=N` (engine
    `fixture news`, category news) answer `per_page` results per page; `fail_status` makes both answer
    that HTTP status instead. `hold` makes answers wait until `release`.
    """

    url: str = ""
    """Base URL, set by whoever serves `app`."""
    per_page: int = 5
    fail_status: int | None = None
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    """(path, query, page) for every request received, in order."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _open: threading.Event = field(default_factory=threading.Event, repr=False)
    _arrived: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        self._open.set()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.fail_status = None
            self.per_page = 5
        self._arrived.clear()
        self._open.set()

    def hold(self) -> None:
        """Keep every answer back until `release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_for_request(self, timeout: float = 10.0) -> None:
        """Block until a request has arrived (call from a worker thread)."""
        if not self._arrived.wait(timeout):
            raise TimeoutError("no request reached the fixture engine")

    def count(self, query: str | None = None) -> int:
        """Requests received, for `query` only when given."""
        with self._lock:
            return sum(1 for _, q, _ in self.requests if query is None or q == query)

    @staticmethod
    def result_url(path: str, query: str, page: int, index: int) -> str:
        """The URL of the `index`-th result (from 1) on `page`; result hosts are never contacted."""
        return f"https://{path}.example.org/{query.replace(' ', '-')}/p{page}/r{index}"

    async def _answer(self, request: Request) -> Response:
        path = request.url.path.strip("/")
        query = request.query_params.get("q", "")
        page = int(request.query_params.get("p", "1"))
        with self._lock:
            self.requests.append((path, query, page))
            status = self.fail_status
        self._arrived.set()
        if not self._open.is_set():
            await anyio.to_thread.run_sync(self._open.wait, 10.0)
        if status is not None:
            return Response("fixture engine told to fail", status_code=status)
        results = [
            {
                "url": self.result_url(path, query, page, i),
                "title": f"{query} result {i} (page {page})",
                "content": f"Snippet {i} about {query} on page {page}.",
            }
            for i in range(1, self.per_page + 1)
        ]
        return JSONResponse({"results": results, "suggestions": [{"text": f"{query} tutorial"}]})

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/search", self._answer), Route("/news", self._answer)])


def searx_settings(engine_url: str) -> dict[str, Any]:
    """A complete searx 1.1 `settings.yml` (as data) whose only engines query `engine_url`."""

    def engine(name: str, path: str, category: str, shortcut: str) -> dict[str, Any]:
        return {
            "name": name,
            "engine": "json_engine",
            "shortcut": shortcut,
            "categories": category,
            "paging": True,
            "search_url": f"{engine_url}/{path}?q={{query}}&p={{pageno}}",
            "results_query": "results",
            "url_query": "url",
            "title_query": "title",
            "content_query": "content",
            "suggestion_query": "suggestions/text",
            "enable_http": True,
            "timeout": 10.0,
        }

    return {
        "general": {"debug": False, "instance_name": "variet-test", "enable_stats": False},
        "search": {
            "safe_search": 0,
            "autocomplete": "",
            "default_lang": "",
            "ban_time_on_fail": 0,
            "max_ban_time_on_fail": 0,
        },
        "server": {
            "port": 0,
            "bind_address": "127.0.0.1",
            "secret_key": "variet-test-only-not-a-secret",
            "base_url": False,
            "image_proxy": False,
            "http_protocol_version": "1.1",
            "method": "GET",
        },
        "ui": {
            "static_path": "/usr/share/python3-searx/static",
            "templates_path": "/usr/share/python3-searx/templates",
            "default_theme": "oscar",
            "default_locale": "",
        },
        "outgoing": {"request_timeout": 10.0, "pool_connections": 10, "pool_maxsize": 10},
        "locales": {"en": "English"},
        "doi_resolvers": {"doi.org": "https://doi.org/"},
        "default_doi_resolver": "doi.org",
        "engines": [
            engine("fixture", "search", "general", "fx"),
            engine("fixture news", "news", "news", "fxn"),
        ],
    }


@dataclass
class SearxProcess:
    """A running searx: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _check_installed() -> None:
    if not (SEARX_PACKAGE / "webapp.py").is_file() or not Path(SYSTEM_PYTHON).is_file():
        raise SearxMissing(
            f"Debian's searx package is not installed ({SEARX_PACKAGE} is missing): the search tests drive a "
            "real searx. Install it with `sudo apt-get install -y searx` (scripts/test-deps does this)."
        )


def _wait_ready(searx: SearxProcess, deadline: float) -> None:
    """Poll `/healthz` until searx answers, it exits, or `deadline` (monotonic) passes."""
    with httpx2.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if searx.process.poll() is not None:
                raise RuntimeError(f"searx exited with {searx.process.returncode}:\n{searx.log_tail()}")
            try:
                if client.get(f"{searx.url}/healthz").status_code == 200:
                    return
            except httpx2.ConnectError:
                # Only possible once searx has closed the listening socket, i.e. it is exiting.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    searx.process.wait(timeout=5)
            except httpx2.TimeoutException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"searx did not answer /healthz within {STARTUP_TIMEOUT:g} s:\n{searx.log_tail()}")


@contextmanager
def running_searx(engine_url: str, workdir: Path, *, timeout: float = STARTUP_TIMEOUT) -> Iterator[SearxProcess]:
    """Start searx with generated settings in `workdir`, wait until it answers, and stop it afterwards."""
    _check_installed()
    settings = workdir / "settings.yml"
    settings.write_text(json.dumps(searx_settings(engine_url), indent=2))  # JSON is valid YAML
    log = workdir / "searx.log"
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir), "SEARX_SETTINGS_PATH": str(settings)}
    sock = loopback_socket()
    port = sock.getsockname()[1]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", _BOOT, str(sock.fileno())],
            env=env,
            cwd=workdir,
            pass_fds=[sock.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    sock.close()  # searx holds the only copy now: if it dies, connections are refused instead of hanging
    searx = SearxProcess(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_ready(searx, time.monotonic() + timeout)
        yield searx
    finally:
        stop_process(process, 10)
