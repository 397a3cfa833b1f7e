"""Completions that never wait for a swap: fill-in-the-middle latency from a resident tier, idle and while the
engine swaps its other tiers in a loop, beside the same completion sent to a non-resident tier.

The tiers are the generated tiny ones, four times wider (so a swap costs a model load), plus the resident
FIM tier `coder` and `coder-swapping`, the same model file as an ordinary swapping tier. Measured through the
real engine and llama-server, with llama.vscode's `/infill` request (8 tokens):

* idle: completions from `coder` one after another, nothing else running;
* during swaps: the same completions while a client swaps `fast` and `ultra` back and forth (a one-token chat
  on each, so every request costs a swap), and meanwhile a second client sends the same completion to
  `coder-swapping`, which queues behind those swaps like any other tier;
* the baseline: each completion is also sent straight to llama-server's `coder` instance (bypassing the
  engine), in turn with the engine's, idle and during the same swaps: what the box itself does.

The last column is the engine's own account (`request_done` events): how long each request waited for its
tier to be loaded or free, the part a resident tier removes. Goal: the resident's p95 during swaps within
1.2x of its idle p95. On this 2-core CPU a swap's model load
competes with the completion for the cores, which Machine A's GPUs do not: the baseline rows show how much of
the slowdown that is, whatever the engine does.

Usage: .venv/bin/python benchmarks/fim.py [--count 60] [--scale 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import BACKEND_KEY, engine, percentile, table, tiny_tiers

GOAL = 1.2
BODY = {"input_prefix": "def add(a, b):\n    ", "input_suffix": "\n\nprint(add(1, 2))\n", "input_extra": [],
        "prompt": "", "n_predict": 8, "top_k": 40, "top_p": 0.99, "samplers": ["top_k", "top_p", "infill"],
        "cache_prompt": True, "t_max_predict_ms": 1000}


async def _complete(client: httpx2.AsyncClient, model: str | None) -> float:
    started = time.perf_counter()
    reply = await client.post("/infill", json={**BODY, **({"model": model} if model else {})})
    reply.raise_for_status()
    return (time.perf_counter() - started) * 1000


Times = dict[str, list[float]]


async def _measure(url: str, count: int) -> tuple[Times, int, Times]:
    waited: dict[str, list[float]] = {"coder": [], "coder-swapping": []}
    measuring = False

    async def watch(client: httpx2.AsyncClient, subscribed: asyncio.Event) -> None:
        async with client.stream("GET", "/variet/events") as events:
            async for line in events.aiter_lines():
                subscribed.set()
                if measuring and line.startswith("data:") and '"request_done"' in line:
                    event = json.loads(line[5:])
                    if event["tier"] in waited:
                        waited[event["tier"]].append(event["waited_seconds"] * 1000)

    times: Times = {"idle": [], "idle direct": [], "during": [], "during direct": [], "elsewhere": []}
    async with httpx2.AsyncClient(base_url=url, timeout=300) as client:
        backend = (await client.get("/variet/status")).json()["backend"]["url"]
        direct = httpx2.AsyncClient(base_url=backend, timeout=300, headers={"authorization": f"Bearer {BACKEND_KEY}"})
        subscribed = asyncio.Event()
        watcher = asyncio.create_task(watch(client, subscribed))
        await subscribed.wait()
        for _ in range(5):  # warm up: the first answers fill caches
            await _complete(client, None)
            await _complete(direct, "coder")
        for _ in range(count):  # through the engine and to llama-server directly, in turn
            times["idle"].append(await _complete(client, None))
            times["idle direct"].append(await _complete(direct, "coder"))
        swaps_before = (await client.get("/variet/status")).json()["swaps"]
        stop, under_way = asyncio.Event(), asyncio.Event()

        async def swap_loop() -> None:
            while not stop.is_set():
                for tier in ("fast", "ultra"):
                    chat = {"model": tier, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
                    (await client.post("/v1/chat/completions", json=chat)).raise_for_status()
                under_way.set()

        async def non_resident() -> None:
            while not stop.is_set():
                times["elsewhere"].append(await _complete(client, "coder-swapping"))

        swapping = asyncio.create_task(swap_loop())
        other = asyncio.create_task(non_resident())
        await under_way.wait()
        measuring = True
        for _ in range(count):
            times["during"].append(await _complete(client, None))
            times["during direct"].append(await _complete(direct, "coder"))
        stop.set()
        await swapping
        await other
        measuring = False
        swaps = (await client.get("/variet/status")).json()["swaps"] - swaps_before
        watcher.cancel()
        await direct.aclose()
    return times, swaps, waited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=60, help="completions per measurement (default 60)")
    parser.add_argument("--scale", type=int, default=4, help="width of the generated tiers (default 4)")
    args = parser.parse_args()
    directory = tiny_tiers(args.scale, coder=True)
    tiers = directory / "tiers.toml"
    tiers.write_text(tiers.read_text() + '\n[tiers.coder-swapping]\nmodel = "coder.gguf"\ncontext = 4096\n'
                     'gpus = []\ntokens_per_second = 2400\nload_seconds = 0.05\n'
                     'description = "The resident coder\'s model as an ordinary swapping tier."\n')
    with engine(directory) as running:
        times, swaps, waited = asyncio.run(_measure(running.url, args.count))

    def row(name: str, key: str, base: str, wait: str | None) -> list[object]:
        values = times[key]
        return [name, len(values), percentile(values, 50), percentile(values, 95),
                percentile(values, 95) / percentile(times[base], 95),
                "-" if wait is None else percentile(waited[wait], 95)]

    rows = [
        row("coder (resident) through the engine, idle", "idle", "idle", None),
        row("coder (resident) through the engine, during swaps", "during", "idle", "coder"),
        row("coder-swapping (not resident), during the same swaps", "elsewhere", "idle", "coder-swapping"),
        row("baseline: coder on llama-server directly, idle", "idle direct", "idle direct", None),
        row("baseline: coder on llama-server directly, during swaps", "during direct", "idle direct", None),
    ]
    during, idle = percentile(times["during"], 95), percentile(times["idle"], 95)
    print(f"/infill latency in ms, 8 tokens; {swaps} swaps of fast <-> ultra (scale {args.scale}) during the rows "
          f"that say so\n")
    print(table(["completion", "n", "p50 ms", "p95 ms", "p95 / idle p95", "p95 waited for tier ms"], rows))
    ratio = during / idle
    direct = percentile(times["during direct"], 95) / percentile(times["idle direct"], 95)
    print(f"\ngoal: resident p95 during swaps <= {GOAL}x idle: {ratio:.2f}x, {'met' if ratio <= GOAL else 'missed'} "
          f"(llama-server alone, same swaps: {direct:.2f}x; waited for its tier: "
          f"{percentile(waited['coder'], 95):.1f} ms p95)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
