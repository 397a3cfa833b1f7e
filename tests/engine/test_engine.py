"""The engine against a real llama-server with tiny tiers: swaps, streaming, batching, crashes, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.parts.engine import RunningEngine, llama_server_binary, run_engine, write_config
from tests.parts.processes import kill_hard
from variet.contract import EngineStatus, ModelList
from variet.engine.core import Engine
from variet.engine.llama.backend import free_port
from variet.shared.config import load_settings

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

# Long enough (about 1 MB of SSE) that it cannot sit whole in socket buffers: while the test does not
# read, the stream stays in flight.
_LONG = 6000


def chat(model: str, *, stream: bool = False, max_tokens: int = 8, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": max_tokens,
            "stream": stream, **extra}


async def ask(client: httpx2.AsyncClient, tier: str, finished: list[str]) -> None:
    """A short chat on `tier`, answered by that tier; the tier goes on `finished` (the order of service)."""
    reply = await client.post("/v1/chat/completions", json=chat(tier))
    assert reply.status_code == 200 and reply.json()["model"] == tier
    finished.append(tier)


async def sse_data(response: httpx2.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()


async def test_a_swap_through_the_engine_is_reported_by_status_and_events(engine: RunningEngine) -> None:
    async with httpx2.AsyncClient(base_url=engine.url, timeout=30) as client:
        first = await client.post("/v1/chat/completions", json=chat("fast"))
        assert first.status_code == 200, first.text
        swaps_before = engine.status().swaps
        seen: list[dict[str, Any]] = []
        with anyio.fail_after(30):
            async with client.stream("GET", "/variet/events") as events:
                lines = sse_data(events)
                hello = json.loads(await anext(lines))
                assert hello["event"] == "subscribed"
                reply = await client.post("/v1/chat/completions", json=chat("balanced"))
                assert reply.status_code == 200
                assert reply.json()["model"] == "balanced"
                assert reply.headers["x-variet-tier"] == "balanced"
                async for data in lines:
                    seen.append(json.loads(data))
                    if seen[-1]["event"] == "swap_done":
                        break
    # Other events may interleave (the first request's request_done can land after its response on a busy
    # machine); the swap itself must be announced once, started then done.
    swaps = [e for e in seen if e["event"].startswith("swap_")]
    assert [e["event"] for e in swaps] == ["swap_started", "swap_done"], seen
    assert swaps[0]["tier"] == "balanced" and swaps[0]["previous"] == "fast"
    status = engine.status()
    assert status.loaded == "balanced"
    assert status.swaps == swaps_before + 1
    tiers: Any = status.tiers
    assert tiers["balanced"].last_swap.ok is True
    assert tiers["balanced"].measured_tokens_per_second > 0
    metrics = httpx2.get(f"{engine.url}/metrics").text
    assert 'variet_tier_loaded{tier="balanced"} 1' in metrics


async def test_a_long_stream_finishes_intact_before_the_next_tier_is_loaded(engine: RunningEngine) -> None:
    async with httpx2.AsyncClient(base_url=engine.url, timeout=60) as client:
        assert (await client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200
        finished: dict[str, float] = {}
        other: dict[str, Any] = {}

        async def ask_other_tier() -> None:
            reply = await client.post("/v1/chat/completions", json=chat("ultra"))
            finished["ultra"] = anyio.current_time()
            other["reply"] = reply

        with anyio.fail_after(60):
            async with client.stream("POST", "/v1/chat/completions",
                                     json=chat("fast", stream=True, max_tokens=_LONG, ignore_eos=True)) as stream:
                assert stream.status_code == 200
                chunks = sse_data(stream)
                first = json.loads(await anext(chunks))
                assert first["model"] == "fast"
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ask_other_tier)
                    load = await client.post("/variet/tiers/ultra/load")
                    assert load.status_code == 202 and load.json()["state"] == "loading"
                    status = await anyio.to_thread.run_sync(
                        engine.wait_for, "ultra to queue behind the stream",
                        lambda s: s.tiers["ultra"].queued == 1,
                    )
                    assert status.loaded == "fast"
                    assert status.tiers["fast"].in_flight == 1
                    rest = [data async for data in chunks]
                    finished["stream"] = anyio.current_time()
        assert rest[-1] == "[DONE]"
        content = [json.loads(d) for d in rest[:-1]]
        assert all(c["model"] == "fast" for c in content)
        assert len(content) > 1000
        assert other["reply"].status_code == 200
        assert other["reply"].json()["model"] == "ultra"
        assert finished["stream"] <= finished["ultra"]
        assert engine.status().loaded == "ultra"


async def test_thirty_concurrent_requests_over_three_tiers_all_complete_with_batched_swaps(
    engine: RunningEngine,
) -> None:
    tiers = ["fast", "deep-coder", "balanced"]
    models: dict[int, tuple[str, int, str]] = {}

    async def one(i: int, client: httpx2.AsyncClient) -> None:
        tier = tiers[i % 3]
        reply = await client.post("/v1/chat/completions", json=chat(tier, stream=i % 2 == 0, max_tokens=16))
        model = reply.headers.get("x-variet-tier", "")
        if i % 2 == 0:
            datas = [line[5:].strip() for line in reply.text.splitlines() if line.startswith("data:")]
            assert datas[-1] == "[DONE]"
            model = json.loads(datas[0])["model"]
        else:
            model = reply.json()["model"]
        models[i] = (tier, reply.status_code, model)

    limits = httpx2.Limits(max_connections=40)
    async with httpx2.AsyncClient(base_url=engine.url, timeout=120, limits=limits) as client:
        with anyio.fail_after(120):
            # A long stream on a fourth tier holds the engine while all thirty arrive, however slowly the
            # machine sends them; they then queue together, as a burst on a busy engine does.
            async with client.stream("POST", "/v1/chat/completions",
                                     json=chat("deep-logic", stream=True, max_tokens=_LONG, ignore_eos=True)) as stream:
                chunks = sse_data(stream)  # kept: a collected generator would close the stream
                await anext(chunks)
                swaps_before: Any = engine.status().swaps
                async with anyio.create_task_group() as tg:
                    for i in range(30):
                        tg.start_soon(one, i, client)
                    await anyio.to_thread.run_sync(
                        engine.wait_for, "all thirty to queue", lambda s: s.queued == 30)
                    await stream.aclose()  # leaving the stream frees deep-logic
    assert len(models) == 30
    assert all(status == 200 and model == tier for tier, status, model in models.values()), models
    swaps = engine.status().swaps - swaps_before
    # One batch per tier: exactly one swap into each of the three tiers.
    assert swaps == 3


async def test_a_killed_llama_server_gives_a_clear_503_then_the_engine_restarts_it(own_engine: RunningEngine) -> None:
    async with httpx2.AsyncClient(base_url=own_engine.url, timeout=30) as client:
        assert (await client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200
        backend: Any = own_engine.status().backend
        events: list[str] = []
        with anyio.fail_after(60):
            async with client.stream("GET", "/variet/events") as stream:
                lines = sse_data(stream)
                assert json.loads(await anext(lines))["event"] == "subscribed"
                kill_hard(backend.pid)
                reply = await client.post("/v1/chat/completions", json=chat("fast"))
                assert reply.status_code == 503
                error = reply.json()["error"]
                assert error["src"] == "variet-engine" and error["code"] == "backend_down"
                assert "llama-server" in error["message"]
                async for data in lines:
                    events.append(json.loads(data)["event"])
                    if events[-1] == "backend_up":
                        break
        assert [e for e in events if e != "request_done"] == ["backend_down", "backend_up"]
        status: Any = own_engine.status()
        assert status.backend.up and status.backend.restarts == 1
        again = await client.post("/v1/chat/completions", json=chat("fast"))
        assert again.status_code == 200, again.text
        assert again.json()["model"] == "fast"
    new_pid = own_engine.status().backend.pid
    assert new_pid != backend.pid


def live_group_members(group: int) -> list[int]:
    """Processes of a process group that are alive (zombies waiting to be reaped do not count)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.posix_only  # the Windows counterpart: tests/engine/llama/test_supervision_windows.py
