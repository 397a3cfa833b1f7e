"""One tier over two boxes with llama.cpp's RPC backend: the local llama-server holds half the layers, an
`rpc-server` (started by `variet engine rpc-worker`) on loopback holds the other half.

The model is the real SmolLM2 (quantized): at temperature 0 the split tier must write exactly what the same
model writes loaded whole on this box.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.parts.rpc import running_rpc_worker
from variet.devtools.real_model import fetch_real_model
from variet.engine.llama.backend import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

HALF_THE_LAYERS = 15
"""SmolLM2-135M has 30 layers: the last 15 go to the worker's device (RPC0), the rest stay on this CPU."""
SEA = [{"role": "user", "content": "Write one sentence about the sea."}]


@dataclass
class Split:
    engine: RunningEngine
    worker: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def split(tmp_path: Path) -> Iterator[Split]:
    port = free_port()
    common = (f'model = "{fetch_real_model()}"\ncontext = 2048\ntokens_per_second = 50\nload_seconds = 1\n'
              'strengths = ["chat"]\n')
    (tmp_path / "tiers.toml").write_text(
        f'[tiers.split]\n{common}rpc = ["127.0.0.1:{port}"]\nargs = {{ n-gpu-layers = {HALF_THE_LAYERS} }}\n\n'
        f"[tiers.whole]\n{common}")
    with running_rpc_worker(port, tmp_path / "rpc.log", debug=True) as worker, \
            run_engine(write_config(tmp_path)) as engine:
        yield Split(engine, worker, port, tmp_path)


def sea(tier: str) -> dict[str, Any]:
    return {"model": tier, "messages": SEA, "max_tokens": 32, "temperature": 0, "seed": 7}


def text_of(reply: httpx2.Response) -> str:
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["choices"][0]["message"]["content"]
    return text


async def test_a_tier_split_over_an_rpc_worker_loads_and_writes_what_the_whole_model_writes(split: Split) -> None:
    async with httpx2.AsyncClient(base_url=split.engine.url, timeout=120) as client:
        over_two = text_of(await client.post("/v1/chat/completions", json=sea("split")))
        on_one = text_of(await client.post("/v1/chat/completions", json=sea("whole")))
    assert over_two.strip() and over_two == on_one
    # The worker really held half the model and computed on it.
    worker_log = (split.directory / "rpc.log").read_text(errors="replace")
    allocated = [int(size) for size in re.findall(r"\[alloc_buffer\] device: 0, size: (\d+)", worker_log)]
    assert max(allocated) > 20_000_000 and "[graph_compute]" in worker_log


async def test_losing_the_rpc_worker_mid_stream_ends_it_with_a_clear_error_and_the_engine_recovers(
        split: Split) -> None:
    async with httpx2.AsyncClient(base_url=split.engine.url, timeout=120) as client:
        with anyio.fail_after(180):
            long = {"model": "split", "messages": [{"role": "user", "content": "Count to a thousand."}],
                    "max_tokens": 4000, "ignore_eos": True, "stream": True}
            async with client.stream("POST", "/v1/chat/completions", json=long) as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                async for line in lines:
                    if line.startswith("data:"):
                        break
                split.worker.kill()
                rest = [line async for line in lines]
            assert "event: error" in rest, rest[-3:]
            error = json.loads(rest[rest.index("event: error") + 1][5:])["error"]
            assert error["src"] == "variet-engine" and error["code"] == "backend_down"
            assert split.address in error["message"] and "RPC worker" in error["message"]

            status = await anyio.to_thread.run_sync(
                split.engine.wait_for, "the lost instance to be forgotten",
                lambda s: s.loaded is None and s.tiers["split"].in_flight == 0)
            assert status.backend.up
            refused = await client.post("/v1/chat/completions", json=sea("split"))
            assert refused.status_code == 500, refused.text
            message = refused.json()["error"]["message"]
            assert f"RPC worker {split.address}" in message and "variet engine rpc-worker" in message
            assert text_of(await client.post("/v1/chat/completions", json=sea("whole")))

            with running_rpc_worker(split.port, split.directory / "rpc-again.log"):
                assert text_of(await client.post("/v1/chat/completions", json=sea("split")))
