"""Two real engines on loopback, each with its own llama-server and tiers: the first serves the second's.

Box A has `fast` and `balanced`; box B (the peer, with an API key) has `coder` and a `fast` of its own. A
serves `coder` under its name, B's `fast` as `box-b/fast`, and relays their requests and streams to B.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.parts.engine import RunningEngine, run_engine, write_config
from variet.contract import EngineStatus, ModelList
from variet.engine.llama.backend import free_port
from variet.shared.engine_client import EngineClient
from variet.shared.secrets import write_private_file

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

KEY = "box-b-key-that-must-never-show"
B_HEADERS = {"authorization": f"Bearer {KEY}"}

HARD_CODE = (
    "Our asyncio job queue deadlocks under load: a worker holds the queue lock while it awaits the results "
    "lock, and the reaper takes them in the other order. Redesign the locking across queue.py, worker.py and "
    "reaper.py so it cannot deadlock, keep the public API, and add a stress test that would have caught it."
)
"""A task for the deep coding tier (`coder`, on box B): `auto` must send it there."""


def tier(name: str, model: Path, aliases: list[str], strengths: list[str]) -> str:
    return (f'[tiers.{name}]\nmodel = \'{model}\'\naliases = {json.dumps(aliases)}\ncontext = 4096\n'
            f"tokens_per_second = 1000\nload_seconds = 0.05\nstrengths = {json.dumps(strengths)}\n\n")


@dataclass
class Boxes:
    a: RunningEngine
    b: RunningEngine
    b_port: int
    b_config: Path

    @property
    def b_url(self) -> str:
        return f"http://127.0.0.1:{self.b_port}"

    def b_status(self) -> EngineStatus:
        return EngineStatus.model_validate_json(httpx2.get(f"{self.b_url}/variet/status", headers=B_HEADERS).content)

    def a_status(self) -> EngineStatus:
        return self.a.status()


def configs(tiny_dir: Path, directory: Path, b_port: int) -> tuple[Path, Path]:
    (directory / "tiers-a.toml").write_text(
        tier("fast", tiny_dir / "fast.gguf", ["tiny-fast"], ["chat", "admin", "writing", "easy"])
        + tier("balanced", tiny_dir / "balanced.gguf", [], ["chat", "writing", "code", "medium", "easy"]))
    (directory / "tiers-b.toml").write_text(
        tier("coder", tiny_dir / "deep-coder.gguf", ["gemma-coder"], ["code", "design", "easy", "medium", "hard"])
        + tier("fast", tiny_dir / "fast.gguf", ["tiny-fast"], ["chat", "easy"]))
    key = directory / "box-b.key"
    write_private_file(key, KEY + "\n")
    peer = (f'[[engine.peers]]\nname = "box-b"\nurl = "http://127.0.0.1:{b_port}"\napi_key_file = \'{key}\'\n'
            "poll_seconds = 0.25\nconnect_timeout_seconds = 2\n")
    return (write_config(directory, tiers_file="tiers-a.toml", extra_engine=peer),
            write_config(directory, tiers_file="tiers-b.toml"))


@contextmanager
def box_b(config: Path, port: int) -> Iterator[RunningEngine]:
    with run_engine(config, port=port, env={"VARIET_ENGINE_API_KEY": KEY}) as running:
        yield running


@contextmanager
def two_boxes(tiny_dir: Path, directory: Path) -> Iterator[Boxes]:
    b_port = free_port()
    a_config, b_config = configs(tiny_dir, directory, b_port)
    with box_b(b_config, b_port) as b, run_engine(a_config) as a:
        boxes = Boxes(a, b, b_port, b_config)
        a.wait_for("box-b to be up", lambda s: bool(s.peers) and s.peers[0].up)
        yield boxes


@pytest.fixture(scope="module")
def boxes(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boxes]:
    with two_boxes(tiny_dir, tmp_path_factory.mktemp("two-boxes")) as running:
        yield running


def chat(model: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8, "stream": stream,
            **extra}


async def sse_data(response: httpx2.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()


def test_the_first_engine_lists_the_peers_tiers_with_the_box_each_lives_on(boxes: Boxes) -> None:
    models = ModelList.model_validate_json(httpx2.get(f"{boxes.a.url}/v1/models").content)
    where = {entry.id: (entry.box, entry.box_up) for entry in models.tiers}
    assert where == {"fast": ("local", True), "balanced": ("local", True), "coder": ("box-b", True),
                     "box-b/fast": ("box-b", True)}
    coder = next(entry for entry in models.tiers if entry.id == "coder")
    assert "gemma-coder" in coder.aliases and "box-b/coder" in coder.aliases
    status = boxes.a_status()
    assert status.tier("coder").box == "box-b" and status.tier("fast").box == "local"
    (peer,) = status.peers
    assert peer.name == "box-b" and peer.up and peer.url == boxes.b_url and peer.tiers == ["coder", "box-b/fast"]


async def test_requests_and_streams_for_a_peer_tier_are_answered_there_without_a_local_swap(boxes: Boxes) -> None:
    async with httpx2.AsyncClient(base_url=boxes.a.url, timeout=60) as client:
        assert (await client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200
        before = boxes.a_status()
        assert before.loaded == "fast"

        reply = await client.post("/v1/chat/completions", json=chat("coder"))
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-variet-tier"] == "coder" and reply.headers["x-variet-box"] == "box-b"
        assert reply.json()["model"] == "coder"

        by_alias = await client.post("/v1/messages", json={**chat("gemma-coder"), "stream": False})
        assert by_alias.status_code == 200 and by_alias.json()["type"] == "message"

        with anyio.fail_after(60):
            async with client.stream("POST", "/v1/chat/completions",
                                     json=chat("box-b/fast", stream=True, max_tokens=64, ignore_eos=True)) as stream:
                assert stream.status_code == 200 and stream.headers["x-variet-tier"] == "box-b/fast"
                data = [piece async for piece in sse_data(stream)]
        assert data[-1] == "[DONE]" and len(data) > 30
        assert all(json.loads(piece)["model"] == "fast" for piece in data[:-1])  # B's own fast answered

        local = await client.post("/v1/chat/completions", json=chat("tiny-fast"))
        assert local.status_code == 200 and "x-variet-box" not in local.headers
    after = boxes.a_status()
    assert after.loaded == "fast" and after.swaps == before.swaps, "a peer tier must never swap a local one"
    assert boxes.b_status().loaded == "fast" and boxes.b_status().swaps >= 2
    assert boxes.a.wait_for("A to see B's loaded tier", lambda s: s.peers[0].loaded == "box-b/fast")


def test_errors_from_the_peer_and_about_it_name_the_peer_in_the_engines_shape(boxes: Boxes) -> None:
    bad = httpx2.post(f"{boxes.a.url}/v1/chat/completions", json={**chat("coder"), "messages": []}, timeout=30)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["src"] == "variet-engine" and "box-b" in error["message"] and "`messages`" in error["message"]

    missing = httpx2.post(f"{boxes.a.url}/v1/chat/completions", json=chat("box-b/balanced"), timeout=30)
    assert missing.status_code == 404
    assert "peer 'box-b' has no tier 'balanced'" in missing.json()["error"]["message"]
    assert "coder" in missing.json()["error"]["message"]

    load = httpx2.post(f"{boxes.a.url}/variet/tiers/box-b/fast/load", timeout=30)
    assert load.status_code == 202 and load.json()["tier"] == "box-b/fast"


async def test_a_client_loads_a_peers_tier_through_the_first_engine_and_sees_it_loaded(boxes: Boxes) -> None:
    async with EngineClient(boxes.a.url, timeout=30) as client:
        with anyio.fail_after(60):
            wait = await client.ensure_loaded("coder", wait=30)
        status = await client.status()
    assert wait.loaded and status.tier("coder").loaded and status.tier("coder").box == "box-b"
    assert boxes.b_status().loaded == "coder"


def test_the_peers_key_never_shows_in_a_log_line_or_an_answer(boxes: Boxes) -> None:
    httpx2.post(f"{boxes.a.url}/v1/chat/completions", json=chat("coder"), timeout=30)
    answers = [httpx2.get(f"{boxes.a.url}{path}", timeout=10).text
               for path in ("/variet/status", "/v1/models", "/metrics", "/variet/openapi.json")]
    assert not any(KEY in text for text in answers)
    assert KEY not in boxes.a.log.read_text(errors="replace")  # the engine logs at debug level in tests


async def test_a_killed_peer_answers_503_auto_avoids_it_and_it_is_served_again_once_restarted(
        tiny_dir: Path, tmp_path: Path) -> None:
    auto = {"model": "auto", "messages": [{"role": "user", "content": HARD_CODE}], "max_tokens": 8}
    with two_boxes(tiny_dir, tmp_path) as boxes, ExitStack() as restarted:
        a = boxes.a
        async with httpx2.AsyncClient(base_url=a.url, timeout=60) as client:
            routed = await client.post("/v1/chat/completions", json=auto)
            assert routed.status_code == 200 and routed.headers["x-variet-tier"] == "coder"
            b_pid = boxes.b_status().backend.pid
            events: list[dict[str, Any]] = []
            with anyio.fail_after(90):
                async with client.stream("GET", "/variet/events") as stream:
                    lines = sse_data(stream)
                    assert json.loads(await anext(lines))["event"] == "subscribed"
                    boxes.b.process.kill()  # the engine outright; its llama-server follows it
                    await anyio.to_thread.run_sync(boxes.b.process.wait)
                    events.append(await next_peer_event(lines))

                    down = await client.post("/v1/chat/completions", json=chat("coder"))
                    assert down.status_code == 503, down.text
                    error = down.json()["error"]
                    assert error["src"] == "variet-engine" and error["code"] == "peer_down"
                    assert "'box-b'" in error["message"] and "variet engine serve" in error["message"]
                    avoided = await client.post("/v1/chat/completions", json=auto)
                    assert avoided.status_code == 200, avoided.text
                    assert avoided.headers["x-variet-tier"] in ("fast", "balanced")
                    status = a.status()
                    assert not status.peers[0].up and status.peers[0].last_error
                    assert not status.tier("coder").box_up and "coder" in status.tiers  # still listed, marked down
                    assert (await client.post("/v1/chat/completions", json=chat("fast"))).status_code == 200

                    await anyio.to_thread.run_sync(restarted.enter_context, box_b(boxes.b_config, boxes.b_port))
                    events.append(await next_peer_event(lines))
            assert [event["event"] for event in events] == ["peer_down", "peer_up"]
            assert events[0]["peer"] == "box-b" and events[1]["tiers"] == ["coder", "box-b/fast"]
            again = await client.post("/v1/chat/completions", json=chat("coder"))
            assert again.status_code == 200 and again.headers["x-variet-box"] == "box-b"
            assert boxes.b_status().backend.pid != b_pid


async def next_peer_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    async for data in lines:
        event: dict[str, Any] = json.loads(data)
        if event["event"].startswith("peer_"):
            return event
    raise AssertionError("the event stream ended")
