"""One Discord turn end to end: a message arrives, its first visible answer, its final edit; and where the
time went (the engine, MCP tools, Discord's edit pacing, the bot itself), side by side.

Rows: a plain answer from the real engine with the real model (SmolLM2-135M as `fast`, at most 64 tokens)
and with a tiny generated tier (on a real llama-server); a plain answer from a scripted OpenAI-compatible
model (so the engine's share is near zero and the bot's shows); a one-tool answer (the scripted model
calls `web_search` on the real `variet-search` over stdio, in front of Debian's searx with a local fixture
engine). Discord is the local fake (real HTTP, a real WebSocket
gateway) running in the bot's own event loop, so its work is counted in the bot's share: an upper bound.
The bot runs as users run it (edits at most once a second).

Usage: .venv/bin/python benchmarks/discord_turn.py [--turns 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from _common import engine, median, percentile, table, tiny_tiers

from tests.fakes.discord import BOT_TOKEN, FakeDiscord, serve_fake_discord
from tests.fakes.openai_stub import ToolCall, serve_openai_stub
from tests.parts.searx import FixtureEngine, LoopbackServer, running_searx
from variet.assistant import Assistant
from variet.shared.config import load_settings

GOAL_MS = 50.0
_MARKS = ("writing…", "thinking…", "-# 🔧")


def _write_settings(folder: Path, fake: FakeDiscord, owner: int, engine_url: str, servers: list[str],
                    searx: str, model: str) -> Path:
    config = folder / f"bench-{time.monotonic_ns()}.toml"
    config.write_text("\n".join([
        f'[engine]\nurl = "{engine_url}"',
        f'[search]\nurl = "{searx}"',
        "[discord]",
        f"owner_ids = [{owner}]",
        f"servers = {json.dumps(servers)}",
        f'api_url = "{fake.api_url}"',
        f'gateway_url = "{fake.gateway_url}"',
        f'state_file = "{folder / "discord-state.json"}"',
        "max_tokens = 64",
        f'model = "{model}"',
    ]) + "\n")
    return config


@asynccontextmanager
async def _bot(folder: Path, engine_url: str, servers: list[str], searx: str, model: str) -> AsyncIterator[
        tuple[FakeDiscord, Assistant, dict[str, Any]]]:
    async with serve_fake_discord() as fake:
        ann = fake.add_user("Ann")
        config = _write_settings(folder, fake, int(ann["id"]), engine_url, servers, searx, model)
        settings = load_settings(config, environ={})
        environ = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
        assistant = Assistant(settings, token=BOT_TOKEN, environ=environ)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(assistant.run)
            with anyio.fail_after(60):
                await fake.wait_connected()
                assert assistant.bot is not None and assistant.services is not None  # made before connecting
                await assistant.bot.ready.wait()
                await assistant.services.host.wait_started()
            try:
                yield fake, assistant, ann
            finally:
                await assistant.close()


async def _turns(folder: Path, engine_url: str, servers: list[str], searx: str, turns: int,
                 model: str = "auto") -> dict[str, list[float]]:
    """Seconds per measured turn: first visible, final, engine, tools, pacing, bot (the first turn warms up)."""
    found: dict[str, list[float]] = {k: [] for k in ("first", "final", "engine", "tools", "paced", "bot")}
    async with _bot(folder, engine_url, servers, searx, model) as (fake, assistant, ann):
        assert assistant.services is not None
        timings = assistant.services.timings
        for turn in range(turns + 1):
            done_before = len(timings)
            mark = len(fake.calls)
            sent = time.monotonic()
            question = await fake.say(ann, fake.general, f"{fake.mention()} question {turn}: what is new?")
            with anyio.fail_after(120):
                # The turn's own record, written just after its last edit (polled: a benchmark-only wait).
                while len(timings) == done_before:  # noqa: ASYNC110
                    await anyio.sleep(0.002)
            ours = [c for c in fake.calls[mark:] if c.message_id is not None]
            first = next(c for c in ours if c.method == "POST"
                         and (c.body.get("message_reference") or {}).get("message_id") == int(question["id"]))
            final = [c for c in ours if c.message_id == first.message_id][-1]
            assert not any(m in final.body["content"] for m in _MARKS), final.body["content"]
            record = timings[-1]
            if turn == 0:
                continue
            total = final.at - sent
            found["first"].append(first.at - sent)
            found["final"].append(total)
            found["engine"].append(record.engine_seconds)
            found["tools"].append(record.tool_seconds)
            found["paced"].append(record.pacing_seconds)
            found["bot"].append(max(0.0, total - record.engine_seconds - record.tool_seconds - record.pacing_seconds))
    return found


def _ms(values: list[float]) -> float:
    return round(median(values) * 1000, 1)


async def main(turns: int) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="variet-discord-bench-"))
    rows: list[list[object]] = []
    web = FixtureEngine()
    results: dict[str, dict[str, list[float]]] = {}
    with engine(tiny_tiers(real_fast=True)) as running:
        nowhere = "http://127.0.0.1:9"  # no search server in this row
        results["plain, real model (SmolLM2 on fast)"] = await _turns(folder, running.url, [], nowhere, turns, "fast")
    with engine(tiny_tiers()) as running, LoopbackServer(web.app) as fixture:
        web.url = fixture.url
        with running_searx(web.url, folder) as searx:
            results["plain, tiny generated tier"] = await _turns(folder, running.url, [], searx.url, turns, "fast")
            with serve_openai_stub(final_text="Nothing much: the ferry still leaves at nine.") as stub:
                results["plain, scripted model"] = await _turns(folder, stub.url, [], searx.url, turns)
            script = [ToolCall("web_search", {"query": "ferry lisbon"})]
            with serve_openai_stub(script, final_text="The ferry leaves at nine (see the first result).") as stub:
                results["one tool (web_search), scripted model"] = await _turns(folder, stub.url, ["search"],
                                                                                  searx.url, turns)
    for name, found in results.items():
        rows.append([name, len(found["final"]), _ms(found["first"]), _ms(found["final"]), _ms(found["engine"]),
                     _ms(found["tools"]), _ms(found["paced"]), _ms(found["bot"]),
                     round(percentile(found["bot"], 90) * 1000, 1)])
    print(table(["turn", "n", "first visible ms", "final edit ms", "engine ms", "MCP tools ms", "edit pacing ms",
                 "bot ms", "bot p90 ms"], rows))
    worst = max(float(str(row[7])) for row in rows)
    verdict = "met" if worst <= GOAL_MS else "missed"
    print("\nmedians; bot = final edit - engine - MCP tools - edit pacing (the fake Discord's own work included).")
    print(f"goal: the bot's own share <= {GOAL_MS:g} ms per turn plus edit pacing: {verdict} "
          f"(worst row median {worst:g} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10, help="measured turns per row (after one warm-up)")
    options = parser.parse_args()
    anyio.run(main, options.turns)
