"""The prompt cache store on disk: privacy, locking, damaged files, LRU under a cap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.parts.private import FIX_FOLDER, expose, is_private
from variet.engine.errors import PromptStoreUnusable
from variet.engine.prompts.store import (
    CacheEntry,
    ModelFingerprint,
    PromptStore,
    file_digest,
    lru_victims,
    tier_folder,
)


def saved(store: PromptStore, tier: str = "fast", *, size: int = 4096, last_used: float = 1.0,
          model: Path | None = None) -> CacheEntry:
    """An entry with a KV file of `size` bytes, as the engine records one after llama-server saved it."""
    folder = store.tier_dir(tier)
    entry_id = store.new_id()
    file = folder / f"{entry_id}.bin"
    file.write_bytes(os.urandom(size))
    fingerprint = ModelFingerprint.of(model) if model else ModelFingerprint(path="/m.gguf", size=1, mtime_ns=1)
    assert fingerprint is not None
    entry = CacheEntry(id=entry_id, tier=tier, model=fingerprint, context=4096, slot_context=4096, tokens=size // 100,
                       prompt_tokens=size // 100, bytes=size, digest=file_digest(file, size), chain=("h",),
                       chars=(10,), saved_at=0.0, last_used=last_used, save_ms=1.0)
    store.write(entry)
    return entry


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    opened = PromptStore(tmp_path / "cache")
    opened.open()
    return opened


def test_the_folders_and_metadata_are_private(store: PromptStore) -> None:
    entry = saved(store)
    assert is_private(store.root) and is_private(store.tier_dir("fast"))
    assert is_private(store.tier_dir("fast") / f"{entry.id}.json")


def test_a_folder_others_can_read_is_refused_not_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    expose(shared)
    with pytest.raises(PromptStoreUnusable, match=FIX_FOLDER):
        PromptStore(shared).open()
    assert not is_private(shared)


def test_a_second_engine_cannot_use_the_same_folder(store: PromptStore) -> None:
    with pytest.raises(PromptStoreUnusable, match="another engine"):
        PromptStore(store.root).open()
    store.close()
    PromptStore(store.root).open()


def test_unreadable_metadata_and_files_without_metadata_are_removed_and_nothing_else(store: PromptStore) -> None:
    good = saved(store)
    bad = saved(store)
    (store.tier_dir("fast") / f"{bad.id}.json").write_text("{not json")
    orphan = store.tier_dir("fast") / f"{'c' * 32}.bin"
    orphan.write_bytes(b"half a save")
    mine = store.tier_dir("fast") / "notes.txt"
    mine.write_text("the user's own file")
    scan = store.scan()
    assert [e.id for e in scan.entries] == [good.id]
    assert len(scan.broken) == 1 and scan.orphans == [orphan]
    assert not orphan.exists() and not store.path(bad).exists() and mine.exists()


def test_a_truncated_or_overwritten_file_no_longer_passes_its_check(store: PromptStore) -> None:
    big = saved(store, size=8 << 20)
    assert store.problem(big) is None
    path = store.path(big)
    with path.open("r+b") as file:
        file.seek(3 << 20)
        file.write(os.urandom(1 << 20))
    assert "digest" in (store.problem(big) or "")
    small = saved(store, size=5000)
    with store.path(small).open("r+b") as file:
        file.truncate(4000)
    assert "truncated" in (store.problem(small) or "")
    store.path(small).unlink()
    assert "gone" in (store.problem(small) or "")


def test_the_least_recently_used_go_first_until_the_rest_fit() -> None:
    def entry(name: str, size: int, used: float) -> CacheEntry:
        return CacheEntry(id=name * 32, tier="fast", model=ModelFingerprint(path="/m", size=1, mtime_ns=1),
                          context=1, slot_context=1, tokens=1, prompt_tokens=1, bytes=size, digest="", chain=(),
                          chars=(), saved_at=0, last_used=used, save_ms=0)

    old, mid, new = entry("a", 500, 1.0), entry("b", 500, 2.0), entry("c", 500, 3.0)
    assert lru_victims([new, old, mid], cap=1000) == [old]
    assert lru_victims([new, old, mid], cap=1500) == []
    # The entry just saved is kept while older ones can make room, and goes when it alone is too big.
    assert lru_victims([new, old, mid], cap=600, keep=frozenset({old.id})) == [mid, new]
    assert lru_victims([old], cap=100, keep=frozenset({old.id})) == [old]


def test_a_model_file_rewritten_in_place_has_another_fingerprint(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF v1")
    before = ModelFingerprint.of(model)
    os.utime(model, ns=(1, 1))
    assert ModelFingerprint.of(model) != before
    assert ModelFingerprint.of(tmp_path / "gone.gguf") is None


def test_tier_names_that_are_not_plain_get_a_hashed_folder() -> None:
    assert tier_folder("deep-coder") == "deep-coder"
    assert tier_folder("../etc").startswith("tier-") and "/" not in tier_folder("../etc")


def test_the_folder_lock_holds_against_another_process_and_ends_with_it(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    holder = ("import sys; from pathlib import Path; from variet.engine.prompts.store import PromptStore; "
              "PromptStore(Path(sys.argv[1])).open(); print('locked', flush=True); sys.stdin.read()")
    with subprocess.Popen([sys.executable, "-c", holder, str(folder)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            assert child.stdout.readline() == "locked\n"
            with pytest.raises(PromptStoreUnusable, match="another engine"):
                PromptStore(folder).open()
        finally:
            child.stdin.close()
            child.wait(timeout=60)
    after = PromptStore(folder)
    after.open()  # the lock went with the process
    after.close()
