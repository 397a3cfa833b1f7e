"""What `variet-search` adds on top of SearXNG: `web_search` latency against a direct HTTP call.

Starts a real searx (Debian's package, as the tests do) whose only engine is a local fixture, then times,
interleaved in one run (shuffled within each round): a direct `GET /search?format=json` to searx,
`web_search` through the MCP server in-process and over stdio (fresh queries, so the cache never answers),
and a cached hit on each path.
Usage: python benchmarks/search.py [--requests 40]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx2
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.parts.searx import FixtureEngine, LoopbackServer, running_searx
from variet.servers.search import create_server
from variet.shared.config import SearchSettings, Settings


def _ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))] * 1000


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def run(requests: int, searx_url: str, workdir: Path) -> list[tuple[str, float, float, str]]:
    settings = Settings(search=SearchSettings(url=searx_url))
    config = workdir / "variet.toml"
    config.write_text(f'[search]\nurl = "{searx_url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")} | {"VARIET_CONFIG": str(config)}
    stdio = StdioServerParameters(command=sys.executable, args=["-m", "variet.servers.search"], env=env)
    times: dict[str, list[float]] = {
        "direct": [],
        "in-process": [],
        "stdio": [],
        "in-process cached": [],
        "stdio cached": [],
    }
    async with (
        httpx2.AsyncClient(base_url=searx_url, trust_env=False) as http,
        Client(create_server(settings)) as local,
        Client(stdio, mode="legacy") as remote,
    ):

        def direct(q: str) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                response = await http.get("/search", params={"q": q, "format": "json", "pageno": "1"})
                response.raise_for_status()
                return response.json()

            return call

        def tool(client: Client, q: str) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                result = await client.call_tool("web_search", {"query": q})
                assert not result.is_error, result.content
                return result

            return call

        for i in range(3):  # warm up connections and imports
            await direct(f"warm {i}")()
            await tool(local, f"warm {i}")()
            await tool(remote, f"warm {i}")()
        order = list(times)
        shuffle = random.Random(1234).shuffle
        for i in range(requests):
            calls = {
                "direct": direct(f"direct {i}"),
                "in-process": tool(local, f"local {i}"),
                "stdio": tool(remote, f"stdio {i}"),
                "in-process cached": tool(local, "warm 0"),
                "stdio cached": tool(remote, "warm 0"),
            }
            shuffle(order)  # no path always runs right after another
            for name in order:
                times[name].append(await _timed(calls[name]))

    rows = []
    for name, values in times.items():
        median, p90 = _ms(values)
        # Paired by round, so load from other processes that shifts a whole round cancels out.
        paired = statistics.median(v - d for v, d in zip(values, times["direct"], strict=True)) * 1000
        rows.append((name, median, p90, "baseline" if name == "direct" else f"{paired:+.2f} ms"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    # As `run_server` does: otherwise MCPServer logs every request at INFO through rich, which costs ms.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    engine = FixtureEngine()
    with (
        tempfile.TemporaryDirectory(prefix="variet-bench-search-") as tmp,
        LoopbackServer(engine.app) as fixture,
    ):
        engine.url = fixture.url
        with running_searx(fixture.url, Path(tmp)) as searx:
            rows = anyio.run(run, args.requests, searx.url, Path(tmp))
    print(f"web_search latency, {args.requests} requests per path (searx 1.1, one local fixture engine)\n")
    print(f"{'path':<20} {'median ms':>10} {'p90 ms':>8}  {'vs direct (median of paired differences)'}")
    print(f"{'-' * 20} {'-' * 10} {'-' * 8}  {'-' * 40}")
    for name, median, p90, delta in rows:
        print(f"{name:<20} {median:>10.2f} {p90:>8.2f}  {delta}")


if __name__ == "__main__":
    main()
