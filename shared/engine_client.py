"""An async client for the engine's HTTP API, used by the MCP servers, the CLI and the front doors.

Answers come back as the contract's models (`variet.contract`). HTTP failures are translated here, once,
into `variet.shared.errors`: `EngineUnreachable` (nothing at the URL), `EngineAuthError` (401) and
`EngineError` (any other error answer, with the engine's message).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from variet.shared.config import Settings
from variet.shared.errors import EngineAuthError, EngineError, EngineUnreachable
from variet.shared.http import LazyAsyncClient

if TYPE_CHECKING:
    from variet.contract import EngineEvent, EngineStatus, LoadAnswer, ModelList, UnloadAnswer

__all__ = ["Completion", "EngineClient", "ProgressFn", "SwapWait"]

_STATUS_POLL_SECONDS = 0.1
_PROGRESS_EVERY_SECONDS = 1.0
_PROGRESS_EVERY_TOKENS = 64

ProgressFn = Callable[[float, float | None, str], Awaitable[None]]
"""`progress(done, total, message)`, as MCP progress notifications take it."""


@dataclass(frozen=True)
class Completion:
    """A finished completion with the numbers a user cares about."""

    text: str
    tier: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    time_to_first_token: float | None
    tokens_per_second: float | None
    seconds: float


@dataclass(frozen=True)
class SwapWait:
    """The outcome of waiting for a tier to load."""

    tier: str
    loaded: bool
    waited_seconds: float
    state: str
    error: str | None = None
    swap_seconds: float | None = None
    """How long the engine's own swap took (None when the tier was already loaded)."""


