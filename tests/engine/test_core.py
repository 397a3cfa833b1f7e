"""The engine object: built without touching a file, it acquires what it holds when it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.http.test_app import catalogue
from tests.fakes.llama import FakeBackend, running_fake_llama
from variet.engine.core import Engine
from variet.engine.events import EventBus
from variet.shared.config import EngineSettings, Settings

pytestmark = pytest.mark.anyio


async def test_building_the_engine_reads_no_file_and_starting_it_opens_the_prompt_cache(tmp_path: Path) -> None:
    folder = tmp_path / "prompt-cache"
    async with running_fake_llama() as llama:
        events = EventBus()
        backend = FakeBackend(llama, events, tmp_path / "llama.log")
        engine = Engine(Settings(engine=EngineSettings(prompt_cache_dir=str(folder))), catalogue(), backend=backend,
                        events=events)
        assert engine.prompt_cache is None and not folder.exists()
        await engine.start()
        try:
            assert engine.prompt_cache is not None and folder.is_dir()
            assert backend.slot_dirs == engine.prompt_cache.slot_dirs
            assert set(backend.slot_dirs) == set(catalogue().tiers)
        finally:
            await engine.stop()


async def test_an_unusable_prompt_cache_folder_leaves_the_engine_running_without_it(tmp_path: Path) -> None:
    folder = tmp_path / "prompt-cache"
    folder.write_text("not a folder")
    async with running_fake_llama() as llama:
        events = EventBus()
        backend = FakeBackend(llama, events, tmp_path / "llama.log")
        engine = Engine(Settings(engine=EngineSettings(prompt_cache_dir=str(folder))), catalogue(), backend=backend,
                        events=events)
        await engine.start()
        try:
            assert engine.prompt_cache is None and engine.status().prompt_cache is None
        finally:
            await engine.stop()
