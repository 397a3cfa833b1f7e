"""Prompt caches across swaps, with the real engine and a real llama-server.

Generated tiers (32k context, one token per byte) carry the long prefixes, since they process thousands of
tokens a second; the real quantized model shows that a restored cache gives the same answer at temperature
0 as processing the prompt again. Every test reads llama-server's own `timings` to tell whether the prefix
was processed again (`prompt_n`) or came from the cache (`cache_n`).
"""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.parts.private import is_private

pytestmark = [pytest.mark.llama]

PREFIX = 12000
"""Characters (and, on generated tiers, tokens) of a long system prompt."""


def long_text(seed: int, chars: int = PREFIX) -> str:
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(400)]
    text = ""
    while len(text) < chars:
        text += rng.choice(words) + " "
    return text[:chars]


class Conversation:
    """A chat on one tier with a long system prompt; each `turn` sends the whole history, as agents do."""

    def __init__(self, engine: RunningEngine, tier: str, system: str) -> None:
        self.engine, self.tier = engine, tier
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}]

    def body(self, question: str, **extra: Any) -> dict[str, Any]:
        return {"model": self.tier, "messages": [*self.messages, {"role": "user", "content": question}],
                "max_tokens": 8, "temperature": 0, **extra}

    def turn(self, question: str, **extra: Any) -> dict[str, Any]:
        """Ask, keep the answer in the history; returns the answer's `timings`."""
        reply = httpx2.post(f"{self.engine.url}/v1/chat/completions", json=self.body(question, **extra), timeout=300)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        self.messages += [{"role": "user", "content": question}, answer["choices"][0]["message"]]
        timings: dict[str, Any] = answer["timings"]
        return timings


