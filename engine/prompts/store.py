"""The prompt caches on disk: one folder per tier, a KV file written by llama-server and our metadata beside it.

Layout under `[engine] prompt_cache_dir`:

    .lock                      held (locked) by the one engine using the folder
    <tier>/<id>.bin            llama-server's slot save (`--slot-save-path <tier>/`), mode 0600
    <tier>/<id>.json           `CacheEntry`: which model, context and prompt it belongs to, size, digest, use

The files hold the user's prompts, so they are private to the user (`variet.shared.secrets`): on POSIX the
folders are 0700 and every file 0600 (the engine writes its metadata with `write_private_file` and runs
llama-server with a umask of 077); on Windows the folders carry an owner-only ACL that the files llama-server
writes inherit. A folder others may read is refused, not silently tightened (it may be shared on purpose).
The folder lock is `flock` on POSIX and `msvcrt.locking` on Windows, both released when the engine exits.

An entry is trusted only as far as it is checked: its model file must still have the path, size and
modification time it had when the tier was loaded (else the entry is removed), its context must be the
tier's, and before a restore its file must have the recorded size and digest. The digest covers the header
(magic, version, the token list) and 64 samples spread over the file, so a truncated, replaced or
overwritten file is caught in milliseconds whatever its size; a single bit flipped inside the KV data is
not (llama.cpp's own checks on restore catch a damaged layer header). Hashing every byte would cost more
than reading the file, the very time a restore is meant to save.

Nothing here deletes a file whose name the engine did not make (`<32 hex digits>.bin|.json`). Blocking
calls (file reads, hashing) are meant to run in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from variet.engine.errors import PromptStoreUnusable
from variet.shared.secrets import exposure, make_private_dir, write_private_file

__all__ = [
    "CacheEntry",
    "ModelFingerprint",
    "PromptStore",
    "Scan",
    "file_digest",
    "lru_victims",
    "tier_folder",
]

log = logging.getLogger(__name__)

ENTRY_VERSION = 1
_ID = re.compile(r"^[0-9a-f]{32}$")
_SAFE_TIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEAD_BYTES = 1 << 20
_SAMPLES = 64
_SAMPLE_BYTES = 64 << 10


class ModelFingerprint(BaseModel):
    """A model file as it was when a tier loaded it: a different file, or the same file rewritten, differs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> ModelFingerprint | None:
        """The file's fingerprint now; None when it is missing."""
        try:
            info = path.stat()
        except OSError:
            return None
        return cls(path=str(path), size=info.st_size, mtime_ns=info.st_mtime_ns)


class CacheEntry(BaseModel):
    """The metadata of one saved slot (`<id>.json` beside `<id>.bin`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = ENTRY_VERSION
    id: str = Field(pattern=_ID.pattern)
    tier: str
    model: ModelFingerprint
    """The model file the tier had loaded when the slot was saved."""
    context: int
    """The tier's context size (`ctx-size`) then."""
    slot_context: int
    """The slot's own context (`n_ctx` in `/slots`), which a restore must match too."""
    tokens: int
    """Tokens in the file (llama-server's `n_saved`)."""
    prompt_tokens: int
    """Prompt tokens of the request whose answer left the slot so (the rest is its answer)."""
    bytes: int
    digest: str
    chain: tuple[str, ...]
    """The request's `PrefixChain` hashes."""
    chars: tuple[int, ...]
    """The request's `PrefixChain` lengths."""
    prompt_tokens_per_second: float | None = None
    """The tier's measured prompt speed when saved: what processing the prefix again would take."""
    saved_at: float
    last_used: float
    save_ms: float

    @property
    def file(self) -> str:
        return f"{self.id}.bin"


@dataclass(frozen=True)
class Scan:
    """What a look through the store found."""

    entries: list[CacheEntry]
    broken: list[Path]
    """Metadata that does not parse, or names a file that is gone: removed by `PromptStore.scan`."""
    orphans: list[Path]
    """KV files without metadata (a save cut short): removed by `PromptStore.scan`."""


def tier_folder(tier: str) -> str:
    """The folder name of a tier: the name itself when it is plain, else a hash of it."""
    if _SAFE_TIER.match(tier):
        return tier
    return "tier-" + hashlib.blake2b(tier.encode(), digest_size=8).hexdigest()


def lru_victims(entries: Iterable[CacheEntry], cap: int, *, keep: frozenset[str] = frozenset()) -> list[CacheEntry]:
    """The entries to remove, least recently used first, so the rest fit in `cap` bytes (pure).

    Entries in `keep` go last, and only when the others do not free enough.
    """
    ordered = sorted(entries, key=lambda entry: (entry.id in keep, entry.last_used, entry.id))
    total = sum(entry.bytes for entry in ordered)
    victims = []
    for entry in ordered:
        if total <= cap:
            break
        victims.append(entry)
        total -= entry.bytes
    return victims


