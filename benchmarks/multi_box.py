"""Two boxes versus one: the mixed workloads of swap_schedule.py against one engine that has every tier, and against
two engines that share the tiers (box A has fast and balanced, its peer box B has deep-coder), side by side; what
the extra hop through A costs a peer's tier; and what an RPC-split tier sends over the network.

Clients talk to one URL in both setups (box A's engine, which relays deep-coder to B), as the issue asks: no
client is rewired. Runs are paired and read as swap_schedule.py reads them: run i of each setup uses the same
seed, back to back in alternating order, and a paired bootstrap gives a 95 % interval for each comparison.
Both setups share this machine's CPUs, so the second box brings no compute of its own here: the difference is
the swaps it saves (each box keeps its own tier loaded), not a second GPU.

The hop: streams for deep-coder, interleaved, straight to B and through A, on tiny tiers (time to first token
and streaming speed). The RPC section splits the real SmolLM2 between this llama-server and an rpc-server on
loopback, through a counting TCP relay, and measures the bytes a load, a prompt token and a generated token
send across; the README scales those to the real tiers.

Usage: python benchmarks/multi_box.py [--repeat 6] [--seed 7] [--scale 1] [--hop-requests 200] [--no-rpc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import engine, median, percentile, table, tiny_tiers
from swap_schedule import (
    TIERS,
    Outcome,
    Target,
    interval,
    mean_swaps,
    mean_total,
    paired_runs,
    pooled,
)

from variet.contract import EngineStatus
from variet.engine.llama.launcher import EngineProcess

A_TIERS = ("fast", "balanced")
B_TIERS = ("deep-coder",)
PEER_TIER = "deep-coder"

Pair = tuple[Outcome, Outcome]  # (two boxes, one box), same seed, back to back


def box_directory(directory: Path, name: str, tiers: Sequence[str]) -> Path:
    """A folder for one box: a tiers.toml with `tiers` (their models stay in `directory`) and bench.toml."""
    box = directory / name
    box.mkdir()
    text = (directory / "tiers.toml").read_text()
    sections = ["[tiers." + part for part in text.split("\n[tiers.")[1:]]
    chosen = [s for s in sections if s.split("]", 1)[0].removeprefix("[tiers.") in tiers]
    (box / "tiers.toml").write_text(f'models_dir = "{directory}"\n\n' + "\n".join(chosen))
    (box / "bench.toml").write_text((directory / "bench.toml").read_text())
    return box


@contextmanager
def two_boxes(directory: Path) -> Iterator[tuple[EngineProcess, EngineProcess]]:
    """Box B with deep-coder, and box A with fast and balanced that serves B's tiers too."""
    with engine(box_directory(directory, "box-b", B_TIERS)) as b:
        peer = f'\n[[engine.peers]]\nname = "box-b"\nurl = "{b.url}"\npoll_seconds = 0.5\n'
        with engine(box_directory(directory, "box-a", A_TIERS), extra=peer) as a:
            deadline = time.monotonic() + 30
            while not any(p.up for p in a.status().peers):
                if time.monotonic() > deadline:
                    raise SystemExit(f"box A never saw box B up; A's log: {a.log}")
                time.sleep(0.05)
            yield a, b


def swap_counter(*boxes: EngineProcess) -> Callable[[], Awaitable[int]]:
    """Swaps on all the boxes together."""
    async def count() -> int:
        total = 0
        async with httpx2.AsyncClient() as client:
            for box in boxes:
                total += EngineStatus.model_validate_json((await client.get(f"{box.url}/variet/status")).content).swaps
        return total
    return count


async def workloads(args: argparse.Namespace, one: EngineProcess, a: EngineProcess,
                    b: EngineProcess) -> dict[str, list[Pair]]:
    two_boxes_target = Target("two boxes", a.url, swap_counter(a, b))
    one_box_target = Target("one box", one.url, swap_counter(one))
    return await paired_runs(two_boxes_target, one_box_target, args.repeat, args.seed)


