"""Resident tiers on a real llama-server: loaded at start, never evicted, answering while the other tiers swap."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.parts.engine import RunningEngine, run_engine, write_config

pytestmark = [pytest.mark.anyio, pytest.mark.llama]


@pytest.fixture(scope="module")
def resident_engine(coder_dir: Path) -> Iterator[RunningEngine]:
    with run_engine(write_config(coder_dir)) as running:
        running.wait_for("the resident coder to be loaded", lambda s: s.residents_loaded == ["coder"])
        yield running


async def test_a_resident_tier_is_loaded_at_start_and_shown_apart_from_the_swapping_tier(
    resident_engine: RunningEngine,
) -> None:
    status = resident_engine.status()
    assert status.residents == ["coder"] and status.loaded is None and status.state == "idle"
    assert status.tiers["coder"].resident and status.tiers["coder"].fim and status.tiers["coder"].loaded
    assert status.tiers["coder"].last_swap is not None and status.tiers["coder"].last_swap.ok
    assert status.swaps == 0  # a resident's load is no swap
    metrics = httpx2.get(f"{resident_engine.url}/metrics").text
    assert 'variet_tier_resident{tier="coder"} 1' in metrics and 'variet_tier_loaded{tier="coder"} 1' in metrics
    assert 'variet_tier_resident{tier="fast"} 0' in metrics


async def test_a_resident_tier_answers_during_swaps_without_waiting_for_them(resident_engine: RunningEngine) -> None:
    swaps: list[tuple[float, float]] = []
    answered: list[tuple[float, float]] = []
    done: list[dict[str, Any]] = []
    stop, sent_all, reported = anyio.Event(), anyio.Event(), anyio.Event()

    def all_reported() -> None:
        if sent_all.is_set() and len(done) >= len(answered):
            reported.set()

    async def swap_in_a_loop(client: httpx2.AsyncClient) -> None:
        for tier in ["fast", "ultra"] * 3:
            reply = await client.post("/v1/chat/completions", json={
                "model": tier, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
            assert reply.status_code == 200, reply.text
        stop.set()

    async def complete_in_a_loop(client: httpx2.AsyncClient) -> None:
        while not stop.is_set():
            sent = time.time()
            reply = await client.post("/v1/completions", json={"model": "coder", "prompt": "def add(a, b):",
                                                               "max_tokens": 2})
            assert reply.status_code == 200, reply.text
            answered.append((sent, time.time()))

    async def watch(client: httpx2.AsyncClient, subscribed: anyio.Event) -> None:
        started: float | None = None
        async with client.stream("GET", "/variet/events") as events:
            async for line in events.aiter_lines():
                if not line.startswith("data:"):
                    continue
                subscribed.set()
                event = json.loads(line[5:])
                if event["event"] == "swap_started":
                    started = event["time"]
                elif event["event"] == "swap_done" and started is not None:
                    swaps.append((started, event["time"]))
                elif event["event"] == "request_done" and event["tier"] == "coder":
                    done.append(event)
                    all_reported()

    with anyio.fail_after(90):
        async with httpx2.AsyncClient(base_url=resident_engine.url, timeout=60) as client:
            async with anyio.create_task_group() as tg:
                subscribed = anyio.Event()
                tg.start_soon(watch, client, subscribed)
                await subscribed.wait()
                async with anyio.create_task_group() as load:
                    load.start_soon(complete_in_a_loop, client)
                    await swap_in_a_loop(client)
                sent_all.set()
                all_reported()
                await reported.wait()  # the last request_done events on their way
                tg.cancel_scope.cancel()
    assert len(swaps) >= 5, swaps
    # Timestamps prove it: completions sent after a swap began were answered before that swap ended.
    inside = [(sent, end) for sent, end in answered for start, finish in swaps if start < sent and end < finish]
    assert inside, f"no completion fell inside a swap: swaps {swaps}, completions {answered[:20]}"
    assert done and all(e["resident"] and not e["waited_for_swap"] and e["waited_seconds"] < 0.05 for e in done)
    assert resident_engine.status().tiers["coder"].loaded  # never evicted


LLAMA_VSCODE_INFILL = {
    # The body llama.vscode sends (src/llama-server.ts, createRequestPayload): no `model`, llama.cpp's own fields.
    "input_prefix": "def add(a, b):\n    ", "input_suffix": "\n\nprint(add(1, 2))\n",
    "input_extra": [{"filename": "util.py", "text": "def sub(a, b):\n    return a - b\n"}],
    "prompt": "", "n_predict": 8, "top_k": 40, "top_p": 0.99, "stream": False,
    "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True, "n_indent": 4,
    "t_max_prompt_ms": 500, "t_max_predict_ms": 1000,
}


async def test_llama_vscodes_infill_request_is_served_by_the_fim_tier_through_the_engine(
    resident_engine: RunningEngine,
) -> None:
    reply = httpx2.post(f"{resident_engine.url}/infill", json=LLAMA_VSCODE_INFILL, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-variet-tier"] == "coder"
    answer = reply.json()
    assert isinstance(answer["content"], str) and answer["tokens_predicted"] <= 8 and answer["stop"] is True
    assert answer["timings"]["predicted_n"] >= 1


async def test_openai_completions_with_a_suffix_fill_in_the_middle_streamed_or_not(
    resident_engine: RunningEngine,
) -> None:
    body = {"model": "auto", "prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))\n", "max_tokens": 6}
    reply = httpx2.post(f"{resident_engine.url}/v1/completions", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["object"] == "text_completion" and answer["model"] == "coder"
    assert answer["choices"][0]["finish_reason"] in ("length", "stop") and isinstance(answer["choices"][0]["text"], str)
    assert answer["usage"]["completion_tokens"] <= 6
    with httpx2.stream("POST", f"{resident_engine.url}/v1/completions", json={**body, "stream": True},
                       timeout=30) as stream:
        assert stream.status_code == 200
        data = [line[5:].strip() for line in stream.iter_lines() if line.startswith("data:")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert all(c["object"] == "text_completion" and c["model"] == "coder" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop") and "usage" in chunks[-1]
    assert "".join(c["choices"][0]["text"] for c in chunks)


async def test_fill_in_the_middle_on_a_tier_without_fim_tokens_is_a_400_naming_the_tier(
    resident_engine: RunningEngine,
) -> None:
    reply = httpx2.post(f"{resident_engine.url}/infill", json={**LLAMA_VSCODE_INFILL, "model": "fast"}, timeout=30)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "fim_unsupported" and error["src"] == "variet-engine"
    assert "tier 'fast' cannot fill in the middle" in error["message"] and "'coder'" in error["message"]
    missing = httpx2.post(f"{resident_engine.url}/infill", json={"input_prefix": "x"}, timeout=30)
    assert missing.status_code == 400 and "`input_suffix` is required" in missing.json()["error"]["message"]
    bad = httpx2.post(f"{resident_engine.url}/v1/completions",
                      json={"model": "coder", "prompt": ["a", "b"], "suffix": "c"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt"


async def test_fill_in_the_middle_takes_the_engines_key_like_every_completion(coder_dir: Path) -> None:
    key = "sk-variet-fim-test-7d2a"
    with run_engine(write_config(coder_dir), env={"VARIET_ENGINE_API_KEY": key}) as keyed:
        refused = httpx2.post(f"{keyed.url}/infill", json=LLAMA_VSCODE_INFILL, timeout=30)
        assert refused.status_code == 401 and refused.json()["error"]["src"] == "variet-engine"
        # llama.vscode sends its API key setting as a bearer token
        reply = httpx2.post(f"{keyed.url}/infill", json=LLAMA_VSCODE_INFILL, timeout=30,
                            headers={"authorization": f"Bearer {key}"})
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-variet-tier"] == "coder"


def _instance_of(model: Path) -> int | None:
    """The pid of the llama-server instance serving `model`."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(model).encode() in cmdline.read_bytes().split(b"\0"):
                return int(cmdline.parent.name)
        except OSError:
            continue
    return None


@pytest.mark.posix_only
async def test_a_resident_whose_instance_dies_is_loaded_again_while_the_swapping_tier_stays(coder_dir: Path) -> None:
    with run_engine(write_config(coder_dir)) as running:
        running.wait_for("the resident coder", lambda s: s.residents_loaded == ["coder"])
        reply = httpx2.post(f"{running.url}/v1/chat/completions", timeout=30, json={
            "model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert reply.status_code == 200
        pid = _instance_of((coder_dir / "coder.gguf").resolve())
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        running.wait_for("the coder to be noticed gone and loaded again",
                         lambda s: s.residents_loaded == ["coder"] and _instance_of(
                             (coder_dir / "coder.gguf").resolve()) not in (None, pid), timeout=30)
        status = running.status()
        assert status.loaded == "fast" and status.swaps == 1  # the swap lane never noticed
        answer = httpx2.post(f"{running.url}/infill", json=LLAMA_VSCODE_INFILL, timeout=30)
        assert answer.status_code == 200, answer.text
