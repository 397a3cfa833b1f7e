"""Prompt caches that survive a swap: save a tier's long prefixes before it is evicted, restore them when a
request continuing one brings the tier back.

`PromptCache` is the scheduler's `SwapHooks`. It remembers the last answers relayed on each tier (cheaply:
references to the request and the answer's first and last bytes, read only when a save needs them), saves
the matching slots through llama-server's slot save before the tier is evicted, and after the tier loads
again restores the entries that the waiting requests continue (`variet.engine.prompts.policy` decides what;
`variet.engine.prompts.store` keeps the files). Every save, restore and skip is published as an event,
counted for `/metrics` and shown in the status.

Nothing here fails a request: a save or restore that fails, would take longer than processing the prompt
again, or finds a changed model, another context size or a damaged file is skipped and reported, and the
requests are served with the prefix processed again. The store's index lives in memory (the folder is
locked to this engine); each entry's metadata and file are checked on disk again before a restore.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from variet.contract import (
    PromptCacheInfo,
    PromptCacheOp,
    PromptCacheRestoredEvent,
    PromptCacheSavedEvent,
    PromptCacheSkippedEvent,
    PromptCacheTotals,
    SavedPrefix,
)
from variet.engine.errors import BackendDown, PromptStoreUnusable, SlotError
from variet.engine.events import EventBus
from variet.engine.llama.backend import SlotBackend
from variet.engine.prompts.policy import (
    Answered,
    Restore,
    SavePlan,
    answer_tokens,
    budget_seconds,
    cached_tokens,
    matched_tokens,
    plan_restores,
    plan_saves,
    slot_views,
    unusable,
)
from variet.engine.prompts.prefixes import PrefixChain, prefix_chain
from variet.engine.prompts.store import (
    CacheEntry,
    ModelFingerprint,
    PromptStore,
    file_digest,
    lru_victims,
)
from variet.shared.config import EngineSettings
from variet.shared.tiers import TierCatalogue

__all__ = ["OpenedFolder", "PromptCache", "RestorePlan", "open_folder", "open_prompt_cache"]

log = logging.getLogger(__name__)

_ANSWERS_KEPT = 8
"""Recent answers remembered per tier (a tier has 4 slots by default)."""
_MAX_RESTORES = 4
_DISK_RESERVE_BYTES = 1 << 30
"""A save never leaves less free disk space than this."""
_EMA = 0.3
PromptSpeed = Callable[[str], float | None]
"""The tier's measured prompt speed (tokens per second), or None."""
Action = Literal["save", "restore"]


@dataclass(frozen=True)
class RestorePlan:
    """What `after_load` restores."""

    restores: list[Restore]


@dataclass
class _Noted:
    payload: dict[str, Any]
    head: bytes
    tail: bytes
    at: float


@dataclass
class _TierCounts:
    saves: int = 0
    restores: int = 0
    skips: dict[tuple[str, str], int] = field(default_factory=dict)
    saved_bytes: int = 0
    restored_bytes: int = 0
    restored_tokens: int = 0
    unused_restores: int = 0
    last_save: PromptCacheOp | None = None
    last_restore: PromptCacheOp | None = None
    last_skip: str | None = None


@dataclass
class OpenedFolder:
    """The prompt cache folder, locked, scanned and tidied."""

    store: PromptStore
    slot_dirs: dict[str, Path]
    entries: list[CacheEntry]
    stale: list[CacheEntry]
    """Removed: their model file changed since they were saved."""
    evicted: list[CacheEntry]
    """Removed: over the size cap, least recently used first."""


def open_folder(root: Path, catalogue: TierCatalogue, max_bytes: int) -> OpenedFolder | str:
    """Lock and scan the folder, removing what cannot be restored any more; or why it cannot be used.

    Blocking file work (a lock, a read of every entry, a stat of every model file, deletes): run it in a
    worker thread."""
    store = PromptStore(root)
    try:
        store.open()
        dirs = {tier: store.tier_dir(tier) for tier in catalogue.tiers}
    except PromptStoreUnusable as exc:
        store.close()
        return str(exc)
    scan = store.scan()
    if scan.broken or scan.orphans:
        log.warning("prompt cache: removed %d unreadable entries and %d files without metadata in %s",
                    len(scan.broken), len(scan.orphans), store.root)
    entries: list[CacheEntry] = []
    stale: list[CacheEntry] = []
    for entry in scan.entries:
        (entries if ModelFingerprint.of(Path(entry.model.path)) == entry.model else stale).append(entry)
    evicted = lru_victims(entries, max_bytes)
    for entry in [*stale, *evicted]:
        store.remove(entry)
    gone = {entry.id for entry in evicted}
    return OpenedFolder(store, dirs, [entry for entry in entries if entry.id not in gone], stale, evicted)


