"""What an MCP server adds: `chat` through variet-inference over stdio versus the same request sent straight
to the engine, and cold start / idle memory of our servers beside a bare `MCPServer`, in one run.

Usage: python benchmarks/mcp_overhead.py [--calls 30] [--starts 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).parent))
from _common import engine, median, rss_mib, table, tiny_tiers

BARE_SERVER = '''
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")

@server.tool()
def echo(text: str) -> str:
    """Echo the text."""
    return text

server.run("stdio")
'''

SERVERS = ("inference", "router", "search", "calendar", "gmail")


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _read(proc: subprocess.Popen[bytes], want_id: int) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("server closed stdout")
        message: dict[str, Any] = json.loads(line)
        if message.get("id") == want_id:
            return message


def cold_start(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds from spawn to an answered tools/list, idle RSS after it (MiB), and the number of tools."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        _send(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
        _read(proc, 1)
        _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _send(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = _read(proc, 2)["result"]["tools"]
        elapsed = time.perf_counter() - started
        rss = rss_mib(proc.pid)
        return elapsed, rss, len(tools)
    finally:
        proc.kill()
        proc.wait()


async def direct_chat(client: httpx2.AsyncClient, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        async for _ in response.aiter_lines():
            pass
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    directory = tiny_tiers()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARIET_")}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as bare:
        bare.write(BARE_SERVER)
    with engine(directory) as running:
        env.update(VARIET_ENGINE_URL=running.url, VARIET_CONFIG=os.devnull)
        messages = [{"role": "user", "content": "hello"}]
        body = {"model": "fast", "messages": messages, "max_tokens": 32, "temperature": 0.7, "stream": True}
        mcp_times: list[float] = []
        direct_times: list[float] = []
        params = StdioServerParameters(command=sys.executable, args=["-m", "variet.servers.inference"], env=env)
        async with httpx2.AsyncClient(timeout=60) as http, Client(params, mode="legacy") as client:
            await client.call_tool("load_tier", {"tier": "fast"})
            for _ in range(3):
                await client.call_tool("chat", {"messages": messages, "tier": "fast", "max_tokens": 32})
                await direct_chat(http, running.url, body)
            for _ in range(args.calls):
                started = time.perf_counter()
                result = await client.call_tool("chat", {"messages": messages, "tier": "fast", "max_tokens": 32})
                mcp_times.append(time.perf_counter() - started)
                assert not result.is_error, result.content
                direct_times.append(await direct_chat(http, running.url, body))

        starts: dict[str, list[tuple[float, float, int]]] = {}
        commands = {"bare MCPServer": [sys.executable, bare.name]}
        commands |= {f"variet-{name}": [sys.executable, "-m", f"variet.servers.{name}"] for name in SERVERS}
        for _ in range(args.starts):
            for label, command in commands.items():
                try:
                    sample = cold_start(command, env)
                except (RuntimeError, KeyError, ValueError) as exc:
                    print(f"{label}: could not start ({exc})", file=sys.stderr)
                    continue
                starts.setdefault(label, []).append(sample)
    os.unlink(bare.name)

    added = (median(mcp_times) - median(direct_times)) * 1000
    print(f"chat on tier 'fast', 32 tokens, {args.calls} calls each, interleaved")
    print(table(["path", "median (ms)", "added (ms)"], [
        ["engine directly (HTTP stream)", median(direct_times) * 1000, ""],
        ["variet-inference over stdio", median(mcp_times) * 1000, f"{added:+.1f}"],
    ]))
    print()
    bare_start = median([s[0] for s in starts["bare MCPServer"]])
    rows = []
    for label, samples in starts.items():
        start = median([s[0] for s in samples])
        delta = (start - bare_start) * 1000
        verdict = "" if label == "bare MCPServer" else ("PASS" if delta <= 50 else "FAIL")
        rows.append([label, samples[0][2], start * 1000, f"{delta:+.0f}", median([s[1] for s in samples]), verdict])
    print(f"cold start to an answered tools/list over stdio (median of {args.starts}); goal: within 50 ms of bare")
    print(table(["server", "tools", "start (ms)", "vs bare (ms)", "idle RSS (MiB)", ""], rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--starts", type=int, default=15,
                        help="cold starts per server (default 15; a median of 5 swung by 20 ms between runs)")
    anyio.run(main, parser.parse_args())
