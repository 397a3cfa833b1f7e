"""The engine's core: settings, tiers, the model backend, the scheduler, peers, counters and the status view.

No HTTP here. The app (`variet.engine.http.app`) serves this object, the relay (`variet.engine.http.relay`) runs
completions through it, and both read it; nothing here reads them back, so imports run one way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx2

from variet.contract import (
    AUTO_MODEL,
    BackendInfo,
    EngineStatus,
    LoadAnswer,
    ModelEntry,
    ModelList,
    SwapInfo,
    SwappingInfo,
    TierFacts,
    TierState,
    UnloadAnswer,
)
from variet.engine.errors import BackendDown, UnknownTier
from variet.engine.events import EventBus
from variet.engine.llama.backend import LlamaServer, ModelBackend
from variet.engine.llama.memory import TierNeed, tier_need
from variet.engine.peers.registry import Peer, Peers
from variet.engine.prompts.cache import PromptCache, open_prompt_cache
from variet.engine.scheduler import ResidentLoad, SwapRecord, TierScheduler
from variet.shared.config import Settings
from variet.shared.tiers import TierCatalogue

__all__ = ["Engine", "Router", "TierStats", "engine_version"]

_EMA = 0.3
"""Weight of the newest measurement in a tier's decode and prompt speeds."""
_PROMPT_SPEED_MIN_TOKENS = 256
"""Shorter prompts say more about per-request overhead than about prompt speed."""


Router = Callable[[dict[str, Any], "Engine"], tuple[str, dict[str, Any]]]
"""Picks a tier for `model: "auto"`: returns the tier and a JSON-able explanation; ValueError if it cannot."""


def engine_version() -> str:
    try:
        return version("variet")
    except PackageNotFoundError:
        return "0"


@dataclass
class TierStats:
    """Counters for one tier since the engine started."""

    requests: int = 0
    errors: int = 0
    tokens_per_second: float | None = None
    tokens: int = 0
    prompt_tokens_per_second: float | None = None


