"""The bot on the real engine (real llama-server): the real model chatting, streaming, footers, swaps,
/status and /tier.

Plain chat uses the embedded default, whose `fast` tier is the real SmolLM2-135M-Instruct. The generated
tiers write noise fast: with greedy decoding (temperature 0) an answer runs to `max_tokens`, so a few
thousand tokens stream through several edits and split into messages; their tiny load times are
overwritten with long ones where a test needs a known "about N s".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.assistant.support import answers, bot_settings, final_answer, running_bot
from tests.fakes.discord import serve_fake_discord
from tests.parts.engine import RunningEngine, run_engine, write_config
from variet.shared.tiers import TIER_NAMES

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

SLOW_LOADS = {"deep-logic": 25, "ultra": 84}
"""load_seconds written into the tiers file, so "about N s" is known (the tiny tiers load in ~0.1 s)."""


@pytest.fixture
def slow_load_engine(tiny_dir: Path, tmp_path: Path) -> Iterator[RunningEngine]:
    """A fresh engine on the tiny tiers whose deep-logic and ultra claim long loads."""
    text = (tiny_dir / "tiers.toml").read_text().replace('models_dir = "."', f'models_dir = "{tiny_dir}"')
    for tier, seconds in SLOW_LOADS.items():
        text = re.sub(rf"(\[tiers\.{tier}\]\n(?:.*\n)*?load_seconds = )[\d.]+", rf"\g<1>{seconds}", text)
    tiers = tmp_path / "tiers.toml"
    tiers.write_text(text)
    with run_engine(write_config(tmp_path, tiers_file=str(tiers))) as running:
        yield running


async def test_a_dm_is_answered_by_the_real_model_with_streaming_edits_and_the_tier_in_the_footer(
    tmp_path: Path, real_engine: RunningEngine
) -> None:
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        settings = bot_settings(tmp_path, fake, engine_url=real_engine.url, owners=(int(ann["id"]),),
                                model="fast", max_tokens=160, edit_interval_seconds=0.3)
        async with running_bot(fake, settings):
            dm = fake.dm(ann)
            await fake.say(ann, dm, "Hi! In two sentences, what is a ferry?")
            with anyio.fail_after(120):
                answer = await final_answer(fake, dm, lambda text: "tok/s" in text)
    body, small = answer["content"].rsplit("\n", 1)
    assert re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", body), body  # words, not noise
    assert re.fullmatch(r"-# fast · \d+\.\d tok/s( · .*)?", small), small
    shown = fake.contents(answer)
    assert len(shown) >= 3 and any("writing…" in text for text in shown[:-1])
    assert len(shown[0]) < len(shown[-2]) <= len(shown[-1]) + len("writing…")


async def test_a_long_answer_from_the_engine_streams_and_splits_at_discords_limit(
    tmp_path: Path, engine: RunningEngine
) -> None:
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        settings = bot_settings(tmp_path, fake, engine_url=engine.url, owners=(int(ann["id"]),),
                                temperature=0, max_tokens=3000, edit_interval_seconds=0.1)
        async with running_bot(fake, settings):
            dm = fake.dm(ann)
            question = await fake.say(ann, dm, "hello, what can you do?")
            with anyio.fail_after(60):
                last = await final_answer(fake, dm, lambda text: "\n-# " in text and "tok/s" in text)
    parts = answers(fake, dm)
    assert len(parts) >= 2 and all(len(p["content"]) <= 2000 for p in parts)
    assert parts[-1]["id"] == last["id"]
    assert parts[0]["message_reference"]["message_id"] == question["id"]
    small = last["content"].rsplit("\n", 1)[1]
    assert re.fullmatch(rf"-# ({'|'.join(TIER_NAMES)}) · \d+\.\d tok/s( · .*)?", small), small
    first_edits = [c for c in fake.calls_to("PATCH", f"/messages/{parts[0]['id']}") if c.status == 200]
    assert len(first_edits) >= 2, "the first message was not edited as the answer grew"
    assert any("writing…" in c.body["content"] for c in first_edits)
    lengths = [len(c.body["content"]) for c in first_edits]
    assert lengths[0] < max(lengths)


async def test_a_swap_is_announced_before_the_answer_from_the_engines_events(
    tmp_path: Path, slow_load_engine: RunningEngine
) -> None:
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        settings = bot_settings(tmp_path, fake, engine_url=slow_load_engine.url, owners=(int(ann["id"]),),
                                max_tokens=48)
        async with running_bot(fake, settings):
            dm = fake.dm(ann)
            await fake.say(ann, dm, "quick: hi")
            with anyio.fail_after(60):
                await final_answer(fake, dm)
                await fake.say(ann, dm, "Prove that the square root of 2 is irrational.")
                answer = await final_answer(fake, dm, after=1)
    shown = fake.contents(answer)
    assert shown[0] == "⏳ loading deep-logic, about 25 s\n-# thinking…"
    small = answer["content"].rsplit("\n", 1)[1]
    assert re.fullmatch(r"-# deep-logic · \d+\.\d tok/s · loaded deep-logic in \d\.\d s \(was fast\)", small), small


async def test_a_channel_pinned_to_a_tier_says_at_once_that_it_loads(
    tmp_path: Path, slow_load_engine: RunningEngine
) -> None:
    async with serve_fake_discord() as fake:
        ann, bob = fake.add_user("Ann"), fake.add_user("Bob")
        settings = bot_settings(tmp_path, fake, engine_url=slow_load_engine.url, owners=(int(ann["id"]),),
                                allowed_user_ids=[int(bob["id"])], max_tokens=32)
        async with running_bot(fake, settings):
            with anyio.fail_after(60):
                typed = await fake.autocomplete(ann, fake.general, "tier", "tier", tier="deep")
                await fake.wait_for(lambda: typed.answered)
                refused = await fake.slash(bob, fake.general, "tier", tier="fast")
                pinned = await fake.slash(ann, fake.general, "tier", tier="deep-logic")
                await fake.wait_for(lambda: refused.answered and "uses" in pinned.text())
                await fake.say(ann, fake.general, f"{fake.mention()} hello")
                answer = await final_answer(fake, fake.general)
    choices = [choice["value"] for choice in typed.responses[0]["data"]["choices"]]
    assert choices == ["deep-coder", "deep-logic"]
    assert refused.text() == "Only an owner can pin a tier." and refused.responses[0]["data"]["flags"] == 64
    assert pinned.text() == "This channel now uses `deep-logic`."
    assert fake.contents(answer)[0] == "⏳ loading deep-logic, about 25 s\n-# thinking…"
    assert answer["content"].rsplit("\n", 1)[1].startswith("-# deep-logic · ")


async def test_status_shows_the_engine_and_the_mcp_servers(tmp_path: Path, engine: RunningEngine) -> None:
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        settings = bot_settings(tmp_path, fake, engine_url=engine.url, owners=(int(ann["id"]),),
                                servers=("search",), server_urls={"search": "http://127.0.0.1:9/mcp"})
        async with running_bot(fake, settings):
            with anyio.fail_after(30):
                status = await fake.slash(ann, fake.general, "status")
                await fake.wait_for(lambda: "MCP servers" in status.text())
    text = status.text()
    assert text.startswith("**Engine**\n")
    assert all(f"`{tier}`" in text for tier in TIER_NAMES)
    assert "this channel uses `auto`" in text
    assert "⚠️ search: did not start" in text
