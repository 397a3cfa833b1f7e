"""The engine on a real quantized model (SmolLM2-135M-Instruct, Q4_1, the embedded default's fast tier).

Side by side, in one run: time to first token and decode speed through the engine versus llama-server
directly (same process, same loaded tier, interleaved), and the build's own prompt-processing and decode
speed as llama-server reports them. `--compare-binary PATH` adds another llama-server build (for example a
`-march=native` one) measured the same way on the same model, for the build trade in the README.

Usage: python benchmarks/real_model.py [--requests 40] [--tokens 64] [--compare-binary PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _common import BACKEND_KEY, engine, median, percentile, table, tiny_tiers

from variet.devtools.real_model import fetch_real_model
from variet.engine.llama.backend import free_port
from variet.engine.llama.build import install_llama_server

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle. " * 4


async def one_stream(client: httpx2.AsyncClient, url: str, tokens: int, model: str = "fast",
                     headers: dict[str, str] | None = None) -> tuple[float, float, dict[str, Any]]:
    """Time to first content token, streaming tokens/s, and llama-server's timings for one request."""
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens, "stream": True,
            "ignore_eos": True, "temperature": 0.8, "cache_prompt": False}
    started = time.perf_counter()
    first = last = 0.0
    count = 0
    timings: dict[str, Any] = {}
    async with client.stream("POST", url, json=body, headers=headers or {}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            chunk = json.loads(line[5:])
            timings = chunk.get("timings") or timings
            delta = chunk["choices"]
            if delta and delta[0].get("delta", {}).get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
                count += 1
    ttft = first - started
    speed = (count - 1) / (last - first) if count > 1 and last > first else float("nan")
    return ttft, speed, timings


async def build_speed(binary: Path, model: Path, requests: int, tokens: int) -> tuple[float, float]:
    """Median prompt-processing and decode tok/s of one llama-server build, run alone on the model."""
    port = free_port()
    process = await anyio.open_process([str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
                                        "--ctx-size", "4096", "--threads", "1", "--jinja"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # A connection per request: llama-server may close one that waited while it loaded.
        async with httpx2.AsyncClient(timeout=120, limits=httpx2.Limits(max_keepalive_connections=0)) as client:
            for _ in range(600):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.05)
            runs = [(await one_stream(client, f"http://127.0.0.1:{port}/v1/chat/completions", tokens))[2]
                    for _ in range(requests)]
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()
    return (median([t["prompt_per_second"] for t in runs]), median([t["predicted_per_second"] for t in runs]))


async def main(args: argparse.Namespace) -> None:
    directory = tiny_tiers(real_fast=True)
    with engine(directory) as running:
        async with httpx2.AsyncClient(timeout=120) as client:
            engine_url = f"{running.url}/v1/chat/completions"
            await one_stream(client, engine_url, 8)  # loads the tier
            direct_url = f"{running.status().backend.url}/v1/chat/completions"
            direct_headers = {"authorization": f"Bearer {BACKEND_KEY}"}
            results: dict[str, list[tuple[float, float, dict[str, Any]]]] = {"direct": [], "engine": []}
            for _ in range(args.requests):
                results["direct"].append(await one_stream(client, direct_url, args.tokens, headers=direct_headers))
                results["engine"].append(await one_stream(client, engine_url, args.tokens))
    ttft = {k: [r[0] * 1000 for r in v] for k, v in results.items()}
    speed = {k: [r[1] for r in v] for k, v in results.items()}
    added = median(ttft["engine"]) - median(ttft["direct"])
    added_p99 = percentile(ttft["engine"], 99) - percentile(ttft["direct"], 99)
    ratio = median(speed["engine"]) / median(speed["direct"])
    print(f"real model through the engine: {args.requests} interleaved streams of {args.tokens} tokens, "
          f"a {len(PROMPT.split())}-word prompt, no prompt cache (SmolLM2-135M-Instruct Q4_1, 1 thread)")
    print(table(["metric", "direct", "engine", "engine vs direct", "goal", ""], [
        ["TTFT median (ms)", median(ttft["direct"]), median(ttft["engine"]), f"{added:+.2f} ms", "<= +2 ms",
         "PASS" if added <= 2 else "FAIL"],
        ["TTFT p99 (ms)", percentile(ttft["direct"], 99), percentile(ttft["engine"], 99), f"{added_p99:+.2f} ms",
         "<= +2 ms", "PASS" if added_p99 <= 2 else "FAIL"],
        ["stream tok/s median", median(speed["direct"]), median(speed["engine"]), f"{ratio:.1%}", ">= 97 %",
         "PASS" if ratio >= 0.97 else "FAIL"],
    ]))
    model = fetch_real_model()
    builds = [("this build (" + install_llama_server().parent.parent.name + ")", install_llama_server())]
    if args.compare_binary:
        builds.append((f"compared: {args.compare_binary}", Path(args.compare_binary)))
    rows = []
    for name, binary in builds:
        prompt, decode = await build_speed(binary, model, max(3, args.requests // 4), args.tokens)
        rows.append([name, prompt, decode])
    print("\nllama-server alone on the model (median of llama-server's own timings, 1 thread)")
    print(table(["build", "prompt tok/s", "decode tok/s"], rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--compare-binary", help="another llama-server build to measure on the same model")
    anyio.run(main, parser.parse_args())