class Engine:
    """Everything the engine knows at run time. Pass `backend` to run against a fake model server, and
    `peer_transport` to poll peers through a test transport.

    Building one reads no file: `start` (the app's lifespan) acquires what it holds while it runs (the prompt
    cache folder, the tiers' memory needs), off the event loop. Secrets come in read: `api_key`, and
    `peer_keys` by peer name.
    """

    def __init__(self, settings: Settings, catalogue: TierCatalogue, *, binary: Path | None = None,
                 backend: ModelBackend | None = None, api_key: str | None = None,
                 peer_keys: Mapping[str, str | None] | None = None, events: EventBus | None = None,
                 peer_transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.api_key = api_key
        self.events = events or EventBus()
        self.started = time.time()
        self.version = engine_version()
        tiers = list(catalogue.tiers)
        self.stats = {tier: TierStats() for tier in tiers}
        self.prompt_cache: PromptCache | None = None
        """Opened at start when `[engine] prompt_cache_enabled` and its folder is usable."""
        if backend is None:
            if binary is None:
                raise ValueError("Engine needs a llama-server `binary` or a `backend`")
            backend = LlamaServer(binary, catalogue, settings.engine, self.events)
        self.backend: ModelBackend = backend
        self.scheduler = TierScheduler(
            tiers,
            backend,
            self.events,
            max_wait=settings.engine.max_wait_seconds,
            gather=settings.engine.swap_gather_seconds,
            expected_swap_seconds={name: tier.load_seconds for name, tier in catalogue.tiers.items()},
            residents=catalogue.residents,
        )
        self._routing: tuple[TierCatalogue, TierCatalogue] | None = None
        self.memory_needs: dict[str, TierNeed] = {}
        """What each tier needs per GPU (declared or estimated), read once at start."""
        keys = peer_keys or {}
        peers = [Peer(peer, keys.get(peer.name), transport=peer_transport) for peer in settings.engine.peers]
        self.peers = Peers(peers, catalogue, self.events)
        """Other boxes' engines whose tiers this one serves too (`[[engine.peers]]`)."""

    async def start(self) -> None:
        """Acquire what the engine holds while it runs, off the event loop, then start its parts."""
        # Reading the model files' headers takes a moment for a large vocabulary: beside llama-server's start.
        needs = asyncio.ensure_future(asyncio.to_thread(self._read_memory_needs))
        try:
            await self._open_prompt_cache()
            self.scheduler.start()
            await self.peers.start()
            await self.backend.start()
        finally:
            self.memory_needs = await needs

    async def stop(self) -> None:
        await self.peers.stop()
        await self.scheduler.stop()
        await self.backend.stop()
        if self.prompt_cache is not None:
            await asyncio.to_thread(self.prompt_cache.close)

    def _read_memory_needs(self) -> dict[str, TierNeed]:
        """Reads the header of every tier's model file that does not declare its memory."""
        return {name: tier_need(self.catalogue, name) for name in self.catalogue.tiers}

    async def _open_prompt_cache(self) -> None:
        settings = self.settings.engine
        if not settings.prompt_cache_enabled:
            return
        cache = await open_prompt_cache(settings, self.settings.relative_path(settings.prompt_cache_dir),
                                        self.catalogue, self.backend, self.events, self.prompt_speed)
        if cache is not None:
            self.prompt_cache = cache
            self.backend.slot_dirs = cache.slot_dirs  # before it starts: its preset names them
            self.scheduler.use_hooks(cache)

    @property
    def loaded(self) -> str | None:
        """The local tier loaded now (None while nothing is, or during a swap)."""
        return self.scheduler.loaded

    def current_tier(self) -> str | None:
        """The swapping lane's tier now or next: the one loaded or being loaded, else the one most waited for."""
        scheduler = self.scheduler
        current = scheduler.swapping_to or scheduler.loaded
        if current is None:
            waiting = {tier: scheduler.queued(tier) for tier in self.catalogue.tiers}
            busiest = max(waiting, key=lambda tier: waiting[tier])
            current = busiest if waiting[busiest] else None
        return current

    def is_resident(self, tier: str) -> bool:
        """Whether local tier `tier` stays loaded beside the swapping one."""
        return self.scheduler.is_resident(tier)

    def ready_now(self, tier: str) -> bool:
        """Whether a request for local tier `tier` finds it loaded, with no swap to wait for."""
        scheduler = self.scheduler
        if scheduler.is_resident(tier):
            return scheduler.is_loaded(tier)
        return scheduler.loaded == tier

    def count_request(self, tier: str) -> None:
        """A request for local tier `tier` arrived."""
        self.stats[tier].requests += 1

    def count_failure(self, tier: str) -> None:
        """A request for local tier `tier` failed (the client got no 200, or a stream broke off)."""
        self.stats[tier].errors += 1

    def last_swap(self, tier: str) -> SwapRecord | None:
        return self.scheduler.stats.last_swap.get(tier)

    def swap_totals(self) -> tuple[int, int]:
        """Swaps done and swaps failed since the engine started."""
        stats = self.scheduler.stats
        return stats.swaps, stats.failed_swaps

    async def load(self, name: str) -> LoadAnswer:
        """Load a tier ahead of its requests: a local one through the scheduler, a peer's by asking the peer (which
        swaps its own tiers). Raises `UnknownTier`, `BackendDown` or `PeerUnavailable`."""
        scheduler = self.scheduler
        if name not in self.catalogue.tiers:
            remote = self.peers.lookup(name)
            if remote is None:
                known = [*self.catalogue.tiers, *self.peers.names()]
                raise UnknownTier(f"unknown tier {name!r}: use one of {', '.join(known)}")
            return await self.peers.load(remote)
        if scheduler.down:
            raise BackendDown("llama-server is down; the engine is restarting it")
        started = scheduler.request_load(name)
        done = scheduler.is_loaded(name) and not scheduler.pending_load(name)
        return LoadAnswer(tier=name, state="loaded" if done else "loading", started=started)

    def unload(self) -> UnloadAnswer:
        """Unload the loaded tier once it is idle and nothing else waits."""
        self.scheduler.request_unload()
        return UnloadAnswer(tier=self.scheduler.loaded)

    def valid_names(self) -> list[str]:
        """Every model name a request may use: local tiers and aliases, then peer tiers."""
        names = list(self.catalogue.tiers)
        for tier in self.catalogue.tiers.values():
            names += tier.aliases
        return names + self.peers.names()

    def routing_catalogue(self) -> TierCatalogue:
        """The tiers `auto` chooses from: local ones, and those of peers that are up; never a tier without
        strengths (such as a resident that only takes fill-in-the-middle requests)."""
        catalogue = self.peers.routing_catalogue()
        if all(tier.strengths for tier in catalogue.tiers.values()):
            return catalogue
        if self._routing is None or self._routing[0] is not catalogue:
            kept = {name: tier for name, tier in catalogue.tiers.items() if tier.strengths}
            self._routing = (catalogue, catalogue.model_copy(update={"tiers": kept}))
        return self._routing[1]

    def record_speed(self, tier: str, timings: dict[str, Any]) -> None:
        """Fold llama-server's `timings` of one answer into the tier's measured decode and prompt speeds."""
        stats = self.stats[tier]
        prompt_speed, prompt_count = timings.get("prompt_per_second"), timings.get("prompt_n")
        if isinstance(prompt_speed, int | float) and isinstance(prompt_count, int) and \
                prompt_count >= _PROMPT_SPEED_MIN_TOKENS:
            stats.prompt_tokens_per_second = _ema(stats.prompt_tokens_per_second, prompt_speed)
        speed = timings.get("predicted_per_second")
        count = timings.get("predicted_n")
        if not isinstance(speed, int | float) or not isinstance(count, int) or count < 2:
            return
        stats.tokens += count
        stats.tokens_per_second = _ema(stats.tokens_per_second, speed)

    def prompt_speed(self, tier: str) -> float | None:
        """The tier's measured prompt processing speed (tokens per second), when long prompts were measured."""
        stats = self.stats.get(tier)
        return None if stats is None else stats.prompt_tokens_per_second

    def _tier_state(self, name: str) -> TierState:
        scheduler, tier, stats = self.scheduler, self.catalogue.tiers[name], self.stats[name]
        swap: SwapRecord | ResidentLoad | None = self.last_swap(name)
        if tier.resident:
            swap = scheduler.stats.resident_loads.get(name)
        path = self.catalogue.model_path(name)
        return TierState(
            loaded=scheduler.is_loaded(name),
            queued=scheduler.queued(name),
            in_flight=scheduler.in_flight(name),
            expected_tokens_per_second=tier.tokens_per_second,
            measured_tokens_per_second=_round(stats.tokens_per_second),
            expected_load_seconds=tier.load_seconds,
            last_swap=None if swap is None else SwapInfo(
                at=swap.started, seconds=round(swap.seconds, 3), ok=swap.ok, error=swap.error),
            requests=stats.requests,
            errors=stats.errors,
            model_file=path.name,
            context=tier.context,
            model_file_present=path.is_file(),
            measured_prompt_tokens_per_second=_round(stats.prompt_tokens_per_second),
            prompt_cache=None if self.prompt_cache is None else self.prompt_cache.info(name),
            resident=tier.resident,
            fim=tier.fim,
            memory_gb=[need.per_gpu[gpu] for gpu in tier.gpus if gpu in need.per_gpu]
            if (need := self.memory_needs.get(name)) else [],
        )

    def status(self) -> EngineStatus:
        scheduler = self.scheduler
        tiers = {name: self._tier_state(name) for name in self.catalogue.tiers}
        local = list(tiers.values())
        tiers.update(self.peers.tier_states())
        swapping = None
        if scheduler.swapping_to is not None and scheduler.swap_started is not None:
            swapping = SwappingInfo(
                tier=scheduler.swapping_to,
                elapsed_seconds=round(time.monotonic() - scheduler.swap_started, 3),
                expected_seconds=round(scheduler.swap_seconds[scheduler.swapping_to], 3),
            )
        backend = self.backend
        swaps, failed_swaps = self.swap_totals()
        return EngineStatus(
            loaded=scheduler.loaded,
            state=scheduler.state,
            swapping=swapping,
            queued=sum(state.queued for state in local),
            in_flight=sum(state.in_flight for state in local),
            swaps=swaps,
            failed_swaps=failed_swaps,
            backend=BackendInfo(url=backend.url, up=backend.up, restarts=backend.restarts, pid=backend.pid),
            tiers=tiers,
            uptime_seconds=round(time.time() - self.started, 1),
            version=self.version,
            prompt_cache=None if self.prompt_cache is None else self.prompt_cache.totals(),
            peers=self.peers.infos(),
            residents=list(scheduler.residents),
            residents_loaded=[tier for tier in scheduler.residents if scheduler.is_loaded(tier)],
        )

    def models(self, *, with_auto: bool) -> ModelList:
        """The `/v1/models` list: every tier with its facts, then `auto` when a router is on."""
        created = int(self.started)
        data = [
            ModelEntry(
                id=name,
                created=created,
                description=tier.description,
                aliases=list(tier.aliases),
                loaded=self.scheduler.is_loaded(name),
                tier=TierFacts(
                    model_file=Path(tier.model).name,
                    context=tier.context,
                    max_output_tokens=tier.context,
                    gpus=list(tier.gpus),
                    split=tier.split if len(tier.gpus) > 1 else None,
                    strengths=list(tier.strengths),
                    expected_tokens_per_second=tier.tokens_per_second,
                    expected_load_seconds=tier.load_seconds,
                    resident=tier.resident,
                    fim=tier.fim,
                ),
            )
            for name, tier in self.catalogue.tiers.items()
        ]
        data += self.peers.model_entries()
        if with_auto:
            data.append(ModelEntry(id=AUTO_MODEL, created=created,
                                   description="Variet picks the tier for each request (swap-aware router)."))
        return ModelList(data=data)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ema(previous: float | None, value: float) -> float:
    return value if previous is None else (1 - _EMA) * previous + _EMA * value
