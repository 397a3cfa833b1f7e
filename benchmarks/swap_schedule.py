"""Swap scheduling under mixed multi-client load: the engine versus llama-server's own router.

Both run the same tiny tiers with the same preset and `--models-max 1`, side by side in one run, taking
turns. Usage: python benchmarks/swap_schedule.py [--seed 7] [--repeat 5] [--scale 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import engine, percentile, table, tiny_tiers

from variet.engine.backend import free_port
from variet.engine.launcher import stop_process
from variet.engine.llama_build import install_llama_server
from variet.engine.preset import render_preset
from variet.shared.config import EngineSettings, load_tiers

TIERS = ("fast", "balanced", "deep-coder")


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failed: int = 0
    reasons: list[str] = field(default_factory=list)
    total: float = 0.0
    swaps: int = 0
    totals: list[float] = field(default_factory=list)


@dataclass
class Target:
    name: str
    url: str
    count_swaps: Callable[[], Awaitable[int]]


async def request(client: httpx2.AsyncClient, url: str, tier: str, outcome: Outcome) -> None:
    body = {"model": tier, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32, "stream": True}
    started = time.perf_counter()
    ok = False
    try:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            last = ""
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    last = line
            ok = response.status_code == 200 and last.strip() == "data: [DONE]"
            reason = f"{response.status_code} {last[:200]}"
    except httpx2.HTTPError as exc:
        ok, reason = False, repr(exc)
    outcome.latencies.setdefault(tier, []).append(time.perf_counter() - started)
    if not ok:
        outcome.failed += 1
        outcome.reasons.append(f"{tier}: {reason}")


async def bursty(client: httpx2.AsyncClient, url: str, outcome: Outcome, rng: random.Random) -> None:
    for _ in range(3):
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(request, client, url, rng.choice(TIERS), outcome)


async def steady(client: httpx2.AsyncClient, url: str, outcome: Outcome, rng: random.Random) -> None:
    async def user(offset: int) -> None:
        for i in range(10):
            await request(client, url, TIERS[(i + offset) % 3], outcome)

    async with anyio.create_task_group() as tg:
        for offset in range(3):
            tg.start_soon(user, offset)


async def hog(client: httpx2.AsyncClient, url: str, outcome: Outcome, rng: random.Random) -> None:
    """Four clients keep `fast` busy for about 4 s; one request for `deep-coder` arrives meanwhile."""
    stop_at = time.perf_counter() + 4.0

    async def hammer() -> None:
        for _ in range(400):
            if time.perf_counter() >= stop_at:
                return
            await request(client, url, "fast", outcome)

    async def late() -> None:
        with anyio.move_on_after(0.5):
            await anyio.sleep_forever()
        await request(client, url, "deep-coder", outcome)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(hammer)
        tg.start_soon(late)


WORKLOADS = {"bursty (3 x 12 mixed)": bursty, "steady (3 users x 10)": steady, "one tier hogged, one waits": hog}


async def run(target: Target, workload: Callable[..., Awaitable[None]], seed: int) -> Outcome:
    outcome = Outcome()
    before = await target.count_swaps()
    limits = httpx2.Limits(max_connections=64)
    async with httpx2.AsyncClient(timeout=300, limits=limits) as client:
        started = time.perf_counter()
        await workload(client, target.url, outcome, random.Random(seed))
        outcome.total = time.perf_counter() - started
    outcome.swaps = await target.count_swaps() - before
    return outcome


def pool(runs: list[Outcome]) -> Outcome:
    """Runs of one workload on one system: latencies pooled, swaps and failures summed, median total kept."""
    pooled = Outcome(total=statistics.median(r.total for r in runs))
    pooled.totals = sorted(r.total for r in runs)
    for r in runs:
        pooled.swaps += r.swaps
        pooled.failed += r.failed
        pooled.reasons += r.reasons
        for tier, lat in r.latencies.items():
            pooled.latencies.setdefault(tier, []).extend(lat)
    return pooled


@contextlib.contextmanager
def native_router(directory: Path) -> Iterator[str]:
    """llama-server's router used directly: same preset, autoload on, models-max 1."""
    binary = install_llama_server(say=lambda m: print(m, file=sys.stderr))
    preset = directory / "native-preset.ini"
    preset.write_text(render_preset(load_tiers(directory / "tiers.toml"), EngineSettings(backend_args={"threads": 1})))
    port = free_port()
    proc = subprocess.Popen([str(binary), "--models-preset", str(preset), "--models-max", "1", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        stop_process(proc, 20)


@contextlib.asynccontextmanager
async def native_swap_counter(url: str) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Counts `loaded` model-status events on llama-server's /models/sse."""
    loads = 0
    ready = anyio.Event()

    async def listen() -> None:
        nonlocal loads
        async with httpx2.AsyncClient(timeout=None) as client, client.stream("GET", f"{url}/models/sse") as stream:
            ready.set()
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    with contextlib.suppress(ValueError):
                        event = json.loads(line[5:])
                        kind, data = event.get("event"), event.get("data", {})
                        if kind in ("model_status", "status_change") and data.get("status") == "loaded":
                            loads += 1

    async def count() -> int:
        return loads

    async with anyio.create_task_group() as tg:
        tg.start_soon(listen)
        await ready.wait()
        yield count
        tg.cancel_scope.cancel()


async def main(args: argparse.Namespace) -> None:
    directory = tiny_tiers(args.scale)
    runs: dict[str, dict[str, list[Outcome]]] = {who: {name: [] for name in WORKLOADS} for who in ("engine", "native")}
    with engine(directory) as running, native_router(directory) as url:
        async def engine_swaps() -> int:
            async with httpx2.AsyncClient() as client:
                return int((await client.get(f"{running.url}/variet/status")).json()["swaps"])

        async with native_swap_counter(url) as native_swaps:
            targets = {"engine": Target("engine", running.url, engine_swaps),
                       "native": Target("llama-server router", url, native_swaps)}
            # Both are up for the whole run and take turns, in alternating order, on the same seeds: drift
            # on the machine and who-goes-first land on both alike. The idle one uses no CPU.
            for i in range(args.repeat):
                for name, work in WORKLOADS.items():
                    for who in ("engine", "native") if i % 2 == 0 else ("native", "engine"):
                        runs[who][name].append(await run(targets[who], work, args.seed + i))
    results = {who: {name: pool(outcomes) for name, outcomes in by_name.items()} for who, by_name in runs.items()}

    rows = []
    for name in WORKLOADS:
        for who in ("engine", "native"):
            outcome = results[who][name]
            waits = "  ".join(f"{tier}={percentile(lat, 95):.2f}" for tier, lat in sorted(outcome.latencies.items()))
            count = sum(len(v) for v in outcome.latencies.values())
            spread = f"{outcome.totals[0]:.2f}-{outcome.totals[-1]:.2f}"
            rows.append([name if who == "engine" else "", "engine" if who == "engine" else "llama-server router",
                         count, outcome.swaps, outcome.failed, outcome.total, spread, waits])
        ours, theirs = results["engine"][name], results["native"][name]
        worse = [what for what, bad in [
            ("swaps", ours.swaps > theirs.swaps),
            ("failures", ours.failed > theirs.failed),
            ("total time", ours.total > theirs.total),
            *((f"p95 {tier}", percentile(lat, 95) > percentile(theirs.latencies.get(tier, []), 95))
              for tier, lat in sorted(ours.latencies.items())),
        ] if bad]
        verdict = "no worse" if not worse else "worse on " + ", ".join(worse)
        ratios = "  ".join(f"{tier}={percentile(lat, 95) / percentile(theirs.latencies[tier], 95):.2f}x"
                           for tier, lat in sorted(ours.latencies.items()) if tier in theirs.latencies)
        rows.append(["", f"  -> engine {verdict}", "", f"{ours.swaps - theirs.swaps:+d}",
                     f"{ours.failed - theirs.failed:+d}", f"{ours.total / theirs.total:.2f}x", "", ratios])
    for who, by_name in results.items():
        for name, outcome in by_name.items():
            for reason in outcome.reasons[:3]:
                print(f"failed ({who}, {name}): {reason}", file=sys.stderr)
    print(f"swap scheduling on tiny tiers, scale {args.scale}, {args.repeat} runs each, interleaved (same preset, "
          "--models-max 1; requests, swaps and failures summed; total s = median run, range = fastest-slowest "
          "run; latency = request start to [DONE])")
    print(table(["workload", "system", "requests", "swaps", "failed", "total s", "range s",
                 "p95 latency per tier (s)"], rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload and system (default 5)")
    parser.add_argument("--scale", type=int, default=1,
                        help="widen the tiny models N times: tokens cost more, as on real tiers (default 1)")
    anyio.run(main, parser.parse_args())