def file_digest(path: Path, size: int) -> str:
    """A digest of `path` from its size, its first MiB, 64 evenly spread 64 KiB samples and its last MiB."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as file:
        if size <= _HEAD_BYTES * 2 + _SAMPLES * _SAMPLE_BYTES:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
        _update(digest, file, 0, _HEAD_BYTES)
        stride = (size - 2 * _HEAD_BYTES) // _SAMPLES
        for sample in range(_SAMPLES):
            _update(digest, file, _HEAD_BYTES + sample * stride, _SAMPLE_BYTES)
        _update(digest, file, size - _HEAD_BYTES, _HEAD_BYTES)
    return digest.hexdigest()


def _update(digest: hashlib.blake2b, file: IO[bytes], offset: int, length: int) -> None:
    file.seek(offset)
    digest.update(file.read(length))


def _lock_exclusive(fd: int) -> None:
    """Lock the open file for this process without waiting; OSError when another process holds it.

    Both locks go with the file descriptor, so closing it (or the process ending) releases them.
    """
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class PromptStore:
    """The store under one folder, for one engine at a time. Blocking: call from a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock: int | None = None

    def open(self) -> None:
        """Create the folder (private), refuse it if others may read it, and lock it for this engine.

        Raises `PromptStoreUnusable` with what to do.
        """
        try:
            make_private_dir(self.root)
            found = exposure(self.root, folder=True)
        except OSError as exc:
            raise PromptStoreUnusable(f"cannot create the prompt cache folder {self.root}: {exc}") from exc
        if found is not None:
            raise PromptStoreUnusable(
                f"the prompt cache folder {self.root} is open to others ({found.detail}), but the caches hold "
                f"your prompts: run `{found.fix}` or point [engine] prompt_cache_dir at a private folder")
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_exclusive(fd)
        except OSError:
            os.close(fd)
            raise PromptStoreUnusable(
                f"another engine uses the prompt cache folder {self.root}; give each engine its own "
                "[engine] prompt_cache_dir") from None
        self._lock = fd

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None

    def tier_dir(self, tier: str) -> Path:
        """The tier's folder (created private): llama-server's `--slot-save-path` for it."""
        folder = self.root / tier_folder(tier)
        make_private_dir(folder)
        found = exposure(folder, folder=True)
        if found is not None:
            raise PromptStoreUnusable(f"{folder} is open to others ({found.detail}): run `{found.fix}`")
        return folder

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def path(self, entry: CacheEntry) -> Path:
        return self.root / tier_folder(entry.tier) / entry.file

    def _meta(self, entry: CacheEntry) -> Path:
        return self.root / tier_folder(entry.tier) / f"{entry.id}.json"

    def scan(self) -> Scan:
        """Every entry on disk; broken metadata and orphan KV files are removed (and reported)."""
        entries: list[CacheEntry] = []
        broken: list[Path] = []
        orphans: list[Path] = []
        for folder in sorted(path for path in self.root.iterdir() if path.is_dir()):
            names = {path.name for path in folder.iterdir()}
            for name in sorted(names):
                stem, _, suffix = name.rpartition(".")
                if not _ID.match(stem):
                    continue
                if suffix == "bin" and f"{stem}.json" not in names:
                    orphans.append(folder / name)
                elif suffix == "json":
                    entry = self._read(folder / name)
                    if entry is None or f"{stem}.bin" not in names or entry.id != stem:
                        broken.append(folder / name)
                    else:
                        entries.append(entry)
        for path in broken:
            self._unlink(path)
            self._unlink(path.with_suffix(".bin"))
        for path in orphans:
            self._unlink(path)
        return Scan(entries, broken, orphans)

    def _read(self, meta: Path) -> CacheEntry | None:
        try:
            return CacheEntry.model_validate_json(meta.read_bytes())
        except (OSError, ValidationError, ValueError):
            return None

    def reread(self, entry: CacheEntry) -> CacheEntry | None:
        """The entry's metadata as it is on disk now (None when gone or unreadable)."""
        return self._read(self._meta(entry))

    def write(self, entry: CacheEntry) -> None:
        """Write (or rewrite) an entry's metadata, private to the user."""
        write_private_file(self._meta(entry), json.dumps(entry.model_dump(mode="json"), separators=(",", ":")))

    def touch(self, entry: CacheEntry, at: float | None = None) -> CacheEntry:
        used = entry.model_copy(update={"last_used": time.time() if at is None else at})
        self.write(used)
        return used

    def remove(self, entry: CacheEntry) -> None:
        self._unlink(self._meta(entry))
        self._unlink(self.path(entry))

    def remove_file(self, tier: str, file_id: str) -> None:
        """Remove a KV file llama-server wrote for which no entry was made (a save that was then refused)."""
        if _ID.match(file_id):
            folder = self.root / tier_folder(tier)
            self._unlink(folder / f"{file_id}.bin")
            self._unlink(folder / f"{file_id}.json")

    def problem(self, entry: CacheEntry) -> str | None:
        """Why the entry's KV file cannot be trusted (missing, another size, another digest), or None."""
        path = self.path(entry)
        try:
            size = path.stat().st_size
        except OSError:
            return f"{path.name} is gone"
        if size != entry.bytes:
            return f"{path.name} has {size} bytes, {entry.bytes} were saved (truncated or rewritten)"
        try:
            digest = file_digest(path, size)
        except OSError as exc:
            return f"{path.name} cannot be read: {exc}"
        if digest != entry.digest:
            return f"{path.name} does not match the digest taken when it was saved (damaged or replaced)"
        return None

    def free_bytes(self) -> int | None:
        """Free disk space where the caches go (None when it cannot be told)."""
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return None

    @staticmethod
    def _unlink(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
