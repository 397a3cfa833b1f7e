"""The tool loop over real HTTP streaming (the engine client against the scripted model)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.fakes.openai_stub import ToolCall, serve_openai_stub
from variet.assistant.model_loop import ToolOutcome, run_turn
from variet.shared.engine_client import EngineClient

pytestmark = pytest.mark.anyio

LOOKUP = {"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {
    "type": "object", "properties": {"what": {"type": "string"}}}}}


class Tools:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def openai_tools(self) -> list[dict[str, Any]]:
        return [LOOKUP]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        self.calls.append(arguments)
        return ToolOutcome(f"result {len(self.calls)} for {arguments['what']}")


class Watcher:
    def __init__(self) -> None:
        self.shown: list[str] = []
        self.tools: list[str] = []

    def answer(self, text: str, tier: str | None) -> None:
        self.shown.append(text)

    def tool(self, name: str, arguments: dict[str, Any]) -> None:
        self.tools.append(name)


async def turn(script: list[ToolCall], max_rounds: int) -> tuple[Any, Tools, Watcher, list[dict[str, Any]]]:
    tools, watcher = Tools(), Watcher()
    with serve_openai_stub(script, final_text=lambda results: "Answer: " + " | ".join(results), pieces=3) as stub:
        async with EngineClient(stub.url) as engine:
            with anyio.fail_after(20):
                result = await run_turn([{"role": "user", "content": "go"}], model="auto", chat=engine,
                                        tools=tools, observer=watcher, max_rounds=max_rounds, max_tokens=64)
        return result, tools, watcher, stub.chat_requests()


async def test_tool_results_go_back_to_the_model_until_it_answers() -> None:
    script = [ToolCall("lookup", {"what": "ferry"}), ToolCall("lookup", {"what": "tram"})]
    result, _, watcher, requests = await turn(script, max_rounds=5)
    assert result.text == "Answer: result 1 for ferry | result 2 for tram"
    assert (result.rounds, result.stopped, result.tier, result.tools) == (2, False, "fast", ["lookup", "lookup"])
    assert watcher.tools == ["lookup", "lookup"] and watcher.shown[-1] == result.text
    assert len(watcher.shown) > 2  # the answer arrived in pieces
    last = requests[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "tool"]
    assert last[2] == {"role": "tool", "tool_call_id": "call_variet_0", "content": "result 1 for ferry"}


async def test_the_loop_stops_after_max_tool_rounds_and_says_so() -> None:
    script = [ToolCall("lookup", {"what": str(i)}) for i in range(5)]
    result, tools, _, requests = await turn(script, max_rounds=2)
    assert result.stopped and result.rounds == 2 and len(tools.calls) == 2 and len(requests) == 3
