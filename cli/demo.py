"""`variet demo`: the whole suite on the embedded default, on one machine, with nothing configured.

Builds (or reuses) llama-server, writes the embedded default (a real tiny instruct model as `fast`, generated
tiers for the rest, and `coder`, a resident fill-in-the-middle tier), starts the engine on a free loopback port,
starts `variet-router` and `variet-inference` over stdio through a real MCP client, routes and runs a
handful of varied tasks, asks `coder` for a code completion in the middle of a swap, and prints what
happened. Every process it starts is stopped at the end, on
errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from variet.contract import EngineStatus

__all__ = ["TASKS", "add_parser"]

TASKS = (
    "quick: what's the capital of Portugal?",
    "Write a four-line poem about the first frost of autumn.",
    "Why does this crash?\nTraceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n"
    "    total = sum(prices) / len(prices)\nZeroDivisionError: division by zero",
    "Prove that the square root of 2 is irrational, step by step.",
    "Design the architecture of a multi-tenant rate limiter for a public API: storage, algorithms, failure "
    "modes and how to shard it. Think hard and weigh the trade-offs.",
    "quick: translate 'good morning' into French.",
)
_START_TIMEOUT = 60.0


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run the engine on tiny tiers and drive it through the MCP servers")
    demo.add_argument("--dir", type=Path, help="where to write the tiny tiers (default: a temporary folder)")
    demo.add_argument("--max-tokens", type=int, default=48, help="answer length per task (default 48)")
    demo.add_argument("--generated-only", action="store_true",
                      help="generated tiers only (no download of the real model for the fast tier)")
    demo.set_defaults(handler=_demo)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _demo(args: argparse.Namespace) -> int:
    from variet.devtools.tiny_models import write_tiny_tiers
    from variet.engine.llama.build import install_llama_server
    from variet.engine.llama.launcher import launch_engine

    _say("1/4 llama-server: building or reusing the cached build ...")
    binary = install_llama_server(say=_say)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="variet-demo-"))
    _say(f"2/4 writing the tiers to {directory} ...")
    tiny = write_tiny_tiers(directory, real_fast=not args.generated_only, coder=True)
    with launch_engine(tiny.settings_file, binary=binary, log=directory / "engine.log") as engine:
        _say(f"3/4 engine up at {engine.url}; starting variet-router and variet-inference over stdio ...")
        rows, answers, status = anyio.run(_drive, engine.url, args.max_tokens)
        completion = anyio.run(_complete_during_swap, engine.url, status.loaded)
    _print_table(rows)
    print(f"\n{completion}")
    print(f"\nengine: {status.swaps} swaps; measured tok/s: " + ", ".join(
        f"{name} {info.measured_tokens_per_second}" for name, info in status.tiers.items()
        if info.measured_tokens_per_second))
    if args.generated_only:
        print("(generated random-weight tiers: the answers are noise; the routing, swapping and streaming are real)")
        return 0
    print("\nanswers from the fast tier, a real model (SmolLM2-135M-Instruct, Q4_1): it is tiny, so they are weak:")
    for task, answer in answers:
        print(f"  > {_short(task, 70)}\n    {_short(answer, 300) or '(empty)'}")
    print("(the other tiers are generated random-weight models: their answers are noise, their swaps real)")
    return 0


async def _drive(url: str, max_tokens: int) -> tuple[list[list[str]], list[tuple[str, str]], EngineStatus]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from variet.shared.engine_client import EngineClient

    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    env |= {"VARIET_ENGINE_URL": url, "VARIET_CONFIG": os.devnull}

    def params(name: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable, args=["-m", f"variet.servers.{name}"], env=env)

    rows = []
    answers = []
    async with Client(params("router"), mode="legacy") as router, Client(params("inference"), mode="legacy") as infer:
        _say("4/4 routing and running tasks:")
        for number, task in enumerate(TASKS, 1):
            before: Any = (await infer.call_tool("engine_status", {})).structured_content

            async def progress(progress: float, total: float | None, message: str | None) -> None:
                if message and message.startswith("loading"):
                    _say(f"    {message}")

            result = await router.call_tool("run_task", {"task": task, "max_tokens": max_tokens},
                                            progress_callback=progress)
            if result.is_error:
                rows.append([_short(task), "error", result.content[0].text[:60], "", "", ""])  # type: ignore[union-attr]
                continue
            data: Any = result.structured_content
            took = data["swap_seconds"] if data["swap_seconds"] is not None else data["swap_wait_seconds"]
            swap = f"{before['loaded'] or 'none'} -> {data['tier']} {took:.2f} s" if data["swapped"] else "stay"
            _say(f"    [{number}] {data['reasons'][0]}")
            if data["tier"] == "fast":
                answers.append((task, data["answer"]))
            rows.append([_short(task), data["tier"], _short(data["reasons"][0], 58), swap,
                         f"{(data['time_to_first_token_seconds'] or 0) * 1000:.0f}",
                         f"{data['tokens_per_second'] or 0:.0f}"])
        async with EngineClient(url) as engine:
            status = await engine.status()
    return rows, answers, status


async def _complete_during_swap(url: str, loaded: str | None) -> str:
    """Start a swap, ask the resident FIM tier for a completion at once, and say when each ended."""
    import json

    import httpx2

    target = "ultra" if loaded != "ultra" else "balanced"
    swap: dict[str, float] = {}
    async with httpx2.AsyncClient(base_url=url, timeout=60) as client, anyio.create_task_group() as tg:
        subscribed, done = anyio.Event(), anyio.Event()

        async def watch() -> None:
            async with client.stream("GET", "/variet/events") as events:
                async for line in events.aiter_lines():
                    subscribed.set()
                    if line.startswith("data:") and (event := json.loads(line[5:]))["event"] in ("swap_started",
                                                                                                  "swap_done"):
                        swap[event["event"]] = event["time"]
                        if event["event"] == "swap_done":
                            done.set()

        tg.start_soon(watch)
        await subscribed.wait()
        await client.post(f"/variet/tiers/{target}/load")
        sent = time.time()
        reply = await client.post("/infill", json={"input_prefix": "def add(a, b):\n    ", "input_suffix": "\n",
                                                   "n_predict": 8})
        answered = time.time()
        with anyio.fail_after(60):
            await done.wait()
        tg.cancel_scope.cancel()
    tier = reply.headers.get("x-variet-tier", "?")
    if reply.status_code != 200:
        return f"completion: {reply.status_code} {reply.text[:200]}"
    start, end = swap.get("swap_started", sent), swap.get("swap_done", answered)
    verdict = "before the swap ended: it did not wait" if answered < end else "after the swap ended"
    return (f"completion from {tier} (resident) during the swap {loaded or 'none'} -> {target}: answered in "
            f"{(answered - sent) * 1000:.0f} ms, {(answered - start) * 1000:.0f} ms into a "
            f"{(end - start) * 1000:.0f} ms swap, {verdict}")


def _short(text: str, width: int = 40) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _print_table(rows: list[list[str]]) -> None:
    headers = ["task", "tier", "why", "swap", "TTFT ms", "tok/s"]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print()
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) if i < 4 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                    strict=True))))