def visit(engine: RunningEngine, tier: str) -> None:
    """A short request on another tier: a swap, so the tier before is saved and evicted."""
    reply = httpx2.post(f"{engine.url}/v1/chat/completions", timeout=120,
                        json={"model": tier, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert reply.status_code == 200 and reply.json()["model"] == tier, reply.text


def metric(engine: RunningEngine, name: str, **labels: str) -> float:
    """A sample of `/metrics` (0 when absent)."""
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in httpx2.get(f"{engine.url}/metrics", timeout=10).text.splitlines():
        if line.rsplit(" ", 1)[0] == wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def cache_folder(config: Path) -> Path:
    return config.parent / config.name.replace(".toml", "-prompt-cache")


def kv_files(folder: Path, tier: str) -> list[Path]:
    return sorted((folder / tier).glob("*.bin"))


@contextmanager
def engine_on(directory: Path, *, extra: str = "", tiers_file: str = "tiers.toml",
              config: Path | None = None) -> Iterator[tuple[RunningEngine, Path]]:
    config = config or write_config(directory, extra_engine=extra, tiers_file=tiers_file)
    with run_engine(config) as running:
        yield running, config


def test_a_long_prefix_is_saved_at_a_swap_and_restored_on_return_instead_of_processed_again(tiny_dir: Path) -> None:
    with engine_on(tiny_dir) as (engine, config):
        chat = Conversation(engine, "fast", long_text(1))
        first = chat.turn("What is the first word?")
        assert first["prompt_n"] >= PREFIX and first.get("cache_n", 0) == 0
        events = engine_events(engine)
        visit(engine, "balanced")
        folder = cache_folder(config)
        (saved_file,) = kv_files(folder, "fast")
        # The user's prompts on disk: a private folder, private files (llama-server's and ours).
        assert is_private(folder) and is_private(folder / "fast")
        for file in (saved_file, saved_file.with_suffix(".json")):
            assert is_private(file), file

        back = chat.turn("And the second?")
        assert back.get("cache_n", 0) >= PREFIX and back["prompt_n"] < 100, back
        status = engine.status().tier("fast")
        cache: Any = status.prompt_cache
        assert cache.saves == 1 and cache.restores == 1 and cache.skips == 0 and cache.unused_restores == 0
        assert cache.last_restore.tokens >= PREFIX and cache.last_restore.bytes == saved_file.stat().st_size
        assert cache.prefixes[0].tokens == cache.last_restore.tokens
        kinds = [(e["event"], e.get("tier")) for e in events.until("swap_done", tier="fast")]
        assert ("prompt_cache_saved", "fast") in kinds and ("prompt_cache_restored", "fast") in kinds
        assert kinds.index(("prompt_cache_restored", "fast")) < kinds.index(("swap_done", "fast"))
        assert metric(engine, "variet_prompt_cache_restores_total", tier="fast") == 1
        assert metric(engine, "variet_prompt_cache_restored_tokens_total", tier="fast") >= PREFIX


def test_the_restored_answer_is_the_one_computed_without_the_cache_on_the_real_model(real_dir: Path) -> None:
    document = " ".join(f"Item {i}: the {colour} box holds {i * 7} marbles." for i, colour in
                        zip(range(60), ["red", "blue", "green", "amber"] * 15, strict=True))
    with engine_on(real_dir, extra="prompt_cache_min_tokens = 256") as (engine, _):
        chat = Conversation(engine, "fast", "You answer questions about this inventory.\n" + document)
        first = chat.turn("How many marbles does the red box of item 4 hold?")
        prefix = first["prompt_n"]
        assert prefix >= 600
        visit(engine, "balanced")
        question = "And item 5?"
        back = httpx2.post(f"{engine.url}/v1/chat/completions", json=chat.body(question, max_tokens=24), timeout=600)
        assert back.status_code == 200, back.text
        restored = back.json()
        assert restored["timings"].get("cache_n", 0) >= prefix and restored["timings"]["prompt_n"] < 64
        again = httpx2.post(f"{engine.url}/v1/chat/completions", timeout=600,
                            json=chat.body(question, max_tokens=24, cache_prompt=False))
        assert again.status_code == 200, again.text
        computed = again.json()
        assert computed["timings"]["prompt_n"] > prefix and computed["timings"].get("cache_n", 0) == 0
        text = restored["choices"][0]["message"]["content"]
        assert text.strip() and text == computed["choices"][0]["message"]["content"]


def test_a_changed_model_file_is_never_restored_and_its_cache_is_removed(tiny_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "fast.gguf"
    model.write_bytes((tiny_dir / "fast.gguf").read_bytes())
    tiers = (tiny_dir / "tiers.toml").read_text().replace('model = "fast.gguf"', f'model = "{model}"')
    (tmp_path / "tiers.toml").write_text(tiers.replace('models_dir = "."', f'models_dir = "{tiny_dir}"'))
    with engine_on(tmp_path) as (engine, config):
        chat = Conversation(engine, "fast", long_text(2))
        chat.turn("What is the first word?")
        visit(engine, "balanced")
        assert len(kv_files(cache_folder(config), "fast")) == 1
        os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))  # rewritten in place
        back = chat.turn("And the second?")
        assert back["prompt_n"] >= PREFIX and back.get("cache_n", 0) == 0
        assert metric(engine, "variet_prompt_cache_skips_total", tier="fast", action="restore",
                      reason="model_changed") == 1
        assert kv_files(cache_folder(config), "fast") == []
        status = engine.status()
        assert status.tier("fast").prompt_cache.last_skip == "restore: model_changed"  # type: ignore[union-attr]
        assert status.backend.restarts == 0


def test_a_cache_saved_with_another_context_size_is_never_restored(tiny_dir: Path, tmp_path: Path) -> None:
    shared = f'prompt_cache_dir = "{tmp_path / "cache"}"'
    with engine_on(tiny_dir, extra=shared) as (engine, _):
        chat = Conversation(engine, "fast", long_text(3))
        chat.turn("What is the first word?")
        visit(engine, "balanced")
    smaller = (tiny_dir / "tiers.toml").read_text().replace("context = 32768", "context = 16384")
    (tiny_dir / "tiers-16k.toml").write_text(smaller)
    with engine_on(tiny_dir, extra=shared, tiers_file="tiers-16k.toml") as (engine, _):
        chat.engine = engine
        back = chat.turn("And the second?")
        assert back["prompt_n"] >= PREFIX and back.get("cache_n", 0) == 0
        assert metric(engine, "variet_prompt_cache_skips_total", tier="fast", action="restore",
                      reason="context_changed") == 1
        assert metric(engine, "variet_prompt_cache_restores_total", tier="fast") == 0
        assert engine.status().backend.restarts == 0


def test_a_truncated_overwritten_or_tampered_cache_is_skipped_and_the_request_served(tiny_dir: Path) -> None:
    def truncate(file: Path) -> None:
        with file.open("r+b") as handle:
            handle.truncate(file.stat().st_size // 2)

    def overwrite(file: Path) -> None:
        file.write_bytes(os.urandom(file.stat().st_size))

    def tamper(file: Path) -> None:
        meta = file.with_suffix(".json")
        meta.write_text(meta.read_text().replace('"context":32768', '"context":4096'))

    with engine_on(tiny_dir) as (engine, config):
        chat = Conversation(engine, "fast", long_text(4))
        chat.turn("What is the first word?")
        for number, damage in enumerate((truncate, overwrite, tamper), start=1):
            visit(engine, "balanced")
            (file,) = kv_files(cache_folder(config), "fast")
            damage(file)
            back = chat.turn(f"Question {number}?")
            assert back["prompt_n"] >= PREFIX and back.get("cache_n", 0) == 0, (damage.__name__, back)
            assert kv_files(cache_folder(config), "fast") == []
            assert metric(engine, "variet_prompt_cache_skips_total", tier="fast", action="restore",
                          reason="corrupt") == number
        assert engine.status().backend.restarts == 0


def test_a_cap_smaller_than_any_prefix_saves_nothing_and_every_request_is_served(tiny_dir: Path) -> None:
    with engine_on(tiny_dir, extra="prompt_cache_max_bytes = 100000") as (engine, config):
        chat = Conversation(engine, "fast", long_text(5))
        chat.turn("What is the first word?")
        visit(engine, "balanced")
        assert kv_files(cache_folder(config), "fast") == []
        assert metric(engine, "variet_prompt_cache_skips_total", tier="fast", action="save", reason="over_cap") == 1
        back = chat.turn("And the second?")
        assert back["prompt_n"] >= PREFIX
        status = engine.status()
        assert status.prompt_cache is not None and status.prompt_cache.bytes == 0
        assert status.tier("fast").prompt_cache.saves == 0  # type: ignore[union-attr]
        assert status.backend.restarts == 0


def test_two_conversations_on_one_tier_each_get_back_their_own_prefix_or_none(tiny_dir: Path) -> None:
    with engine_on(tiny_dir) as (engine, config):
        first = Conversation(engine, "fast", long_text(6, 8000))
        second = Conversation(engine, "fast", long_text(7, 8000))
        first.turn("What is the first word?")
        visit(engine, "balanced")
        # The second conversation continues nothing on disk: nothing is restored for it.
        assert second.turn("What is the first word?")["prompt_n"] >= 8000
        assert metric(engine, "variet_prompt_cache_restores_total", tier="fast") == 0
        visit(engine, "balanced")
        assert len(kv_files(cache_folder(config), "fast")) == 2
        back = first.turn("And the second?")
        assert 8000 <= back.get("cache_n", 0) < 9000 and back["prompt_n"] < 100
        visit(engine, "balanced")
        back = second.turn("And the second?")
        assert 8000 <= back.get("cache_n", 0) < 9000 and back["prompt_n"] < 100
        assert metric(engine, "variet_prompt_cache_restores_total", tier="fast") == 2


class _Events:
    """The engine's event stream, read in a thread-free way: events are fetched when the test asks."""

    def __init__(self, engine: RunningEngine) -> None:
        self._client = httpx2.Client(base_url=engine.url, timeout=httpx2.Timeout(10, read=120))
        self._stream = self._client.stream("GET", "/variet/events")
        self._response = self._stream.__enter__()
        self._lines = self._response.iter_lines()
        first = self._next()
        assert first["event"] == "subscribed"

    def _next(self) -> dict[str, Any]:
        for line in self._lines:
            if line.startswith("data:"):
                data: dict[str, Any] = json.loads(line[5:])
                return data
        raise AssertionError("the event stream ended")

    def until(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        """Events up to and including the first `kind` with these fields; then the stream is closed."""
        seen = []
        try:
            while True:
                event = self._next()
                seen.append(event)
                if event["event"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    return seen
        finally:
            self._stream.__exit__(None, None, None)
            self._client.close()


def engine_events(engine: RunningEngine) -> _Events:
    """Subscribe now; the events that follow are read back with `until`."""
    return _Events(engine)