def p95(runs: Sequence[Outcome], tier: str) -> float:
    return percentile(pooled(runs, tier), 95)


def report_workloads(pairs: dict[str, list[Pair]], seed: int) -> None:
    rng = random.Random(seed)
    rows, ratios = [], []
    for name, by_pair in pairs.items():
        two, one = [p[0] for p in by_pair], [p[1] for p in by_pair]
        for who, runs in (("one box, 5 tiers", one), ("two boxes (A + peer B)", two)):
            waits = "  ".join(f"{tier}={p95(runs, tier):.3f}" for tier in TIERS if pooled(runs, tier))
            rows.append([name if who.startswith("one") else "", who, sum(r.requests for r in runs),
                         f"{mean_swaps(runs):.1f}", sum(r.failed for r in runs), mean_total(runs), waits])
        swaps = interval(by_pair, lambda a, b: mean_swaps(a) - mean_swaps(b), rng)
        total = interval(by_pair, lambda a, b: mean_total(a) / mean_total(b), rng)
        waits = []
        for tier in TIERS:
            if len(pooled(two, tier)) >= 20 and len(pooled(one, tier)) >= 20:
                ratio = interval(by_pair, lambda a, b, t=tier: p95(a, t) / p95(b, t), rng)
                waits.append(f"{tier}={ratio[0]:.2f}x [{ratio[1]:.2f}-{ratio[2]:.2f}]")
        ratios.append([name, f"{swaps[0]:+.1f} [{swaps[1]:+.1f} to {swaps[2]:+.1f}]",
                       f"{total[0]:.2f}x [{total[1]:.2f}-{total[2]:.2f}]", "  ".join(waits)])
        for who, runs in (("two", two), ("one", one)):
            for reason in [r for run_ in runs for r in run_.reasons][:3]:
                print(f"failed ({who}, {name}): {reason}", file=sys.stderr)
    runs = len(next(iter(pairs.values())))
    print(f"mixed workloads (swap_schedule.py's) on tiny tiers: {runs} paired runs per workload and setup; swaps and "
          "total = mean per run (swaps summed over both boxes); wait = request sent to first streamed data")
    print(table(["workload", "setup", "requests", "swaps/run", "failed", "total s", "p95 wait per tier (s)"], rows))
    print()
    print("two boxes vs one box: point estimate [95 % paired-bootstrap interval]")
    print(table(["workload", "swaps/run, two - one", "total, two / one", "p95 wait per tier, two / one"], ratios))


