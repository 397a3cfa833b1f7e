"""The engine-driving servers read right for any catalogue: three tiers of other names, and a peer's tier.

Box A serves `small`, `medium` and `large` (tiny models); box B, its peer, serves a `small` of its own, which
A serves as `box-b/small`. Nothing the inference and router servers say may name a tier A does not serve.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.servers.support import call, error_text
from variet.engine.llama.backend import free_port
from variet.servers.inference.server import create_server as inference_server
from variet.servers.router.server import create_server as router_server
from variet.shared.config import EngineSettings, McpSettings, Settings

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

SERVED = ["small", "medium", "large", "box-b/small"]
PACKAGED = re.compile(r"\b(fast|balanced|deep-coder|deep-logic|ultra|five)\b")


def tier(name: str, model: Path, strengths: list[str], tokens_per_second: int) -> str:
    return (f'[tiers.{name}]\nmodel = "{model}"\ncontext = 4096\ntokens_per_second = {tokens_per_second}\n'
            f"load_seconds = 0.05\nstrengths = {json.dumps(strengths)}\ndescription = \"The {name} tier.\"\n\n")


@pytest.fixture(scope="module")
def three_tiers(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    """Engine A with three tiers of its own and a peer engine B with one."""
    directory = tmp_path_factory.mktemp("three-tiers")
    (directory / "tiers-a.toml").write_text(
        tier("small", tiny_dir / "fast.gguf", ["chat", "admin", "writing", "easy"], 2000)
        + tier("medium", tiny_dir / "balanced.gguf", ["chat", "code", "reasoning", "math", "easy", "medium"], 1500)
        + tier("large", tiny_dir / "deep-coder.gguf", ["code", "reasoning", "math", "design", "easy", "medium",
                                                       "hard", "expert"], 1000))
    (directory / "tiers-b.toml").write_text(tier("small", tiny_dir / "fast.gguf", ["chat", "easy"], 2000))
    b_port = free_port()
    peer = f'[[engine.peers]]\nname = "box-b"\nurl = "http://127.0.0.1:{b_port}"\npoll_seconds = 0.25\n'
    a_config = write_config(directory, tiers_file="tiers-a.toml", extra_engine=peer)
    with run_engine(write_config(directory, tiers_file="tiers-b.toml"), port=b_port), run_engine(a_config) as a:
        a.wait_for("box-b to be up", lambda status: bool(status.peers) and status.peers[0].up)
        yield a


def settings_for(engine: RunningEngine) -> Settings:
    return Settings(engine=EngineSettings(url=engine.url), mcp=McpSettings(load_wait_seconds=60))


async def everything_said(client: Client) -> str:
    """The instructions and every tool's description and schemas, as one text."""
    tools = (await client.list_tools()).tools
    said = [client.instructions or ""] + [json.dumps(tool.model_dump(mode="json")) for tool in tools]
    return "\n".join(said)


async def test_inference_tools_name_no_tier_the_engine_does_not_serve(three_tiers: RunningEngine) -> None:
    async with Client(inference_server(settings_for(three_tiers))) as client:
        said = await everything_said(client)
    assert PACKAGED.findall(said) == []


async def test_list_tiers_shows_the_three_tiers_and_the_peers_with_where_each_runs(
    three_tiers: RunningEngine,
) -> None:
    with anyio.fail_after(30):
        async with Client(inference_server(settings_for(three_tiers))) as client:
            listed: Any = await call(client, "list_tiers")
            status: Any = await call(client, "engine_status")
            unknown = await error_text(client, "load_tier", tier="ultra")
    assert [entry["name"] for entry in listed["tiers"]] == SERVED
    peer_tier = listed["tiers"][-1]
    assert (peer_tier["box"], peer_tier["box_up"]) == ("box-b", True)
    assert peer_tier["placement"] == "CPU on the peer engine box-b"
    assert {entry["box"] for entry in listed["tiers"][:3]} == {"local"}
    assert [row["tier"] for row in status["tiers"]] == SERVED
    assert "unknown tier 'ultra'" in unknown and all(name in unknown for name in SERVED)


async def test_the_router_weighs_and_explains_only_the_served_tiers(three_tiers: RunningEngine) -> None:
    with anyio.fail_after(30):
        async with Client(router_server(settings_for(three_tiers))) as client:
            said = await everything_said(client)
            policy: Any = await call(client, "explain_policy")
            routed: Any = await call(client, "route_task", task="Prove that the square root of 2 is irrational.")
    assert PACKAGED.findall(said) == []
    assert [entry["name"] for entry in policy["tiers"]] == SERVED
    assert all(set(tiers) <= set(SERVED) for tiers in policy["needs"].values())
    assert routed["tier"] in SERVED and set(routed["adequacy"]) == set(SERVED)
