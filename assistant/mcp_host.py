"""The MCP host: the Variet MCP servers the assistant uses, kept running, and tool calls through them.

Each configured server gets one supervising task that starts it over stdio (`python -m
variet.servers.NAME`, with this process's settings and environment minus the Discord token) or connects to
its streamable HTTP URL, lists its tools, and holds the connection. A server that fails to start, or stops
answering, is marked down with the reason and the others keep working; `revive`, which every turn calls
first, starts a stopped server again (one that failed to start, at most every `REVIVE_SECONDS`).

The host declares MCP form elicitation. A server asks (send this mail? delete this event?) in the middle of
a tool call; the host hands the question to the `Asker` of the turn that made the call, and only a yes/no
form can be answered. Calls that may ask (tools marked destructive) hold their server's confirmation lock,
so every question reaches the right turn.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
from anyio.abc import TaskGroup
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.types import (
    CONNECTION_CLOSED,
    CallToolResult,
    ElicitRequestFormParams,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    Implementation,
    Tool,
)

from variet.assistant.credentials import TOKEN_ENV
from variet.assistant.errors import ServerUnavailable
from variet.shared.config import Settings

__all__ = ["REVIVE_SECONDS", "Asker", "Decision", "McpHost", "ServerStatus", "server_names"]

log = logging.getLogger("variet.assistant")

REVIVE_SECONDS = 15.0
"""Least time between two attempts to start a server that is down."""
START_SECONDS = 30.0
"""A server that has not listed its tools after this long has failed to start."""

Decision = Literal["accept", "decline", "cancel"]
_CLIENT = Implementation(name="variet-discord", version="0.1.0")


class Asker(Protocol):
    """Asks a person to approve what a server is about to do."""

    async def confirm(self, question: str, *, server: str, tool: str, by_host: bool = False) -> Decision:
        """"accept" only when an owner approved; "decline" when one refused; "cancel" when nobody answered
        in time. Returns within the asker's own bounded time. `by_host`: the assistant asks (an outbound
        call it holds), not the server."""
        ...


@dataclass(frozen=True)
class ServerStatus:
    name: str
    up: bool
    via: str
    """"stdio" or the server's URL."""
    tools: tuple[str, ...]
    error: str | None
    """Why it is down."""