async def stream(client: httpx2.AsyncClient, url: str, tokens: int) -> tuple[float, float]:
    """Time to first content token and to the end of one deep-coder stream (s)."""
    body = {"model": PEER_TIER, "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": tokens,
            "stream": True, "ignore_eos": True}
    started = time.perf_counter()
    first = 0.0
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not first and line.startswith("data:") and not line.endswith("[DONE]"):
                choices = json.loads(line[5:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    first = time.perf_counter()
    return first - started, time.perf_counter() - started


async def hop(args: argparse.Namespace, a: EngineProcess, b: EngineProcess) -> Callable[[], None]:
    """Measure the hop now (both boxes up); return the report, printed after the workloads'."""
    async with httpx2.AsyncClient(timeout=120) as client:
        for _ in range(5):  # load the tier on B and warm both paths
            await stream(client, b.url, 16)
            await stream(client, a.url, 16)
        results: dict[str, list[tuple[float, float]]] = {"direct": [], "through": []}
        for _ in range(args.hop_requests):
            results["direct"].append(await stream(client, b.url, args.tokens))
            results["through"].append(await stream(client, a.url, args.tokens))
    ttft = {k: [r[0] * 1000 for r in v] for k, v in results.items()}
    whole = {k: [r[1] * 1000 for r in v] for k, v in results.items()}
    stats: list[tuple[str, Callable[[Sequence[float]], float]]] = [
        ("median", median), ("p95", lambda v: percentile(v, 95)), ("p99", lambda v: percentile(v, 99))]
    rows = [[f"TTFT {label} (ms)", stat(ttft["direct"]), stat(ttft["through"]),
             f"{stat(ttft['through']) - stat(ttft['direct']):+.2f} ms"] for label, stat in stats]
    rows.append(["whole stream median (ms)", median(whole["direct"]), median(whole["through"]),
                 f"{median(whole['through']) / median(whole['direct']):.1%}"])

    def report() -> None:
        print(f"the extra hop: {args.hop_requests} interleaved streams of {args.tokens} tokens on {PEER_TIER!r}, "
              "loaded on box B; straight to B's engine vs through A's (which relays to B)")
        print(table(["metric", "B directly", "through A", "added by A"], rows))

    return report


class CountingRelay:
    """A loopback TCP relay in front of the RPC worker that counts what would cross the network, each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.to_worker = 0
        self.from_worker = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    @property
    def total(self) -> int:
        return self.to_worker + self.from_worker

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker_reader, worker_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, outbound: bool) -> None:
            try:
                while data := await source.read(1 << 20):
                    if outbound:
                        self.to_worker += len(data)
                    else:
                        self.from_worker += len(data)
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        await asyncio.gather(pump(reader, worker_writer, True), pump(worker_reader, writer, False),
                             return_exceptions=True)


@dataclass
class RpcFigures:
    load_bytes: int
    decode_bytes_per_token: float
    """Per generated token, right after a short prompt."""
    deep_decode_bytes_per_token: float
    """Per generated token, after a prompt of `context` tokens."""
    prompt_bytes_per_token: float
    context: int
    n_embd: int
    n_vocab: int


async def rpc_traffic() -> RpcFigures:
    from gguf import GGUFReader

    from variet.devtools.real_model import fetch_real_model
    from variet.engine.llama.backend import free_port
    from variet.engine.llama.build import install_llama_server

    model = fetch_real_model()
    reader = GGUFReader(model)
    n_embd = int(reader.fields["llama.embedding_length"].parts[-1][0])
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    binary = install_llama_server(say=lambda m: print(m, file=sys.stderr))
    worker_port = free_port()
    worker = await anyio.open_process([str(binary.with_name("rpc-server")), "--host", "127.0.0.1", "--port",
                                       str(worker_port), "--threads", "1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    relay = CountingRelay(worker_port)
    await relay.start()
    directory = tiny_tiers()
    common = f'model = "{model}"\ncontext = 4096\ntokens_per_second = 50\nload_seconds = 1\nstrengths = ["chat"]\n'
    layers = "args = { n-gpu-layers = 15 }\n"
    (directory / "tiers.toml").write_text(f'[tiers.counted]\n{common}rpc = ["127.0.0.1:{relay.port}"]\n{layers}')
    try:
        with engine(directory) as running:
            async with httpx2.AsyncClient(base_url=running.url, timeout=300) as client:
                async def ask(tier: str, content: str, tokens: int) -> dict[str, object]:
                    body = {"model": tier, "messages": [{"role": "user", "content": content}], "max_tokens": tokens,
                            "ignore_eos": True, "cache_prompt": False, "temperature": 0}
                    answer = await client.post("/v1/chat/completions", json=body)
                    answer.raise_for_status()
                    data: dict[str, object] = answer.json()
                    return data

                await ask("counted", "hi", 1)
                load = relay.total

                async def crossing(content: str, tokens: int) -> tuple[int, dict[str, object]]:
                    before = relay.total
                    answer = await ask("counted", content, tokens)
                    return relay.total - before, answer

                async def per_unit(small: tuple[str, int], big: tuple[str, int], units: float) -> float:
                    """Bytes per unit between two requests: their difference cancels what both share (the prompt,
                    per-request costs); each pair once to warm up (buffers sized for the shape), then the median of
                    three."""
                    samples = []
                    for _ in range(4):
                        samples.append(((await crossing(*big))[0] - (await crossing(*small))[0]) / units)
                    return statistics.median(samples[1:])

                words = " ".join(random.Random(1).choice(["sea", "wind", "stone", "light"]) for _ in range(1500))
                context = _prompt_tokens((await crossing(words, 1))[1])
                short = _prompt_tokens((await crossing("sea", 1))[1])
                decode = await per_unit(("hi", 8), ("hi", 208), 200)
                deep = await per_unit((words, 8), (words, 208), 200)
                prompt = await per_unit(("sea", 1), (words, 1), context - short)
    finally:
        await relay.stop()
        worker.terminate()
        await worker.wait()
    return RpcFigures(load, decode, deep, prompt, context, n_embd, n_vocab)


def _prompt_tokens(answer: dict[str, object]) -> int:
    usage = answer.get("usage")
    assert isinstance(usage, dict)
    return int(usage["prompt_tokens"])


def report_rpc(figures: RpcFigures) -> None:
    """Measured bytes beside the tensors that llama.cpp's RPC backend moves (read off GGML_RPC_DEBUG): per token,
    the hidden state (f32, n_embd) twice into the worker's first layer, the attention mask (f16, one row of n_kv
    cells), a few positions, and back the output layer's logits (f32, one per vocabulary entry)."""
    hidden, logits, context = 2 * figures.n_embd * 4, figures.n_vocab * 4, figures.context
    rows = [
        ["load: weights and buffers sent to the worker (MB)", f"{figures.load_bytes / 1e6:.1f}",
         "its 15 layers and the output layer"],
        ["per generated token, short context (KB)", f"{figures.decode_bytes_per_token / 1e3:.1f}",
         f"{(hidden + logits + 512) / 1e3:.1f}: hidden state 2 x {hidden // 2} B out, mask 512 B, logits back "
         f"{logits} B"],
        [f"per generated token, {context} tokens of context (KB)", f"{figures.deep_decode_bytes_per_token / 1e3:.1f}",
         f"{(hidden + logits + 2 * context) / 1e3:.1f}: the same, the mask now {2 * context} B (2 B per cached token)"],
        [f"per prompt token, {context}-token prompt (KB)", f"{figures.prompt_bytes_per_token / 1e3:.2f}",
         f"{(hidden + context + 512) / 1e3:.2f}: hidden state 2 x {hidden // 2} B out, mask 2 B x n_kv (n_kv "
         f"~{context // 2 + 256} on average: half the prompt and half a 512-token batch); logits for the last "
         "token only"],
    ]
    print(f"RPC traffic: SmolLM2-135M Q4_1 (30 layers, n_embd {figures.n_embd}, vocabulary {figures.n_vocab}), the "
          "last 15 layers and the output layer on an rpc-server on loopback, through a counting relay (with the CPU "
          "as this box's device the output layer goes to the worker, so logits come back every token)")
    print(table(["what crosses", "measured", "from the tensor sizes"], rows))


async def main(args: argparse.Namespace) -> None:
    directory = tiny_tiers(args.scale)
    with engine(directory) as one, two_boxes(directory) as (a, b):
        pairs = await workloads(args, one, a, b)
        hop_report = await hop(args, a, b)
    report_workloads(pairs, args.seed)
    print()
    hop_report()
    print()
    if not args.no_rpc:
        report_rpc(await rpc_traffic())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=6, help="paired runs per workload (default 6)")
    parser.add_argument("--scale", type=int, default=1, help="widen the tiny models N times (default 1)")
    parser.add_argument("--hop-requests", type=int, default=200, help="interleaved pairs for the hop (default 200)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per hop stream (default 64)")
    parser.add_argument("--no-rpc", action="store_true", help="skip the RPC traffic measurement")
    anyio.run(main, parser.parse_args())
