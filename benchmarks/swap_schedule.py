"""Swap scheduling under mixed multi-client load: the engine versus llama-server's own router.

Both run the same tiny tiers with the same preset and `--models-max 1`, side by side in one run, taking
turns: run i of the engine and run i of llama-server's router use the same seed, back to back (in
alternating order), so they form a pair. On a small machine a run's total time swings by tens of percent
from one run to the next, so the verdict reads the pairs statistically: a paired bootstrap gives a 95 %
interval for each comparison (swaps per run, total time, p95 wait per tier), and the engine is worse on a
column only when the whole interval is on the worse side. Failures count strictly: any more than the
router's is worse.

Usage: python benchmarks/swap_schedule.py [--seed 7] [--repeat 10] [--scale 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import engine, percentile, table, tiny_tiers

from variet.contract import EngineStatus
from variet.engine.llama.backend import free_port
from variet.engine.llama.build import install_llama_server
from variet.engine.llama.launcher import stop_process
from variet.engine.llama.preset import render_preset
from variet.shared.config import EngineSettings
from variet.shared.tiers import load_tiers

TIERS = ("fast", "balanced", "deep-coder")


@dataclass
class Outcome:
    """One run of one workload on one system."""

    waits: dict[str, list[float]] = field(default_factory=dict)
    """Per tier: request sent to first streamed data line (queueing, any swap, and prompt processing)."""
    requests: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)
    total: float = 0.0
    swaps: int = 0


@dataclass
class Target:
    name: str
    url: str
    count_swaps: Callable[[], Awaitable[int]]


async def request(client: httpx2.AsyncClient, url: str, tier: str, outcome: Outcome) -> None:
    body = {"model": tier, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32, "stream": True}
    started = time.perf_counter()
    waited: float | None = None
    outcome.requests += 1
    try:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            last = ""
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    if waited is None:
                        waited = time.perf_counter() - started
                    last = line
            ok = response.status_code == 200 and last.strip() == "data: [DONE]"
            reason = f"{response.status_code} {last[:200]}"
    except httpx2.HTTPError as exc:
        ok, reason = False, repr(exc)
    if ok and waited is not None:
        outcome.waits.setdefault(tier, []).append(waited)
    else:
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
    """Four clients keep `fast` busy while one client asks `deep-coder` 8 times, each after 0.5 s of thought.

    The run ends with the waiter's last answer: both systems do the same deep-coder work, so their swaps
    compare (a waiter kept waiting asks less often within a fixed time, which would flatter the one that
    starves it), and the total is how long that work took.
    """
    done = anyio.Event()

    async def hammer() -> None:
        while not done.is_set():
            await request(client, url, "fast", outcome)

    async def waiter() -> None:
        for _ in range(8):
            # A think time between questions (this is the workload, not synchronisation).
            with anyio.move_on_after(0.5):
                await anyio.sleep_forever()
            await request(client, url, "deep-coder", outcome)
        done.set()

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(hammer)
        tg.start_soon(waiter)


HOGGED = "fast hogged, deep-coder asks 8x"
WORKLOADS = {"bursty (3 x 12 mixed)": bursty, "steady (3 users x 10)": steady, HOGGED: hog}


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


@contextlib.contextmanager
def native_router(directory: Path) -> Iterator[tuple[str, int]]:
    """llama-server's router used directly (its URL and pid): same preset, autoload on, models-max 1."""
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
        yield url, proc.pid
    finally:
        stop_process(proc, 20)