class _Connection:
    """One server: how to reach it, its live client and tools, and the turn asking through it."""

    def __init__(self, name: str, target: StdioServerParameters | str) -> None:
        self.name = name
        self.target = target
        self.client: Client | None = None
        self.tools: list[Tool] = []
        self.error: str | None = "starting"
        self.lost = anyio.Event()
        self.wanted = anyio.Event()
        self.settled = anyio.Event()
        self.last_attempt = -math.inf
        self.start_failed = False
        """The last attempt never got as far as listing tools (so retries are spaced out)."""
        self.confirm_lock = anyio.Lock()
        self.asker: Asker | None = None
        self.asking_tool = ""

    @property
    def label(self) -> str:
        return f"variet-{self.name}"

    def status(self) -> ServerStatus:
        via = self.target if isinstance(self.target, str) else "stdio"
        return ServerStatus(self.name, self.client is not None, via, tuple(t.name for t in self.tools), self.error)

    async def elicit(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        """The elicitation callback: a yes/no form goes to the asking turn's `Asker`; anything else is declined."""
        asker, tool = self.asker, self.asking_tool
        if not isinstance(params, ElicitRequestFormParams):
            log.warning("%s asked for a URL interaction; declined (only yes/no questions can be answered)", self.label)
            return ElicitResult(action="decline")
        fields: dict[str, Any] = params.requested_schema.get("properties") or {}
        if asker is None or not fields or any(spec.get("type") != "boolean" for spec in fields.values()):
            log.warning("%s asked a question no turn can answer; declined", self.label)
            return ElicitResult(action="decline")
        decision = await asker.confirm(params.message, server=self.name, tool=tool)
        if decision == "accept":
            return ElicitResult(action="accept", content=dict.fromkeys(fields, True))
        return ElicitResult(action=decision)


class McpHost:
    """The servers named in `[discord] servers`; use as an async context manager (it owns their processes)."""

    def __init__(self, settings: Settings, *, environ: Mapping[str, str] | None = None,
                 start_seconds: float = START_SECONDS) -> None:
        discord = settings.discord
        self._tool_seconds = discord.tool_timeout_seconds
        self._confirm_seconds = discord.confirm_timeout_seconds
        self._start_seconds = start_seconds
        env = {k: v for k, v in (os.environ if environ is None else environ).items() if k != TOKEN_ENV}
        if settings.source is not None:
            env["VARIET_CONFIG"] = str(settings.source)
        self._connections: dict[str, _Connection] = {
            name: _Connection(name, discord.server_urls.get(name) or StdioServerParameters(
                command=sys.executable, args=["-m", f"variet.servers.{name}"], env=env))
            for name in discord.servers
        }
        self._stack = AsyncExitStack()
        self._tasks: TaskGroup | None = None

    async def __aenter__(self) -> McpHost:
        self._tasks = await self._stack.enter_async_context(anyio.create_task_group())
        for connection in self._connections.values():
            self._tasks.start_soon(self._supervise, connection, name=f"mcp-{connection.name}")
            connection.wanted.set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()
        await self._stack.aclose()

    def status(self) -> list[ServerStatus]:
        return [connection.status() for connection in self._connections.values()]

    def tools(self) -> list[tuple[str, Tool]]:
        """(server, tool) for every tool of every server that is up, in configuration order."""
        return [(c.name, tool) for c in self._connections.values() if c.client is not None for tool in c.tools]

    async def wait_started(self) -> None:
        """Wait until every server's current start attempt has succeeded or failed (bounded by the start time)."""
        with anyio.move_on_after(self._start_seconds + 1):
            for connection in self._connections.values():
                await connection.settled.wait()

    async def revive(self) -> None:
        """Start again the servers that stopped, and those that failed to start (these at most every
        `REVIVE_SECONDS`); wait for the attempts."""
        now = anyio.current_time()
        retry = [c for c in self._connections.values() if c.client is None and c.settled.is_set()
                 and (not c.start_failed or now - c.last_attempt >= REVIVE_SECONDS)]
        for connection in retry:
            connection.settled = anyio.Event()
            connection.wanted.set()
        await self.wait_started()

    async def call_tool(self, server: str, tool: str, arguments: dict[str, Any], *, asker: Asker | None = None,
                        may_ask: bool = False, meta: dict[str, Any] | None = None) -> CallToolResult:
        """Call `tool` on `server`. `may_ask`: the tool may ask for confirmation (through `asker`). `meta`: the
        request's `_meta` (what this host vouches for).

        Raises `ServerUnavailable` when the server is down or stops answering during the call, and
        `TimeoutError` past `tool_timeout_seconds` (plus the confirmation time when it may ask).
        """
        connection = self._connections.get(server)
        if connection is None:
            raise ServerUnavailable(f"variet-{server} is not one of the servers in [discord] servers")
        client = connection.client
        if client is None:
            raise ServerUnavailable(f"{connection.label} is not running: {connection.error}")
        limit = self._tool_seconds + (self._confirm_seconds if may_ask else 0.0)
        try:
            with anyio.fail_after(limit):
                if not may_ask:
                    result: CallToolResult = await client.call_tool(tool, arguments, meta=meta)  # type: ignore[arg-type]
                    return result
                async with connection.confirm_lock:
                    connection.asker, connection.asking_tool = asker, tool
                    try:
                        result = await client.call_tool(tool, arguments, meta=meta)  # type: ignore[arg-type]
                        return result
                    finally:
                        connection.asker = None
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise
            problem: BaseException = exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            problem = exc
        connection.client, connection.error = None, f"stopped answering ({_describe(problem)})"
        connection.lost.set()
        log.warning("%s %s", connection.label, connection.error)
        raise ServerUnavailable(f"{connection.label} stopped answering during {tool}; it is restarted on the next "
                                "message (its error, if any, is in the bot's log)") from problem

    async def _supervise(self, connection: _Connection) -> None:
        while True:
            await connection.wanted.wait()
            connection.wanted = anyio.Event()
            connection.lost = anyio.Event()
            connection.last_attempt = anyio.current_time()
            settled = connection.settled  # what this attempt's waiters wait on; `revive` may replace it later
            await self._run_once(connection, settled)
            connection.client, connection.tools = None, []
            settled.set()

    async def _run_once(self, connection: _Connection, settled: anyio.Event) -> None:
        """Start or connect, list the tools, then hold the connection until a call finds it lost."""
        started = anyio.current_time()
        connection.start_failed = True
        with anyio.CancelScope(deadline=started + self._start_seconds) as scope:
            try:
                async with Client(connection.target, elicitation_callback=connection.elicit,
                                  client_info=_CLIENT) as client:
                    listed = await client.list_tools()
                    scope.deadline = math.inf
                    connection.client, connection.tools, connection.error = client, list(listed.tools), None
                    connection.start_failed = False
                    settled.set()
                    log.info("%s is up (%s, %d tools in %.2f s)", connection.label, connection.status().via,
                             len(listed.tools), anyio.current_time() - started)
                    await connection.lost.wait()
            except Exception as exc:  # any failure to start is what the status reports
                if not settled.is_set():
                    connection.error = f"did not start: {_describe(exc)}"
                    log.warning("%s %s", connection.label, connection.error)
        if scope.cancelled_caught and not settled.is_set():
            connection.error = f"did not start within {self._start_seconds:g} s"
            log.warning("%s %s", connection.label, connection.error)


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an exception (task groups wrap the real one)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def server_names(statuses: Sequence[ServerStatus]) -> str:
    """"search, calendar (down)": a compact list for logs."""
    return ", ".join(s.name if s.up else f"{s.name} (down)" for s in statuses)
