"""llama-server in router mode as a supervised child process.

`LlamaServer` starts llama-server on a loopback port with the rendered preset, `--models-max` and
`--no-models-autoload` (the engine decides when tiers load), restarts it with backoff when it dies, and
stops it (with every model instance it spawned) on shutdown. It also implements the scheduler's
`TierBackend`. A swap is usually started by the swap's own requests: the engine lets them go with
`autoload=true` and llama-server's router evicts the idle tier and loads theirs, in process. An explicit
load with no request behind it uses `/models/load`. Either way the engine follows the tier's status on
llama-server's `/models/sse` stream (with a `/models` poll as a fallback) until it settles.

It is also the engine's `SlotBackend`: llama-server's router passes `GET /slots?model=TIER` and
`POST /slots/{id}?action=save|restore` with `"model"` in the body through to the tier's instance (the pinned
version maps both to its proxy), provided the tier is loaded: with `--no-models-autoload` a slot call for
a tier that is not running is refused ("model is not loaded"), never a cause to load it. Each tier's
instance gets its own `slot-save-path` in the preset, in a folder private to the user, and the files it
writes there are private too (umask 077 on POSIX, the folder's owner-only ACL on Windows).

llama-server and the instances it spawns run as one `ProcessTree`: stopped together, killed together, and
gone when the engine goes, even when the engine is killed (PDEATHSIG on Linux, a Job Object on Windows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx2

from variet.contract import BackendDownEvent, BackendUpEvent, TierExitedEvent
from variet.engine.errors import BackendDown, PortTaken, SlotError, TierLoadError
from variet.engine.events import EventBus
from variet.engine.llama.preset import render_preset
from variet.engine.llama.process_tree import ProcessTree
from variet.engine.llama.upstream import Connect, Tcp
from variet.engine.scheduler import TierBackend
from variet.shared.config import EngineSettings
from variet.shared.tiers import TierCatalogue, split_host_port

__all__ = ["LlamaServer", "ModelBackend", "SlotBackend", "free_port"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.01
_STATUS_FALLBACK_SECONDS = 0.5
_WATCH_RETRY_SECONDS = 0.2
_BUSY_RETRY_SECONDS = 10.0
_KEEPALIVE_SECONDS = 3.0
_PORT_ATTEMPTS = 3
_START_TIMEOUT = 60.0
_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_LOG_TAIL_BYTES = 4000
_SLOT_LIST_SECONDS = 10.0
_SLOT_ATTEMPTS = 3
_RPC_CHECK_SECONDS = 3.0
_STOP_SECONDS = 10.0


class SlotBackend(Protocol):
    """The slots of a loaded tier's llama-server instance, for saving and restoring prompt caches.

    Called only from the scheduler's swap task, so never while a load or unload runs or concurrently with
    each other, and only for a tier that is loaded and has no request of the engine's running.
    """

    async def slots(self, tier: str) -> list[dict[str, Any]]:
        """The tier's slots as llama-server's `/slots` lists them. Raises `SlotError` or `BackendDown`."""

    async def save_slot(self, tier: str, slot: int, filename: str, *, budget: float) -> dict[str, Any]:
        """Save slot `slot` to `filename` in the tier's `slot-save-path`; returns llama-server's answer
        (`n_saved` tokens, `n_written` bytes). Gives up after `budget` seconds with `SlotError`; llama-server
        may still finish writing the file then. Raises `SlotError` or `BackendDown`."""

    async def restore_slot(self, tier: str, slot: int, filename: str, *, budget: float) -> dict[str, Any]:
        """Restore `filename` into slot `slot`; returns llama-server's answer (`n_restored` tokens, `n_read`
        bytes). Gives up after `budget` seconds with `SlotError`; llama-server may still finish the restore,
        and requests sent meanwhile wait behind it. Raises `SlotError` or `BackendDown`."""


class ModelBackend(TierBackend, SlotBackend, Protocol):
    """The model server behind the engine: a `TierBackend` that also runs as a process and takes relayed requests.

    It publishes `backend_up` and `backend_down` on the engine's event bus; the engine never calls back
    into it for those. The real one is `LlamaServer`; tests pass a fake.
    """

    slot_dirs: dict[str, Path]
    """Each tier's `slot-save-path` for prompt caches, set before `start` when prompt caching is on."""

    @property
    def url(self) -> str:
        """Where it answers (for messages and status)."""

    @property
    def up(self) -> bool:
        """Whether it runs and answers."""

    @property
    def restarts(self) -> int:
        """Restarts after a crash."""

    @property
    def pid(self) -> int | None: ...

    @property
    def log_file(self) -> Path: ...

    @property
    def auth_header(self) -> tuple[str, str]:
        """The header every relayed request carries."""

    @property
    def connect(self) -> Connect:
        """Opens a new connection for one relayed request (the relay's connection factory)."""

    async def start(self) -> None:
        """Start it and return once it takes requests; raises `BackendDown` if it cannot start."""

    async def stop(self) -> None:
        """Stop it and everything it started."""

    def log_tail(self) -> str:
        """The last lines of its log, for error messages."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _check_rpc_worker(tier: str, worker: str) -> None:
    """Raise `TierLoadError` unless the RPC worker accepts a connection.

    llama-server aborts a model instance whose worker it cannot reach ("Failed to connect"), which would read as
    a broken model file; this names the worker instead. Connecting costs the worker nothing: it serves one
    client at a time and moves on to the next when this one closes without a word.
    """
    host, port = split_host_port(worker)
    try:
        async with asyncio.timeout(_RPC_CHECK_SECONDS):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise TierLoadError(
            f"the RPC worker {worker} of tier {tier!r} is not reachable ({exc or 'timed out'}): start "
            f"`variet engine rpc-worker` on that box, or open the SSH tunnel or overlay network that reaches it"
        ) from exc
    writer.close()


class LlamaServer:
    """One supervised llama-server router process and the HTTP client that talks to it."""

    def __init__(
        self,
        binary: Path,
        catalogue: TierCatalogue,
        settings: EngineSettings,
        events: EventBus,
        *,
        slot_dirs: Mapping[str, Path] | None = None,
    ) -> None:
        """Publishes `backend_up` and `backend_down` on `events` (the scheduler listens for them).

        `slot_dirs`: each tier's `slot-save-path` (existing private folders), when prompt caching is on.
        """
        self._binary = binary
        self.slot_dirs = dict(slot_dirs or {})
        """Each tier's `slot-save-path`, when prompt caching is on; the preset written at start names them."""
        self._catalogue = catalogue
        self._settings = settings
        self._events = events
        self.port = settings.backend_port or free_port()
        # Only the engine may talk to llama-server: a per-run key also tells us, should another program
        # grab the port we picked, that what answers there is not our llama-server.
        self._key = os.environ.get("VARIET_BACKEND_API_KEY") or secrets.token_urlsafe(24)
        self._dir = Path(tempfile.mkdtemp(prefix="variet-engine-"))
        self.log_file = self._dir / "llama-server.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._tree = ProcessTree()
        self._supervisor: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._statuses: dict[str, dict[str, Any]] = {}
        """Each model's latest status as told by /models/sse since the stream (re)connected."""
        self._loads_seen: dict[str, int] = {}
        """How many times /models/sse said a model started loading."""
        self._stopping = False
        self.up = False
        self.restarts = 0
        self.pid: int | None = None
        self.client = httpx2.AsyncClient(
            base_url=self.url,
            headers={"authorization": f"Bearer {self._key}"},
            timeout=httpx2.Timeout(10.0, read=None),
            # llama-server (cpp-httplib) closes connections idle for 5 s; expiring ours sooner avoids
            # sending a request down a connection the server is closing.
            limits=httpx2.Limits(
                max_connections=None, max_keepalive_connections=64, keepalive_expiry=_KEEPALIVE_SECONDS
            ),
        )

    @property
    def auth_header(self) -> tuple[str, str]:
        """The header llama-server wants on every request (its per-run API key)."""
        return "authorization", f"Bearer {self._key}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connect(self) -> Tcp:
        return Tcp("127.0.0.1", self.port)

    def command(self) -> list[str]:
        preset = self._dir / "models-preset.ini"
        preset.write_text(render_preset(self._catalogue, self._settings, slot_dirs=self.slot_dirs))
        return [
            str(self._binary),
            "--models-preset", str(preset),
            # Residents stay loaded beside the swap lane; the scheduler frees the lane before each swap.
            "--models-max", str(self._settings.models_max + len(self._catalogue.residents)),
            "--no-models-autoload",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--api-key", self._key,
        ]

    async def start(self) -> None:
        """Start llama-server and wait until it answers /health; then supervise it."""
        for attempt in range(_PORT_ATTEMPTS):
            try:
                await self._spawn()
                break
            except PortTaken:
                self._kill_group()
                if self._settings.backend_port or attempt + 1 == _PORT_ATTEMPTS:
                    message = f"port {self.port} is taken by another program; set [engine] backend_port"
                    raise BackendDown(message) from None
                self._move_port()
        self._supervisor = asyncio.create_task(self._supervise(), name="variet-llama-supervisor")
        self._watcher = asyncio.create_task(self._watch_models(), name="variet-llama-model-events")

    async def _spawn(self) -> None:
        self._tree.close()
        self._tree = tree = ProcessTree()
        with self.log_file.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(), stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, **tree.spawn_options(),
            )
        try:
            tree.adopt(self._proc.pid)
        except OSError:
            tree.kill()
            self._proc.kill()
            raise
        self.pid = self._proc.pid
        log.info("llama-server pid %d on %s (log: %s)", self._proc.pid, self.url, self.log_file)
        await self._wait_healthy(self._proc)
        self.up = True
        self._events.publish(BackendUpEvent(time=time.time(), url=self.url, pid=self._proc.pid))

    async def _wait_healthy(self, proc: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT
        while loop.time() < deadline:
            if proc.returncode is not None:
                raise BackendDown(f"llama-server exited with code {proc.returncode} at start-up: {self.log_tail()}")
            with contextlib.suppress(httpx2.TransportError):
                response = await self.client.get("/health", timeout=2.0)
                if response.status_code == 200:
                    if (await self.client.get("/models", timeout=2.0)).status_code == 401:
                        raise PortTaken
                    return
            await asyncio.sleep(_POLL_SECONDS)
        raise BackendDown(f"llama-server did not become healthy within {_START_TIMEOUT:.0f} s: {self.log_tail()}")

    async def _supervise(self) -> None:
        attempt = 0
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            self.up = False
            self._kill_group()
            log.warning("llama-server exited with code %s; restarting", code)
            self._events.publish(BackendDownEvent(time=time.time(), exit_code=code, log_file=str(self.log_file)))
            while not self._stopping:
                delay = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
                attempt += 1
                await asyncio.sleep(delay)
                try:
                    await self._spawn()
                except (BackendDown, PortTaken) as exc:
                    log.error("restart failed: %s", exc or "the port is taken")
                    self._kill_group()
                    if not self._settings.backend_port:
                        self._move_port()
                    continue
                self.restarts += 1
                attempt = 0
                break

    def _move_port(self) -> None:
        self.port = free_port()
        self.client.base_url = httpx2.URL(self.url)

    def _kill_group(self) -> None:
        self._tree.kill()

    async def _watch_models(self) -> None:
        """Follow llama-server's /models/sse: keep each model's latest status and wake `_until` on a change."""
        while not self._stopping:
            try:
                async with self.client.stream("GET", "/models/sse") as events:
                    self._statuses.clear()  # what changed while disconnected is unknown: ask /models
                    async for line in events.aiter_lines():
                        if line.startswith("data:"):
                            self._note_status(line[5:])
            except httpx2.HTTPError:
                pass
            self._statuses.clear()
            self._changed.set()
            await asyncio.sleep(_WATCH_RETRY_SECONDS)

    def _note_status(self, data: str) -> None:
        """Keep the status carried by one /models/sse event (`model_status` or `status_change`)."""
        with contextlib.suppress(ValueError, AttributeError):
            event = json.loads(data)
            model, status = event.get("model"), event.get("data", {}).get("status")
            if isinstance(model, str) and isinstance(status, str):
                exit_code = event["data"].get("exit_code")
                was = self._statuses.get(model, {}).get("value")
                self._statuses[model] = {"value": status, "exit_code": exit_code}
                if status == "loading":
                    self._loads_seen[model] = self._loads_seen.get(model, 0) + 1
                elif status == "unloaded" and was in ("loaded", None) and exit_code not in (None, 0):
                    # A loaded instance died (a crash, a lost RPC worker): the scheduler forgets it was loaded.
                    # Unknown before (it loaded before this stream connected, as residents do at start-up) counts
                    # too: the scheduler acts only on a tier it holds as loaded.
                    self._events.publish(TierExitedEvent(time=time.time(), tier=model, exit_code=exit_code,
                                                         log_file=str(self.log_file)))
        self._changed.set()

    async def stop(self) -> None:
        """Stop llama-server and its model instances; close the client."""
        self._stopping = True
        for task in (self._supervisor, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        proc = self._proc
        if proc is not None and proc.returncode is None:
            # llama-server stops its model instances when asked (SIGTERM; CTRL_BREAK on Windows); what is
            # left after the bound is killed with the tree.
            if self._tree.interrupt():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), _STOP_SECONDS)
            self._kill_group()
            await proc.wait()
        self._tree.close()
        self.up = False
        await self.client.aclose()

    def log_tail(self) -> str:
        try:
            data = self.log_file.read_bytes()[-_LOG_TAIL_BYTES:]
        except OSError:
            return "(no log)"
        lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
        return " | ".join(lines[-5:])

    async def _post(self, path: str, tier: str) -> httpx2.Response:
        try:
            return await self.client.post(path, json={"model": tier})
        except httpx2.TransportError as exc:
            raise BackendDown(f"llama-server at {self.url} is not answering: {exc}") from exc

    async def _status(self, tier: str, *, fresh: bool = False) -> dict[str, Any]:
        """The tier's status: `value` (loading, loaded, unloaded...) and, once it went down, `exit_code`.

        From the /models/sse stream when it has told us; otherwise (or when `fresh`) from `/models`.
        """
        if not fresh and tier in self._statuses:
            return self._statuses[tier]
        try:
            response = await self.client.get("/models")
        except httpx2.TransportError as exc:
            raise BackendDown(f"llama-server at {self.url} is not answering: {exc}") from exc
        for model in response.json().get("data", []):
            if model.get("id") == tier:
                status: dict[str, Any] = model.get("status", {})
                return status
        raise TierLoadError(f"llama-server does not know tier {tier!r}; check the preset (`variet engine preset`)")

    async def _until(self, tier: str, done: Callable[[dict[str, Any]], Awaitable[bool] | bool]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.load_timeout_seconds
        fresh = False
        while loop.time() < deadline:
            if not self.up:
                raise BackendDown("llama-server went down during the swap")
            self._changed.clear()
            result = done(await self._status(tier, fresh=fresh))
            if result if isinstance(result, bool) else await result:
                return
            # Woken at once by a /models/sse event; should the stream lag, ask /models now and then.
            try:
                await asyncio.wait_for(self._changed.wait(), _STATUS_FALLBACK_SECONDS)
                fresh = False
            except TimeoutError:
                fresh = True
        raise TierLoadError(f"tier {tier!r} did not finish within {self._settings.load_timeout_seconds:.0f} s")

    async def start_load(self, tier: str, *, by_requests: bool = False) -> None:
        path = self._catalogue.model_path(tier)
        if not path.is_file():
            raise TierLoadError(
                f"model file for tier {tier!r} is missing: {path} (set `model` for [tiers.{tier}] in "
                f"{self._catalogue.source or 'tiers.toml'} or put the GGUF file there)"
            )
        for worker in self._catalogue.tiers[tier].rpc:
            await _check_rpc_worker(tier, worker)
        if not by_requests:
            await self._post_load(tier)

    async def _post_load(self, tier: str) -> None:
        self._statuses.pop(tier, None)  # an old failure on record must not pass for this load's
        # With --models-max 1 llama-server evicts the idle tier itself. It answers "model limit reached"
        # while the old tier still finishes a request the engine already counted as done: retry briefly.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _BUSY_RETRY_SECONDS
        while True:
            response = await self._post("/models/load", tier)
            if response.status_code < 400 or "already running" in response.text:
                return  # already running: a request's autoload started it; `until_loaded` follows it
            if "limit" not in response.text or loop.time() > deadline:
                raise TierLoadError(f"llama-server refused to load {tier!r}: {response.text[:300]}")
            await asyncio.sleep(_POLL_SECONDS)

    async def until_loaded(self, tier: str, *, requested: Callable[[], bool] = lambda: False) -> None:
        started = not requested()  # else the load starts when the first request reaches llama-server
        loads_before = self._loads_seen.get(tier, 0)

        async def loaded(status: dict[str, Any]) -> bool:
            nonlocal started
            value = status.get("value")
            if value == "loaded":
                return True
            if value == "loading" or self._loads_seen.get(tier, 0) > loads_before:
                started = True
            elif value == "unloaded" and not started:
                # No load yet: an earlier failure on record is not this one's. Should every request
                # that was to start it have gone (their clients left), start it here.
                if not requested():
                    await self._post_load(tier)
                    started = True
                return False
            failed = status.get("failed") or status.get("exit_code") not in (None, 0)
            if value == "unloaded" and failed:
                workers = self._catalogue.tiers[tier].rpc
                also = (f", and that its RPC workers ({', '.join(workers)}) run the same llama.cpp build"
                        if workers else "")
                raise TierLoadError(
                    f"llama-server failed to load tier {tier!r} from {self._catalogue.model_path(tier)} (exit "
                    f"code {status.get('exit_code')}); check that it is a complete GGUF file{also}. Its log: "
                    f"{self.log_tail()}"
                )
            return False

        await self._until(tier, loaded)

    async def unload(self, tier: str) -> None:
        response = await self._post("/models/unload", tier)
        if response.status_code >= 400 and "not" not in response.text:
            log.warning("unload of %s answered %s: %s", tier, response.status_code, response.text[:200])
        await self._until(tier, lambda status: status.get("value") in ("unloaded", None))

    async def _slot_call(self, tier: str, path: str, body: dict[str, Any] | None, budget: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        for attempt in range(_SLOT_ATTEMPTS):
            try:
                left = max(0.1, deadline - loop.time())
                if body is None:
                    response = await self.client.get(path, params={"model": tier}, timeout=left)
                else:
                    response = await self.client.post(path, json={"model": tier, **body}, timeout=left)
                break
            except httpx2.TimeoutException as exc:
                raise SlotError(f"llama-server did not answer {path} for {tier!r} within {budget:.1f} s") from exc
            except httpx2.RemoteProtocolError as exc:
                # llama-server's router now and then closes a kept-alive connection as the request arrives,
                # before it reaches the instance (as the relay sees too): sending it again is safe.
                if attempt + 1 == _SLOT_ATTEMPTS:
                    raise BackendDown(f"llama-server at {self.url} is not answering: {exc}") from exc
            except httpx2.TransportError as exc:
                raise BackendDown(f"llama-server at {self.url} is not answering: {exc}") from exc
        if response.status_code >= 400:
            raise SlotError(f"llama-server answered {path} for {tier!r} with {response.status_code}: "
                            f"{response.text[:300]}")
        try:
            return response.json()
        except ValueError as exc:
            raise SlotError(f"llama-server answered {path} for {tier!r} with something not JSON") from exc

    async def slots(self, tier: str) -> list[dict[str, Any]]:
        data = await self._slot_call(tier, "/slots", None, _SLOT_LIST_SECONDS)
        if not isinstance(data, list):
            raise SlotError(f"llama-server's /slots for {tier!r} is not a list")
        return data

    async def save_slot(self, tier: str, slot: int, filename: str, *, budget: float) -> dict[str, Any]:
        return _mapping(await self._slot_call(tier, f"/slots/{slot}?action=save", {"filename": filename}, budget))

    async def restore_slot(self, tier: str, slot: int, filename: str, *, budget: float) -> dict[str, Any]:
        answer = await self._slot_call(tier, f"/slots/{slot}?action=restore", {"filename": filename}, budget)
        return _mapping(answer)


def _mapping(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise SlotError(f"llama-server's slot answer is not an object: {str(answer)[:200]}")
    return answer