def pin(pid: int, cpus: set[int]) -> None:
    """Move every thread of process `pid` to `cpus`; processes it spawns later inherit them."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


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


Pair = tuple[Outcome, Outcome]  # (engine, llama-server router), same seed, back to back
Stat = Callable[[Sequence[Outcome], Sequence[Outcome]], float]


async def paired_runs(ours: Target, theirs: Target, repeat: int, seed: int) -> dict[str, list[Pair]]:
    """Each workload `repeat` times on both targets, same seed, taking turns on who goes first: drift on the
    machine and who-goes-first land on both alike."""
    pairs: dict[str, list[Pair]] = {name: [] for name in WORKLOADS}
    for i in range(repeat):
        for name, work in WORKLOADS.items():
            if i % 2 == 0:
                a = await run(ours, work, seed + i)
                b = await run(theirs, work, seed + i)
            else:
                b = await run(theirs, work, seed + i)
                a = await run(ours, work, seed + i)
            pairs[name].append((a, b))
        print(f"run {i + 1}/{repeat} done", file=sys.stderr)
    return pairs


def pooled(runs: Sequence[Outcome], tier: str) -> list[float]:
    return [wait for run in runs for wait in run.waits.get(tier, [])]


def interval(pairs: Sequence[Pair], stat: Stat, rng: random.Random, rounds: int = 2000) -> tuple[float, float, float]:
    """`stat(engine runs, router runs)` over all pairs, and its 95 % interval from resampling the pairs."""
    def on(chosen: Sequence[Pair]) -> float:
        return stat([ours for ours, _ in chosen], [theirs for _, theirs in chosen])

    samples = sorted(on([pairs[rng.randrange(len(pairs))] for _ in pairs]) for _ in range(rounds))
    return on(pairs), samples[int(0.025 * rounds)], samples[int(0.975 * rounds) - 1]


def mean_swaps(runs: Sequence[Outcome]) -> float:
    return statistics.fmean(run.swaps for run in runs)


def mean_total(runs: Sequence[Outcome]) -> float:
    return statistics.fmean(run.total for run in runs)


def p95_ratio(tier: str) -> Stat:
    return lambda ours, theirs: percentile(pooled(ours, tier), 95) / percentile(pooled(theirs, tier), 95)


def hogged_tier(who: str, runs: Sequence[Outcome]) -> list[object]:
    """How the busy tier of the hogged row fared: its volume, and how many of its requests a swap delayed."""
    waits = pooled(runs, "fast")
    usual = statistics.median(waits)
    delayed = sum(1 for wait in waits if wait > 4 * usual)
    return [who, f"{len(waits) / len(runs):.0f}", f"{delayed / len(runs):.1f}", f"{delayed / len(waits):.1%}", usual,
            percentile(waits, 95), mean_total(runs)]


def compare(pairs: Sequence[Pair], rng: random.Random) -> tuple[list[str], list[str]]:
    """The comparison cells of one workload (each `point [low-high]`) and the columns the engine is worse on."""
    ours, theirs = [p[0] for p in pairs], [p[1] for p in pairs]
    worse: list[str] = []
    swaps = interval(pairs, lambda a, b: mean_swaps(a) - mean_swaps(b), rng)
    total = interval(pairs, lambda a, b: mean_total(a) / mean_total(b), rng)
    if swaps[1] > 0:
        worse.append("swaps")
    if sum(r.failed for r in ours) > sum(r.failed for r in theirs):
        worse.append("failures")
    if total[1] > 1:
        worse.append("total time")
    waits = []
    for tier in sorted({t for run in ours for t in run.waits}):
        if len(pooled(ours, tier)) < 20 or len(pooled(theirs, tier)) < 20:
            continue  # too few to have a p95
        ratio = interval(pairs, p95_ratio(tier), rng)
        waits.append(f"{tier}={ratio[0]:.2f}x [{ratio[1]:.2f}-{ratio[2]:.2f}]")
        if ratio[1] > 1:
            worse.append(f"p95 {tier}")
    failed = f"{sum(r.failed for r in ours)} vs {sum(r.failed for r in theirs)}"
    cells = [f"{swaps[0]:+.1f} [{swaps[1]:+.1f} to {swaps[2]:+.1f}]", failed,
             f"{total[0]:.2f}x [{total[1]:.2f}-{total[2]:.2f}]", "  ".join(waits)]
    return cells, worse


async def main(args: argparse.Namespace) -> None:
    directory = tiny_tiers(args.scale)
    with engine(directory) as running, native_router(directory) as (url, native_pid):
        if args.pin:
            # As on the inference box: llama-server and its models get a core of their own, apart from the
            # clients and the engine (there, inference runs on GPUs and leaves the CPU to the engine).
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) < 2:
                raise SystemExit("--pin needs at least 2 CPUs")
            inference, rest = set(cpus[len(cpus) // 2:]), set(cpus[:len(cpus) // 2])
            pin(os.getpid(), rest)
            pin(running.process.pid, rest)
            pin(running.status().backend.pid or 0, inference)
            pin(native_pid, inference)

        async def engine_swaps() -> int:
            async with httpx2.AsyncClient() as client:
                answer = await client.get(f"{running.url}/variet/status")
                return EngineStatus.model_validate_json(answer.content).swaps

        async with native_swap_counter(url) as native_swaps:
            ours = Target("engine", running.url, engine_swaps)
            theirs = Target("llama-server router", url, native_swaps)
            # Both are up for the whole run (the idle one uses no CPU) and take turns.
            pairs = await paired_runs(ours, theirs, args.repeat, args.seed)

    rows, verdicts = [], []
    rng = random.Random(args.seed)
    for name, by_pair in pairs.items():
        for who, runs in (("engine", [p[0] for p in by_pair]), ("llama-server router", [p[1] for p in by_pair])):
            totals = sorted(run.total for run in runs)
            waits = "  ".join(f"{tier}={percentile(pooled(runs, tier), 95):.3f}"
                              for tier in sorted({t for run in runs for t in run.waits}))
            rows.append([name if who == "engine" else "", who, sum(r.requests for r in runs),
                         f"{mean_swaps(runs):.1f}", sum(r.failed for r in runs), mean_total(runs),
                         f"{totals[0]:.2f}-{totals[-1]:.2f}", waits])
        cells, worse = compare(by_pair, rng)
        verdicts.append([name, *cells, "no worse" if not worse else "WORSE on " + ", ".join(worse)])
        for who, runs in (("engine", [p[0] for p in by_pair]), ("router", [p[1] for p in by_pair])):
            for reason in [r for run in runs for r in run.reasons][:3]:
                print(f"failed ({who}, {name}): {reason}", file=sys.stderr)

    pinned = ", llama-server pinned apart from engine and clients" if args.pin else ""
    print(f"swap scheduling on tiny tiers, scale {args.scale}{pinned}: {args.repeat} runs per workload and system, "
          "in pairs (same preset, --models-max 1; requests and failures summed; swaps and total = mean per run; "
          "range = fastest-slowest run; wait = request sent to first streamed data)")
    print(table(["workload", "system", "requests", "swaps/run", "failed", "total s", "range s",
                 "p95 wait per tier (s)"], rows))
    print()
    print("engine vs llama-server router: point estimate [95 % paired-bootstrap interval]; worse = the whole "
          "interval on the worse side")
    print(table(["workload", "swaps/run, engine - router", "failed, engine vs router", "total, engine / router",
                 "p95 wait per tier, engine / router", "verdict"], verdicts))
    print()
    print("the hogged tier: each deep-coder answer delays one request of each busy client (a swap there and back);")
    print("where the delayed requests come near 5 % of the tier's requests, its p95 is one of them")
    print(table(["system", "fast requests/run", "delayed (> 4x median)/run", "share", "median s", "p95 s", "run s"],
                [hogged_tier(who, [p[i] for p in pairs[HOGGED]]) for i, who in enumerate(("engine", "router"))]))
    if args.json:
        raw = {name: [[{"total": run.total, "swaps": run.swaps, "failed": run.failed, "waits": run.waits}
                       for run in pair] for pair in by_pair] for name, by_pair in pairs.items()}
        await anyio.Path(args.json).write_text(json.dumps(raw))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=10, help="runs per workload and system (default 10)")
    parser.add_argument("--pin", action="store_true",
                        help="run llama-server (both) on half the CPUs and the engine and clients on the other half")
    parser.add_argument("--json", help="also write every run's figures (engine, router pairs) to this file")
    parser.add_argument("--scale", type=int, default=1,
                        help="widen the tiny models N times: tokens cost more, as on real tiers (default 1)")
    anyio.run(main, parser.parse_args())
