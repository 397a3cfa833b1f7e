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

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import BACKEND_KEY, engine, median, peak_rss_mib, percentile, table, tiny_tiers

TIER = "fast"
_BLOCK = 10  # pairs per block with --dashboard: blocks alternate between a dashboard closed and open


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


Pairs = dict[str, list[tuple[float, float, float]]]
"""Measurements per path ("direct", "engine"): TTFT, tok/s, whole stream, in seconds."""


def _figures(pairs: Pairs) -> tuple[float, float, float]:
    """Added TTFT median and p99 (ms) and engine vs direct tok/s."""
    ttft = {k: [r[0] * 1000 for r in v] for k, v in pairs.items()}
    speed = {k: [r[1] for r in v] for k, v in pairs.items()}
    return (median(ttft["engine"]) - median(ttft["direct"]),
            percentile(ttft["engine"], 99) - percentile(ttft["direct"], 99),
            median(speed["engine"]) / median(speed["direct"]))


def dashboard_table(closed: Pairs, halves: tuple[Pairs, Pairs], opened: Pairs, seen: dict[str, int]) -> str:
    """The engine's figures with the dashboard closed and open, side by side, beside the noise of this run: the
    same figures from the closed blocks split in two interleaved halves, A and B."""
    shut, open_, (a, b) = _figures(closed), _figures(opened), (_figures(halves[0]), _figures(halves[1]))
    rows = []
    # A cost is the open side worse than the closed one by more than this run's noise (or the goal's margin).
    checks = [("added TTFT median", "ms", 0.1, 1), ("added TTFT p99", "ms", 2.0, 1),
              ("engine vs direct tok/s", "%", 0.01, -1)]
    for i, (name, unit, floor, worse) in enumerate(checks):
        delta, noise = open_[i] - shut[i], abs(a[i] - b[i])
        same = "no cost" if worse * delta <= max(noise, floor) else "costs"
        if unit == "%":
            rows.append([name, f"{shut[i]:.1%}", f"{open_[i]:.1%}", f"{delta * 100:+.1f} pt", f"{noise * 100:.1f} pt",
                         same])
        else:
            rows.append([f"{name} ({unit})", f"{shut[i]:+.3f}", f"{open_[i]:+.3f}", f"{delta:+.3f}", f"{noise:.3f}",
                         same])
    rows += [["pairs measured", len(closed["engine"]), len(opened["engine"]), "", "", ""],
             ["events / status polls the dashboard read", "-", f"{seen['events']} / {seen['polls']}", "", "", ""]]
    return table(["engine", "dashboard closed", "open", "open - closed", "noise |A - B|", ""], rows)


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
            results: Pairs = {"direct": [], "engine": []}
            opened: Pairs = {"direct": [], "engine": []}
            halves: tuple[Pairs, Pairs] = ({"direct": [], "engine": []}, {"direct": [], "engine": []})
            seen = {"events": 0, "polls": 0}
            for number, block in enumerate(range(0, args.requests, _BLOCK)):
                is_open = args.dashboard and number % 2 == 1
                sides = [opened] if is_open else [results, halves[number // 2 % 2]]
                view: AbstractAsyncContextManager[dict[str, int] | None] = (
                    dashboard_open(running.url) if is_open else nullcontext())
                async with view as counts:
                    for _ in range(min(_BLOCK, args.requests - block)):
                        pair = {path: await one_stream(client, url, args.tokens)
                                for path, url in (("direct", direct_url), ("engine", engine_url))}
                        for side in sides:
                            for path, figures in pair.items():
                                side[path].append(figures)
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
        print(f"\nwith a dashboard open (one events subscriber, a status poll every second, as /ui does) in every "
              f"other block of {_BLOCK} pairs; noise: the closed blocks' figures split in two interleaved halves")
        print(dashboard_table(results, halves, opened, seen))


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