class EngineClient:
    """Talks to one engine. Pass `transport=` in tests to reach an in-process app."""

    def __init__(self, url: str, api_key: str | None = None, *, transport: httpx2.AsyncBaseTransport | None = None,
                 timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._lazy = LazyAsyncClient(
            base_url=self.url, headers=headers, transport=transport, timeout=httpx2.Timeout(timeout, read=None)
        )
        self._has_key = api_key is not None

    @property
    def _http(self) -> httpx2.AsyncClient:
        return self._lazy.client

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> EngineClient:
        return cls(settings.engine.url, settings.engine_api_key(), **kwargs)

    async def aclose(self) -> None:
        await self._lazy.aclose()

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _unreachable(self, exc: Exception) -> EngineUnreachable:
        return EngineUnreachable(
            f"no Variet engine answers at {self.url} ({type(exc).__name__}). Start it on the inference machine "
            "with `variet engine serve`, or point [engine] url / VARIET_ENGINE_URL at it."
        )

    def _check(self, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        try:
            error = response.json().get("error", {})
            message = error.get("message") if isinstance(error, dict) else str(error)
        except ValueError:
            message = response.text[:300]
        if response.status_code == 401:
            hint = "rejected" if self._has_key else "missing"
            raise EngineAuthError(
                f"the engine at {self.url} says the API key is {hint}: set VARIET_ENGINE_API_KEY (or "
                "[engine] api_key_file) to the engine's key",
                status=401,
            )
        raise EngineError(message or f"HTTP {response.status_code}", status=response.status_code)

    @contextlib.asynccontextmanager
    async def _opened(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx2.Response]:
        """The response to one request, its body still to read. A kept-alive connection the engine had closed
        while it sat idle in the pool (uvicorn closes them after 5 s) fails before any byte of an answer: the
        request is sent once more, on a fresh connection."""
        request = self._http.build_request(method, path, **kwargs)
        try:
            response = await self._http.send(request, stream=True)
        except httpx2.RemoteProtocolError:
            response = await self._http.send(request, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._opened(method, path, **kwargs) as response:
                await response.aread()
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from exc
        self._check(response)
        return response.json()

    # The contract's models are imported on first use: a server answers tools/list before it calls the engine.

    async def status(self) -> EngineStatus:
        from variet.contract import EngineStatus

        return EngineStatus.model_validate(await self._request("GET", "/variet/status"))

    async def models(self) -> ModelList:
        from variet.contract import ModelList

        return ModelList.model_validate(await self._request("GET", "/v1/models"))

    async def load(self, tier: str) -> LoadAnswer:
        from variet.contract import LoadAnswer

        return LoadAnswer.model_validate(await self._request("POST", f"/variet/tiers/{tier}/load"))

    async def unload(self) -> UnloadAnswer:
        from variet.contract import UnloadAnswer

        return UnloadAnswer.model_validate(await self._request("POST", "/variet/unload"))

    async def events(self) -> AsyncIterator[EngineEvent]:
        """The engine's events as they happen, starting with `subscribed` (the whole status); unknown kinds skipped.

        Ends when the engine closes the stream; raises `EngineUnreachable` if it cannot connect.
        """
        from variet.contract import parse_event

        try:
            async with self._opened("GET", "/variet/events") as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._check(response)
                async for line in response.aiter_lines():
                    if line.startswith("data:") and (event := parse_event(line[5:])) is not None:
                        yield event
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from exc

    async def ensure_loaded(self, tier: str, *, wait: float, progress: ProgressFn | None = None) -> SwapWait:
        """Start a swap to `tier` (idempotent) and wait up to `wait` seconds for it, reporting progress."""
        started = time.monotonic()
        previous = (await self.status()).tier(tier).last_swap
        await self.load(tier)
        last_report = -_PROGRESS_EVERY_SECONDS
        while True:
            status = await self.status()
            elapsed = time.monotonic() - started
            info = status.tier(tier)
            swap = info.last_swap
            if _ready(status, tier):
                took = swap.seconds if swap is not None and swap != previous and swap.ok else None
                return SwapWait(tier, True, elapsed, "loaded", swap_seconds=took)
            if swap is not None and swap != previous and not swap.ok:
                return SwapWait(tier, False, elapsed, "failed", swap.error)
            if elapsed >= wait:
                return SwapWait(tier, False, elapsed, status.state)
            if progress is not None and elapsed - last_report >= _PROGRESS_EVERY_SECONDS:
                last_report = elapsed
                expected = info.expected_load_seconds or None
                ahead = status.tiers[status.loaded].in_flight if status.loaded in status.tiers else 0
                note = f"; waiting for {ahead} request(s) on {status.loaded}" if ahead else ""
                message = f"loading {tier}: {elapsed:.1f} s (expected ~{expected or 0:.3g} s){note}"
                await progress(elapsed, expected, message)
            await _pause()

    async def chat(self, messages: list[dict[str, Any]], *, tier: str, max_tokens: int, temperature: float,
                   progress: ProgressFn | None = None, **extra: Any) -> Completion:
        body = {"model": tier, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                "stream": True, **extra}
        return await self._stream("/v1/chat/completions", body, max_tokens, progress, chat=True)

    async def complete(self, prompt: str, *, tier: str, max_tokens: int, temperature: float,
                       progress: ProgressFn | None = None, **extra: Any) -> Completion:
        body = {"model": tier, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
                "stream": True, **extra}
        return await self._stream("/v1/completions", body, max_tokens, progress, chat=False)

    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Each chunk of one streamed `/v1/chat/completions` call, as parsed JSON (`stream` is set here).

        For callers that need more than `chat` collects: tool calls, text as it arrives. Every chunk names the
        tier in `model`. Failures raise `EngineError` and its subclasses, as the other calls do.
        """
        try:
            async with self._opened("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._check(response)
                async for line in response.aiter_lines():
                    data = line[5:].strip() if line.startswith("data:") else ""
                    if data == "[DONE]":
                        return
                    if data:
                        chunk = json.loads(data)
                        if "error" in chunk:
                            raise EngineError(str(chunk["error"].get("message", chunk["error"])))
                        yield chunk
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from exc

    async def _stream(self, path: str, body: dict[str, Any], max_tokens: int, progress: ProgressFn | None,
                      *, chat: bool) -> Completion:
        started = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        tokens = 0
        finish: str | None = None
        tier = str(body["model"])
        timings: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        try:
            async with self._opened("POST", path, json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._check(response)
                tier = response.headers.get("x-variet-tier", tier)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise EngineError(str(chunk["error"].get("message", chunk["error"])))
                    timings = chunk.get("timings") or timings
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices", []):
                        piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                        if piece:
                            if first is None:
                                first = time.monotonic() - started
                            parts.append(piece)
                            tokens += 1
                            if progress is not None and tokens % _PROGRESS_EVERY_TOKENS == 0:
                                await progress(tokens, max_tokens, f"{tokens} tokens generated on {tier}")
                        finish = choice.get("finish_reason") or finish
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from exc
        seconds = time.monotonic() - started
        speed = timings.get("predicted_per_second")
        return Completion(
            text="".join(parts),
            tier=tier,
            finish_reason=finish,
            prompt_tokens=usage.get("prompt_tokens", timings.get("prompt_n")),
            completion_tokens=usage.get("completion_tokens", timings.get("predicted_n", tokens)),
            time_to_first_token=None if first is None else round(first, 4),
            tokens_per_second=None if speed is None else round(float(speed), 1),
            seconds=round(seconds, 4),
        )


def _ready(status: EngineStatus, tier: str) -> bool:
    from variet.contract import LOCAL_BOX

    """Whether `tier` is loaded and no swap is under way on its box (a peer's tier: as the engine last saw it)."""
    info = status.tier(tier)
    if info.box != LOCAL_BOX:
        return info.loaded and info.box_up
    return status.loaded == tier and status.swapping is None


async def _pause() -> None:
    import anyio

    await anyio.sleep(_STATUS_POLL_SECONDS)
