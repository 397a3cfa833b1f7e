"""What the engine adds on top of llama-server: time to first token, streaming speed, memory.

Direct and relayed requests go to the same llama-server process and the same loaded tier, interleaved,
in one run. Usage: python benchmarks/engine_relay.py [--requests 200] [--tokens 128] [--concurrent 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import BACKEND_KEY, engine, median, peak_rss_mib, percentile, table, tiny_tiers

TIER = "fast"


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
            for _ in range(args.requests):
                results["direct"].append(await one_stream(client, direct_url, args.tokens))
                results["engine"].append(await one_stream(client, engine_url, args.tokens))

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="interleaved pairs (p99 needs a few hundred)")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--concurrent", type=int, default=30)
    parser.add_argument("--scale", type=int, default=1, help="widen the tiny models N times (default 1)")
    anyio.run(main, parser.parse_args())
