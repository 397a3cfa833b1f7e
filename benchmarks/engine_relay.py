"""What the engine adds on top of llama-server: time to first token, streaming speed, memory.

Direct and relayed requests go to the same llama-server process and the same loaded tier, interleaved,
in one run. Usage: python benchmarks/engine_relay.py [--requests 200] [--tokens 128] [--concurrent 30]

`--dashboard` also measures what an open dashboard (/ui) costs: the pairs run in blocks, every other block
with a dashboard's load on the engine (one events subscriber and a status poll every second, as the page
does), and a second table sets the two side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import BACKEND_KEY, engine, median, peak_rss_mib, percentile, table, tiny_tiers

TIER = "fast"
_BLOCK = 20  # pairs per block with --dashboard: blocks alternate between a dashboard closed and open


async def one_stream(client: httpx2.AsyncClient, url: str, tokens: int) -> tuple[float, float, float]:
    """Time to first content token, streaming tokens/s, and time to the last token for one request."""
    body = {"model": TIER, "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": tokens,
            "stream": True, "ignore_eos": True, "temperature": 0.8}
    started = time.perf_counter()
    first = last = 0.0
    count = 0
    headers = {"authorization": f"Bearer {BACKEND_KEY}"}
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            delta = json.loads(line[5:])["choices"]
            if delta and delta[0].get("delta", {}).get("content"):
                now = time.perf_counter()
                if not count:
                    first = now
                last = now
                count += 1
    ttft = first - started
    speed = (count - 1) / (last - first) if count > 1 and last > first else float("nan")
    return ttft, speed, last - started


@asynccontextmanager
async def dashboard_open(url: str) -> AsyncIterator[dict[str, int]]:
    """What an open dashboard asks of the engine: the models once, its events stream, its status every second."""
    seen = {"events": 0, "polls": 0}
    async with httpx2.AsyncClient(base_url=url, timeout=30) as client, anyio.create_task_group() as tasks:

        async def follow() -> None:
            async with client.stream("GET", "/variet/events") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        json.loads(line[5:])
                        seen["events"] += 1

        async def poll() -> None:
            (await client.get("/v1/models")).raise_for_status()
            while True:
                (await client.get("/variet/status")).raise_for_status()
                seen["polls"] += 1
                await anyio.sleep(1)

        tasks.start_soon(follow)
        tasks.start_soon(poll)
        yield seen
        tasks.cancel_scope.cancel()


def dashboard_table(closed: dict[str, list[Any]], opened: dict[str, list[Any]], seen: dict[str, int]) -> str:
    """Added TTFT and throughput with the dashboard closed and open, side by side."""
    rows = []
    for side in (closed, opened):
        ttft = {k: [r[0] * 1000 for r in v] for k, v in side.items()}
        speed = {k: [r[1] for r in v] for k, v in side.items()}
        rows.append([
            median(ttft["engine"]) - median(ttft["direct"]),
            percentile(ttft["engine"], 99) - percentile(ttft["direct"], 99),
            median(speed["engine"]) / median(speed["direct"]),
            median(speed["engine"]),
        ])
    (added, added_p99, ratio, speed_), (added_open, added_p99_open, ratio_open, speed_open) = rows
    return table(["with the dashboard", "closed", "open", "open vs closed"], [
        ["added TTFT median (ms)", f"{added:+.3f}", f"{added_open:+.3f}", f"{added_open - added:+.3f} ms"],
        ["added TTFT p99 (ms)", f"{added_p99:+.3f}", f"{added_p99_open:+.3f}", f"{added_p99_open - added_p99:+.3f} ms"],
        ["engine tok/s median", speed_, speed_open, f"{speed_open / speed_:.1%}"],
        ["engine vs direct tok/s", f"{ratio:.1%}", f"{ratio_open:.1%}", f"{ratio_open - ratio:+.1%}"],
        ["pairs measured", len(closed["engine"]), len(opened["engine"]), ""],
        ["events / status polls the dashboard got", "-", f"{seen['events']} / {seen['polls']}", ""],
    ])


async def main(args: argparse.Namespace) -> None:
    directory = tiny_tiers(args.scale)
    with engine(directory) as running:
        async with httpx2.AsyncClient(timeout=120, limits=httpx2.Limits(max_connections=64)) as client:
            await one_stream(client, f"{running.url}/v1/chat/completions", 8)  # loads the tier
            backend = running.status().backend.url
            direct_url, engine_url = f"{backend}/v1/chat/completions", f"{running.url}/v1/chat/completions"
            for _ in range(5):  # warm both paths
                await one_stream(client, direct_url, 16)
                await one_stream(client, engine_url, 16)
            results: dict[str, list[tuple[float, float, float]]] = {"direct": [], "engine": []}
            opened: dict[str, list[tuple[float, float, float]]] = {"direct": [], "engine": []}
            seen = {"events": 0, "polls": 0}
            for block in range(0, args.requests, _BLOCK):
                is_open = args.dashboard and (block // _BLOCK) % 2 == 1
                side = opened if is_open else results
                view: AbstractAsyncContextManager[dict[str, int] | None] = (
                    dashboard_open(running.url) if is_open else nullcontext())
                async with view as counts:
                    for _ in range(min(_BLOCK, args.requests - block)):
                        side["direct"].append(await one_stream(client, direct_url, args.tokens))
                        side["engine"].append(await one_stream(client, engine_url, args.tokens))
                if counts is not None:
                    seen = {k: seen[k] + counts[k] for k in seen}

            async def concurrent() -> None:
                async with anyio.create_task_group() as tg:
                    for _ in range(args.concurrent):
                        tg.start_soon(one_stream, client, engine_url, args.tokens)

            await concurrent()
            rss = peak_rss_mib(running.process.pid)

    ttft = {k: [r[0] * 1000 for r in v] for k, v in results.items()}
    speed = {k: [r[1] for r in v] for k, v in results.items()}
    whole = {k: [r[2] * 1000 for r in v] for k, v in results.items()}
    added = median(ttft["engine"]) - median(ttft["direct"])
    ratio = median(speed["engine"]) / median(speed["direct"])
    added_p99 = percentile(ttft["engine"], 99) - percentile(ttft["direct"], 99)
    rows = [
        ["TTFT median (ms)", median(ttft["direct"]), median(ttft["engine"]), f"{added:+.2f} ms", "<= +2 ms",
         "PASS" if added <= 2 else "FAIL"],
        ["TTFT p95 (ms)", percentile(ttft["direct"], 95), percentile(ttft["engine"], 95),
         f"{percentile(ttft['engine'], 95) - percentile(ttft['direct'], 95):+.2f} ms", "", ""],
        ["TTFT p99 (ms)", percentile(ttft["direct"], 99), percentile(ttft["engine"], 99),
         f"{added_p99:+.2f} ms", "<= +2 ms", "PASS" if added_p99 <= 2 else "FAIL"],
        ["stream tok/s median", median(speed["direct"]), median(speed["engine"]), f"{ratio:.1%}", ">= 97 %",
         "PASS" if ratio >= 0.97 else "FAIL"],
        ["whole stream median (ms)", median(whole["direct"]), median(whole["engine"]),
         f"{median(whole['engine']) / median(whole['direct']):.1%}", "", ""],
        [f"engine peak RSS, {args.concurrent} streams (MiB)", "-", rss, "", "<= 150 MiB",
         "PASS" if rss <= 150 else "FAIL"],
    ]
    print(f"engine relay: {args.requests} interleaved streams of {args.tokens} tokens on tier {TIER!r} "
          f"(tiny model, scale {args.scale}, same llama-server)")
    print(table(["metric", "direct", "engine", "engine vs direct", "goal", ""], rows))
    if args.dashboard:
        print(f"\nthe same, in blocks of {_BLOCK} pairs with a dashboard closed and open in turn "
              "(open: one events subscriber and a status poll every second, as /ui does)")
        print(dashboard_table(results, opened, seen))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200,
                        help="interleaved pairs (p99 needs a few hundred); with --dashboard, half with it open")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--concurrent", type=int, default=30)
    parser.add_argument("--scale", type=int, default=1, help="widen the tiny models N times (default 1)")
    parser.add_argument("--dashboard", action="store_true",
                        help="also measure with a dashboard open (every other block of pairs), side by side")
    anyio.run(main, parser.parse_args())