def test_an_engine_killed_outright_takes_llama_server_and_its_instances_with_it(tiny_dir: Path) -> None:
    with run_engine(write_config(tiny_dir)) as running:
        httpx2.post(f"{running.url}/v1/chat/completions", json=chat("fast"), timeout=30)
        group: Any = running.status().backend.pid
        assert len(live_group_members(group)) >= 2  # the router and the fast instance
        running.process.kill()
        running.process.wait()
        deadline = time.monotonic() + 30
        while live_group_members(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_group_members(group) == []


@pytest.mark.posix_only  # process groups and pgrep; Windows: tests/engine/llama/test_supervision_windows.py
def test_stopping_the_engine_leaves_no_llama_server_behind(tiny_dir: Path) -> None:
    with run_engine(write_config(tiny_dir)) as running:
        httpx2.post(f"{running.url}/v1/chat/completions", json=chat("fast"), timeout=30)
        pid: Any = running.status().backend.pid
    children = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
    assert children == []


def test_unknown_tiers_and_malformed_bodies_get_clear_engine_errors(engine: RunningEngine) -> None:
    unknown = httpx2.post(f"{engine.url}/v1/chat/completions", json=chat("gpt-5"))
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["src"] == "variet-engine" and error["code"] == "model_not_found"
    assert "fast" in error["message"] and "deep-logic" in error["message"]

    malformed = httpx2.post(f"{engine.url}/v1/chat/completions", content=b"{not json",
                            headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_json"

    missing = httpx2.post(f"{engine.url}/v1/messages", json={"messages": []})
    assert missing.status_code == 400 and "`model` is required" in missing.json()["error"]["message"]

    wrong_method = httpx2.get(f"{engine.url}/v1/chat/completions")
    assert wrong_method.status_code == 405 and "takes POST" in wrong_method.json()["error"]["message"]

    bad_load = httpx2.post(f"{engine.url}/variet/tiers/mega/load")
    assert bad_load.status_code == 404 and "ultra" in bad_load.json()["error"]["message"]


def test_an_alias_is_served_by_its_tier(engine: RunningEngine) -> None:
    reply = httpx2.post(f"{engine.url}/v1/chat/completions", json=chat("tiny-fast"), timeout=30)
    assert reply.status_code == 200 and reply.json()["model"] == "fast"


def test_the_anthropic_messages_api_is_relayed(engine: RunningEngine) -> None:
    body = {"model": "fast", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx2.post(f"{engine.url}/v1/messages", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["type"] == "message"
    assert reply.json()["content"][0]["type"] == "text"


def test_a_missing_model_file_names_the_file_and_the_tier(tiny_dir: Path, tmp_path: Path) -> None:
    tiers = (tiny_dir / "tiers.toml").read_text().replace('"deep-coder.gguf"', '"gone.gguf"')
    (tmp_path / "tiers.toml").write_text(tiers.replace('models_dir = "."', f'models_dir = "{tiny_dir}"'))
    with run_engine(write_config(tmp_path)) as running:
        reply = httpx2.post(f"{running.url}/v1/chat/completions", json=chat("deep-coder"), timeout=30)
        assert reply.status_code == 500
        message = reply.json()["error"]["message"]
        assert "gone.gguf" in message and "deep-coder" in message
        assert running.status().tiers["deep-coder"].model_file_present is False
        assert httpx2.post(f"{running.url}/v1/chat/completions", json=chat("fast"), timeout=30).status_code == 200


async def test_a_model_llama_server_cannot_load_gets_a_clear_error_and_the_engine_carries_on(
    tiny_dir: Path, tmp_path: Path,
) -> None:
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + os.urandom(4096))
    tiers = (tiny_dir / "tiers.toml").read_text().replace('"balanced.gguf"', f'"{tmp_path / "broken.gguf"}"')
    (tmp_path / "tiers.toml").write_text(tiers.replace('models_dir = "."', f'models_dir = "{tiny_dir}"'))
    with run_engine(write_config(tmp_path)) as running:
        async with httpx2.AsyncClient(base_url=running.url, timeout=60) as client:
            # Several requests wait for the load together; each gets the engine's error, none hangs.
            with anyio.fail_after(60):
                replies = []
                async with anyio.create_task_group() as tg:
                    for _ in range(3):
                        tg.start_soon(lambda: _collect(client, chat("balanced"), replies))
            for reply in replies:
                assert reply.status_code == 500, reply.text
                error = reply.json()["error"]
                assert error["src"] == "variet-engine" and error["code"] == "tier_load_failed"
                assert "'balanced'" in error["message"] and "broken.gguf" in error["message"]
            assert (await client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200
        status = running.status()
        assert status.failed_swaps >= 1 and status.tiers["balanced"].last_swap.ok is False


async def _collect(client: httpx2.AsyncClient, body: dict[str, Any], into: list[httpx2.Response]) -> None:
    into.append(await client.post("/v1/chat/completions", json=body))


def test_an_api_key_is_required_when_configured(tiny_dir: Path) -> None:
    with run_engine(write_config(tiny_dir), env={"VARIET_ENGINE_API_KEY": "k-test"}) as running:
        assert httpx2.get(f"{running.url}/v1/models").status_code == 401
        wrong = httpx2.get(f"{running.url}/v1/models", headers={"x-api-key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["src"] == "variet-engine"
        ok = httpx2.get(f"{running.url}/v1/models", headers={"authorization": "Bearer k-test"})
        assert ok.status_code == 200 and {m["id"] for m in ok.json()["data"]} >= {"fast", "ultra"}
        assert httpx2.get(f"{running.url}/health").status_code == 200


def test_listening_beyond_loopback_without_an_api_key_is_refused(tiny_dir: Path) -> None:
    env = {**os.environ, "VARIET_ENGINE_LLAMA_SERVER": str(llama_server_binary())}
    env.pop("VARIET_ENGINE_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "variet.cli", "engine", "serve", "--config", str(write_config(tiny_dir)),
         "--listen", f"0.0.0.0:{free_port()}"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 2
    assert "without an API key" in done.stderr and "VARIET_ENGINE_API_KEY" in done.stderr


STACK_TRACE = """My service crashes on start-up, why?

Traceback (most recent call last):
  File "/srv/app/main.py", line 41, in <module>
    app = create_app(load_config(path))
  File "/srv/app/config.py", line 17, in load_config
    return Config(**json.load(fh))
TypeError: Config.__init__() got an unexpected keyword argument 'timeout_ms'
"""


def test_auto_routes_each_request_and_says_which_tier_it_chose(engine: RunningEngine) -> None:
    listed = {m["id"] for m in httpx2.get(f"{engine.url}/v1/models").json()["data"]}
    assert "auto" in listed
    body = {"model": "auto", "messages": [{"role": "user", "content": STACK_TRACE}], "max_tokens": 8}
    reply = httpx2.post(f"{engine.url}/v1/chat/completions", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    tier = reply.headers["x-variet-tier"]
    assert tier in ("deep-coder", "balanced", "ultra")
    assert reply.json()["model"] == tier
    assert json.loads(reply.headers["x-variet-route"])["reasons"]

    quick = {"model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": "quick: say hi"}]}
    answer = httpx2.post(f"{engine.url}/v1/messages", json=quick, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-variet-tier"] == answer.json()["model"]


async def test_a_client_that_goes_away_mid_stream_frees_its_tier(engine: RunningEngine) -> None:
    async with httpx2.AsyncClient(base_url=engine.url, timeout=60) as client:
        with anyio.fail_after(60):
            async with client.stream("POST", "/v1/chat/completions",
                                     json=chat("balanced", stream=True, max_tokens=_LONG, ignore_eos=True)) as stream:
                await anext(sse_data(stream))
                status = engine.status()
                assert status.tiers["balanced"].in_flight == 1
            # Leaving the block closes the connection without reading the rest.
            await anyio.to_thread.run_sync(
                engine.wait_for, "the abandoned stream to be released",
                lambda s: s.tiers["balanced"].in_flight == 0,
            )
        reply = await client.post("/v1/chat/completions", json=chat("deep-coder"))
    assert reply.status_code == 200 and reply.json()["model"] == "deep-coder"


async def test_after_the_fairness_bound_new_requests_for_a_busy_tier_queue_behind_the_waiting_one(
    tiny_dir: Path,
) -> None:
    with run_engine(write_config(tiny_dir, extra_engine="max_wait_seconds = 0.3")) as running:
        finished: list[str] = []
        async with httpx2.AsyncClient(base_url=running.url, timeout=60) as client:
            with anyio.fail_after(60):
                async with client.stream("POST", "/v1/chat/completions",
                                         json=chat("fast", stream=True, max_tokens=_LONG, ignore_eos=True)) as stream:
                    chunks = sse_data(stream)
                    await anext(chunks)
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(ask, client, "ultra", finished)
                        # Past the bound the busy tier stops taking new requests ...
                        await anyio.to_thread.run_sync(
                            running.wait_for, "the fast tier to drain", lambda s: s.state == "draining")
                        tg.start_soon(ask, client, "fast", finished)
                        status = await anyio.to_thread.run_sync(
                            running.wait_for, "the late fast request to queue",
                            lambda s: s.tiers["fast"].queued == 1)
                        assert status.tiers["fast"].in_flight == 1
                        assert finished == []
                        # ... and once its stream ends, the waiting tier goes first.
                        rest = [data async for data in chunks]
        assert rest[-1] == "[DONE]"
        assert finished == ["ultra", "fast"]


async def test_a_request_for_the_loaded_tier_sent_with_one_for_another_runs_without_a_swap_there_and_back(
    tiny_dir: Path,
) -> None:
    # balanced declares a 600 s load here, so a swap to it is held back for the whole (60 s) gathering window.
    tiers = (tiny_dir / "tiers.toml").read_text()
    balanced = tiers.index("[tiers.balanced]")
    slow = tiers[:balanced] + tiers[balanced:].replace("load_seconds = 0.05", "load_seconds = 600", 1)
    (tiny_dir / "tiers-slow-balanced.toml").write_text(slow)
    config = write_config(tiny_dir, extra_engine="swap_gather_seconds = 60", tiers_file="tiers-slow-balanced.toml")
    with run_engine(config) as running:
        finished: list[str] = []
        async with httpx2.AsyncClient(base_url=running.url, timeout=60) as client:
            with anyio.fail_after(60):
                await ask(client, "fast", finished)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ask, client, "balanced", finished)
                    await anyio.to_thread.run_sync(
                        running.wait_for, "the balanced request to queue",
                        lambda s: s.tiers["balanced"].queued == 1)
                    # fast is loaded and idle: a request for it sent alongside runs at once.
                    await ask(client, "fast", finished)
                    assert finished == ["fast", "fast"] and running.status().swaps == 1
                    # An explicit load is never held back.
                    assert (await client.post("/variet/tiers/balanced/load")).status_code == 202
        assert finished == ["fast", "fast", "balanced"]
        assert running.status().swaps == 2


def test_streamed_answers_report_their_decode_speed(own_engine: RunningEngine) -> None:
    with httpx2.stream("POST", f"{own_engine.url}/v1/chat/completions", timeout=60,
                       json=chat("deep-logic", stream=True, max_tokens=64, ignore_eos=True)) as stream:
        assert stream.read().rstrip().endswith(b"data: [DONE]")
    tiers: Any = own_engine.status().tiers
    assert tiers["deep-logic"].measured_tokens_per_second > 0
    metrics = httpx2.get(f"{own_engine.url}/metrics").text
    assert 'variet_generated_tokens_total{tier="deep-logic"} 64' in metrics


def test_anthropic_token_counting_is_relayed(engine: RunningEngine) -> None:
    body = {"model": "fast", "messages": [{"role": "user", "content": "count these words please"}]}
    reply = httpx2.post(f"{engine.url}/v1/messages/count_tokens", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["input_tokens"] > 4


async def test_a_swap_whose_requests_all_left_before_reaching_llama_server_still_completes(tiny_dir: Path) -> None:
    # A swap's batch normally starts the load itself, in llama-server (autoload). If every one of its
    # clients leaves before its request is sent, the engine must start the load on its own.
    settings = load_settings(write_config(tiny_dir))
    engine = Engine(settings, settings.tiers(), binary=llama_server_binary())
    await engine.start()
    try:
        with anyio.fail_after(60):
            assert await engine.scheduler.acquire("fast") is True  # let go while the tier loads...
            engine.scheduler.release("fast")  # ...and gone without a word to llama-server
            record = await engine.scheduler.finished_swap("fast")
            assert record is not None and record.ok
            assert await engine.scheduler.acquire("fast") is False  # loaded: runs at once
            engine.scheduler.release("fast")
        models = (await engine.backend.client.get("/models")).json()["data"]
        assert {m["id"]: m["status"]["value"] for m in models}["fast"] == "loaded"
    finally:
        await engine.stop()


def test_the_engine_publishes_its_contract_and_answers_by_it(engine: RunningEngine) -> None:
    document = httpx2.get(f"{engine.url}/variet/openapi.json", timeout=10).json()
    assert document["info"]["version"] and "EngineStatus" in document["components"]["schemas"]
    models = ModelList.model_validate_json(httpx2.get(f"{engine.url}/v1/models", timeout=10).content)
    assert models.names() == ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
    assert all(entry.tier and entry.tier.max_output_tokens == entry.tier.context for entry in models.tiers)
    status = EngineStatus.model_validate_json(httpx2.get(f"{engine.url}/variet/status", timeout=10).content)
    assert set(status.tiers) == set(models.names()) and status.backend.up
    assert status.tier("fast").context == models.tiers[0].tier.context  # type: ignore[union-attr]


def test_an_unknown_path_or_method_gets_the_engines_error_shape(engine: RunningEngine) -> None:
    for method, path, status in (("POST", "/variet/tiers/../../etc/load", 404), ("GET", "/nope", 404),
                                 ("DELETE", "/variet/status", 405), ("GET", "/v1/chat/completions", 405)):
        reply = httpx2.request(method, f"{engine.url}{path}", timeout=10)
        assert reply.status_code == status, (method, path, reply.text)
        error = reply.json()["error"]
        assert error["src"] == "variet-engine" and error["message"], (method, path, error)


def test_an_open_events_stream_ends_cleanly_when_the_engine_stops(own_engine: RunningEngine) -> None:
    lines: list[str] = []
    with httpx2.stream("GET", f"{own_engine.url}/variet/events", timeout=30) as events:
        stream = events.iter_lines()
        for line in stream:
            lines.append(line)
            if line.startswith("data:"):
                break  # subscribed: the stream is open
        started = time.monotonic()
        own_engine.process.terminate()
        rest = list(stream)  # ends when the engine closes the stream
    assert own_engine.process.wait(timeout=8) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert time.monotonic() - started < 5, "the events stream held the shutdown"
    assert lines[0] == "event: subscribed" and not any(line.startswith("event: error") for line in rest)