async def open_prompt_cache(settings: EngineSettings, root: Path, catalogue: TierCatalogue, backend: SlotBackend,
                            events: EventBus, prompt_speed: PromptSpeed) -> PromptCache | None:
    """The engine's prompt cache in `root`, or None (with a warning saying why) when the folder is unusable.
    The folder is opened off the event loop."""
    opened = await asyncio.to_thread(open_folder, root, catalogue, settings.prompt_cache_max_bytes)
    if isinstance(opened, str):
        log.warning("prompt caching is off: %s", opened)
        return None
    return PromptCache(settings, opened, catalogue, backend, events, prompt_speed)


class PromptCache:
    """Saves and restores prompt caches around swaps (the scheduler's `SwapHooks`)."""

    def __init__(self, settings: EngineSettings, folder: OpenedFolder, catalogue: TierCatalogue,
                 backend: SlotBackend, events: EventBus, prompt_speed: PromptSpeed) -> None:
        self.store = folder.store
        self.slot_dirs = folder.slot_dirs
        """Each tier's `slot-save-path`."""
        self.max_bytes = settings.prompt_cache_max_bytes
        self.min_tokens = settings.prompt_cache_min_tokens
        self._catalogue = catalogue
        self._backend = backend
        self._events = events
        self._prompt_speed = prompt_speed
        self._answers: dict[str, deque[_Noted]] = {tier: deque(maxlen=_ANSWERS_KEPT) for tier in catalogue.tiers}
        self._loaded_model: dict[str, ModelFingerprint | None] = {}
        self._restored: dict[str, CacheEntry] = {}
        """The entry last restored into a tier, until an answer continuing it shows whether it was reused."""
        self.counts = {tier: _TierCounts() for tier in catalogue.tiers}
        self.evictions = 0
        self.write_bytes_per_second: float | None = None
        self.read_bytes_per_second: float | None = None
        self._entries = {entry.id: entry for entry in folder.entries}
        for entry in folder.stale:
            if entry.tier in self.counts:
                self._skip(entry.tier, "restore", "model_changed",
                           f"the model file {entry.model.path} changed since the prefix was saved", entry.tokens)
        for victim in folder.evicted:
            self._count_eviction(victim)

    def close(self) -> None:
        self.store.close()

    def note_answer(self, tier: str, payload: dict[str, Any], head: bytes, tail: bytes) -> None:
        """Remember an answer relayed on `tier` to a request with body `payload` (constant time: nothing is read
        until a save needs it)."""
        answers = self._answers.get(tier)
        if answers is not None:
            answers.append(_Noted(payload, head, tail, time.time()))
        restored = self._restored.get(tier)
        if restored is not None and matched_tokens(restored, prefix_chain(payload)) >= self.min_tokens:
            del self._restored[tier]
            self._check_reuse(tier, restored.tokens, cached_tokens(head, tail))

    def _check_reuse(self, tier: str, restored: int, cached: int | None) -> None:
        """Count a restore whose tokens llama-server did not reuse for the first answer that continued it."""
        if cached is None or cached * 2 >= restored:
            return
        self.counts[tier].unused_restores += 1
        log.warning("prompt cache: %d tokens were restored into %s, but llama-server reused only %d for the next "
                    "answer: the prompt differs from the saved one before its end (with sliding-window or hybrid "
                    "models llama-server then processes it all again)", restored, tier, cached)

    def entries(self, tier: str) -> list[CacheEntry]:
        """The tier's saved prefixes, most recently used first."""
        found = [entry for entry in self._entries.values() if entry.tier == tier]
        return sorted(found, key=lambda entry: -entry.last_used)

    def info(self, tier: str) -> PromptCacheInfo:
        entries, counts = self.entries(tier), self.counts[tier]
        return PromptCacheInfo(
            prefixes=[SavedPrefix(tokens=e.tokens, bytes=e.bytes, saved_at=round(e.saved_at, 3),
                                  last_used=round(e.last_used, 3)) for e in entries],
            tokens=sum(e.tokens for e in entries), bytes=sum(e.bytes for e in entries),
            saves=counts.saves, restores=counts.restores, skips=sum(counts.skips.values()),
            unused_restores=counts.unused_restores,
            last_save=counts.last_save, last_restore=counts.last_restore, last_skip=counts.last_skip,
        )

    def totals(self) -> PromptCacheTotals:
        return PromptCacheTotals(dir=str(self.store.root), bytes=sum(e.bytes for e in self._entries.values()),
                                 max_bytes=self.max_bytes, prefixes=len(self._entries))

    def restore_estimate(self, tier: str, chain: PrefixChain) -> tuple[int, float] | None:
        """For a request with this chain, the saved prefix of `tier` that would be restored: (tokens it covers,
        expected seconds to restore it), or None. For the router's cost model; nothing is read from disk."""
        if tier not in self.counts:
            return None
        context = self._catalogue.tiers[tier].context
        usable = [entry for entry in self.entries(tier) if entry.context == context]
        best = plan_restores(usable, [chain], self.min_tokens, 1)
        if not best:
            return None
        speed = self.read_bytes_per_second or _ASSUMED_READ_BYTES_PER_SECOND
        return best[0].tokens, best[0].entry.bytes / speed

    async def before_evict(self, tier: str) -> None:
        if tier not in self.counts:
            return
        answers = self._read_answers(tier)
        if not answers:
            return  # nothing long was answered since the tier loaded: its slots are saved or not worth it
        model = self._loaded_model.get(tier)
        if model is None:
            self._skip(tier, "save", "model_changed", "the tier's model file was not readable when it loaded")
            return
        context = self._catalogue.tiers[tier].context
        try:
            slots = slot_views(await self._backend.slots(tier))
        except (SlotError, BackendDown) as exc:
            self._skip(tier, "save", "failed", f"could not list the slots: {exc}")
            return
        current = [e for e in self.entries(tier) if unusable(e, model, context) is None]
        decision = plan_saves(slots, answers, current, self.min_tokens)
        for entry_id in decision.unchanged:
            await self._touch(entry_id)
        for plan in decision.saves:
            await self._save(tier, plan, model, context)

    async def before_load(self, tier: str, requests: Sequence[object]) -> object | None:
        if tier not in self.counts:
            return None
        path = self._catalogue.model_path(tier)
        model = await asyncio.to_thread(ModelFingerprint.of, path)
        self._loaded_model[tier] = model
        context = self._catalogue.tiers[tier].context
        for entry in self.entries(tier):
            problem = unusable(entry, model, context)
            if problem is not None:
                await self._drop(entry)
                self._skip(tier, "restore", problem[0], problem[1], entry.tokens)
        if not requests or not self.entries(tier):
            return None
        chains = [prefix_chain(payload) for payload in requests if isinstance(payload, dict)]
        restores = []
        speed = self._prompt_speed(tier)
        for restore in plan_restores(self.entries(tier), chains, self.min_tokens, _MAX_RESTORES):
            budget = budget_seconds(restore.tokens, restore.entry.prompt_tokens_per_second or speed)
            expected = None if not self.read_bytes_per_second else restore.entry.bytes / self.read_bytes_per_second
            if expected is not None and expected > budget:
                self._skip(tier, "restore", "too_slow", f"reading {restore.entry.bytes} bytes would take about "
                           f"{expected:.1f} s, processing the prefix again {budget:.1f} s", restore.tokens)
                continue
            restores.append(restore)
        return RestorePlan(restores) if restores else None

    async def after_load(self, tier: str, plan: object) -> None:
        if not isinstance(plan, RestorePlan) or tier not in self.counts:
            return
        try:
            slots = [slot for slot in slot_views(await self._backend.slots(tier)) if not slot.busy]
        except (SlotError, BackendDown) as exc:
            for restore in plan.restores:
                self._skip(tier, "restore", "failed", f"could not list the slots: {exc}", restore.tokens)
            return
        for restore, slot in zip(plan.restores, slots, strict=False):
            await self._restore(tier, restore, slot.id, slot.n_ctx)

    def unloaded(self, tier: str | None) -> None:
        for name, answers in self._answers.items():
            if tier is None or name == tier:
                answers.clear()
                self._restored.pop(name, None)

    def _read_answers(self, tier: str) -> list[Answered]:
        """The tier's remembered answers with a long enough prompt, now read (chains are computed here)."""
        answered = []
        for noted in self._answers[tier]:
            tokens = answer_tokens(noted.head, noted.tail)
            if tokens is None or tokens[0] < self.min_tokens:
                continue
            answered.append(Answered(prefix_chain(noted.payload), tokens[0], tokens[1], noted.at))
        return answered

    async def _save(self, tier: str, plan: SavePlan, model: ModelFingerprint, context: int) -> None:
        speed = self._prompt_speed(tier)
        budget = budget_seconds(plan.tokens, speed)
        per_token = self._bytes_per_token(tier)
        expected_bytes = None if per_token is None else int(plan.tokens * per_token)
        if expected_bytes is not None:
            reason = await self._no_room(expected_bytes)
            if reason is not None:
                self._skip(tier, "save", reason[0], reason[1], plan.tokens)
                return
            if self.write_bytes_per_second and expected_bytes / self.write_bytes_per_second > budget:
                self._skip(tier, "save", "too_slow", f"writing about {expected_bytes} bytes would take longer than "
                           f"processing the prefix again ({budget:.1f} s)", plan.tokens)
                return
        entry_id = self.store.new_id()
        started = time.monotonic()
        try:
            answer = await self._backend.save_slot(tier, plan.slot, f"{entry_id}.bin", budget=budget)
        except (SlotError, BackendDown) as exc:
            await asyncio.to_thread(self.store.remove_file, tier, entry_id)
            seconds = time.monotonic() - started
            free = await asyncio.to_thread(self.store.free_bytes)
            if free is not None and free < _DISK_RESERVE_BYTES:
                self._skip(tier, "save", "disk_full", f"only {free} bytes free: {exc}", plan.tokens)
            else:
                self._skip(tier, "save", "too_slow" if seconds >= budget else "failed", str(exc), plan.tokens)
            return
        seconds = time.monotonic() - started
        tokens, size = _int(answer.get("n_saved")), _int(answer.get("n_written"))
        file = self.slot_dirs[tier] / f"{entry_id}.bin"
        if size > self.max_bytes:
            await asyncio.to_thread(self.store.remove_file, tier, entry_id)
            self._skip(tier, "save", "over_cap", f"{size} bytes exceed prompt_cache_max_bytes ({self.max_bytes})",
                       tokens)
            return
        try:
            digest = await asyncio.to_thread(file_digest, file, size)
            on_disk = (await asyncio.to_thread(file.stat)).st_size
        except OSError as exc:
            await asyncio.to_thread(self.store.remove_file, tier, entry_id)
            self._skip(tier, "save", "failed", f"the saved file cannot be read: {exc}", tokens)
            return
        if tokens <= 0 or on_disk != size:
            await asyncio.to_thread(self.store.remove_file, tier, entry_id)
            self._skip(tier, "save", "failed", f"llama-server saved {tokens} tokens, {size} bytes ({on_disk} on disk)",
                       tokens)
            return
        now = time.time()
        chain = plan.answered.chain
        entry = CacheEntry(id=entry_id, tier=tier, model=model, context=context, slot_context=plan.slot_context,
                           tokens=tokens, prompt_tokens=plan.answered.prompt_tokens, bytes=size, digest=digest,
                           chain=chain.hashes, chars=chain.chars, prompt_tokens_per_second=speed, saved_at=now,
                           last_used=now, save_ms=round(seconds * 1000, 1))
        await asyncio.to_thread(self.store.write, entry)
        self._entries[entry.id] = entry
        for old in plan.supersedes:
            if old in self._entries:
                await self._drop(self._entries[old])
        for victim in lru_victims(self._entries.values(), self.max_bytes, keep=frozenset({entry.id})):
            await self._evict(victim)
        self.write_bytes_per_second = _ema(self.write_bytes_per_second, size / max(seconds, 1e-6))
        counts = self.counts[tier]
        counts.saves += 1
        counts.saved_bytes += size
        counts.last_save = PromptCacheOp(at=round(now, 3), tokens=tokens, bytes=size, milliseconds=entry.save_ms)
        log.info("prompt cache: saved %d tokens of %s (%d bytes) in %.0f ms", tokens, tier, size, entry.save_ms)
        self._events.publish(PromptCacheSavedEvent(time=now, tier=tier, tokens=tokens, bytes=size,
                                                   milliseconds=entry.save_ms))

    async def _no_room(self, expected_bytes: int) -> tuple[str, str] | None:
        if expected_bytes > self.max_bytes:
            return "over_cap", f"about {expected_bytes} bytes exceed prompt_cache_max_bytes ({self.max_bytes})"
        free = await asyncio.to_thread(self.store.free_bytes)
        if free is not None and free - expected_bytes < _DISK_RESERVE_BYTES:
            return "disk_full", f"about {expected_bytes} bytes would leave less than 1 GiB free ({free} free)"
        return None

    def _bytes_per_token(self, tier: str) -> float | None:
        entries = self.entries(tier)
        return entries[0].bytes / entries[0].tokens if entries else None

    async def _restore(self, tier: str, restore: Restore, slot: int, slot_context: int) -> None:
        entry = self._entries.get(restore.entry.id, restore.entry)
        if slot_context != entry.slot_context:
            await self._drop(entry)
            self._skip(tier, "restore", "context_changed", f"saved from a slot of {entry.slot_context} tokens; "
                       f"the tier's slots now have {slot_context}", entry.tokens)
            return
        started = time.monotonic()
        on_disk = await asyncio.to_thread(self.store.reread, entry)
        problem = await asyncio.to_thread(self.store.problem, entry)
        if on_disk is None or on_disk.model_copy(update={"last_used": entry.last_used}) != entry:
            problem = problem or "its metadata was changed or is unreadable"
        if problem is not None:
            await self._drop(entry)
            self._skip(tier, "restore", "corrupt", problem, entry.tokens)
            return
        budget = budget_seconds(restore.tokens, entry.prompt_tokens_per_second or self._prompt_speed(tier))
        remaining = max(0.1, budget - (time.monotonic() - started))
        try:
            answer = await self._backend.restore_slot(tier, slot, entry.file, budget=remaining)
        except SlotError as exc:
            timed_out = time.monotonic() - started >= budget
            if not timed_out:
                await self._drop(entry)  # llama-server could not use the file: it will not next time either
            self._skip(tier, "restore", "too_slow" if timed_out else "failed", str(exc), entry.tokens)
            return
        except BackendDown as exc:
            self._skip(tier, "restore", "failed", str(exc), entry.tokens)
            return
        seconds = time.monotonic() - started
        tokens, size = _int(answer.get("n_restored")), _int(answer.get("n_read"))
        if tokens != entry.tokens:
            self._skip(tier, "restore", "failed", f"llama-server restored {tokens} tokens, {entry.tokens} were saved",
                       entry.tokens)
            return
        await self._touch(entry.id)
        self.read_bytes_per_second = _ema(self.read_bytes_per_second, size / max(seconds, 1e-6))
        now = time.time()
        milliseconds = round(seconds * 1000, 1)
        counts = self.counts[tier]
        counts.restores += 1
        counts.restored_bytes += size
        counts.restored_tokens += tokens
        self._restored[tier] = entry
        counts.last_restore = PromptCacheOp(at=round(now, 3), tokens=tokens, bytes=size, milliseconds=milliseconds)
        log.info("prompt cache: restored %d tokens of %s (%d bytes) in %.0f ms", tokens, tier, size, milliseconds)
        self._events.publish(PromptCacheRestoredEvent(time=now, tier=tier, tokens=tokens, bytes=size,
                                                      milliseconds=milliseconds))

    async def _touch(self, entry_id: str) -> None:
        entry = self._entries.get(entry_id)
        if entry is not None:
            self._entries[entry_id] = await asyncio.to_thread(self.store.touch, entry)

    async def _drop(self, entry: CacheEntry) -> None:
        self._entries.pop(entry.id, None)
        await asyncio.to_thread(self.store.remove, entry)

    async def _evict(self, entry: CacheEntry) -> None:
        await self._drop(entry)
        self._count_eviction(entry)

    def _count_eviction(self, entry: CacheEntry) -> None:
        self.evictions += 1
        log.info("prompt cache: evicted %d tokens of %s (%d bytes), the least recently used", entry.tokens,
                 entry.tier, entry.bytes)

    def _skip(self, tier: str, action: Action, reason: str, detail: str, tokens: int = 0) -> None:
        counts = self.counts[tier]
        counts.skips[(action, reason)] = counts.skips.get((action, reason), 0) + 1
        counts.last_skip = f"{action}: {reason}"
        log.warning("prompt cache: %s of %s skipped (%s): %s", action, tier, reason, detail)
        self._events.publish(PromptCacheSkippedEvent(time=time.time(), tier=tier, action=action, reason=reason,
                                                     detail=detail[:500], tokens=tokens))


_ASSUMED_READ_BYTES_PER_SECOND = 2e9
"""A restore's read speed until one is measured: an NVMe drive, or the page cache."""


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _ema(previous: float | None, value: float) -> float:
    return value if previous is None else (1 - _EMA) * previous + _EMA * value
