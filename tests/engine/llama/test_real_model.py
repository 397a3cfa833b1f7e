"""A real quantized model (SmolLM2-135M-Instruct, Q4_1) as the fast tier, through the engine.

These cover the code paths generated F16/F32 tiers never take: a quantized GGUF loads with the build the
suite uses (an AMX kernel in a native build once crashed on it), streams real text, swaps with generated
tiers, answers deterministically at temperature 0, is told clearly when a prompt outgrows its context,
and makes a well-formed tool call to a real Variet MCP tool.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from tests.parts.engine import RunningEngine
from tests.parts.llama import running_llama_server
from variet.devtools.real_model import REAL_MODEL, fetch_real_model, tools_template
from variet.servers.inference.server import create_server
from variet.shared.config import EngineSettings, Settings

pytestmark = [pytest.mark.llama]


def ask(engine: RunningEngine, content: str, **extra: Any) -> httpx2.Response:
    body = {"model": "fast", "messages": [{"role": "user", "content": content}], "max_tokens": 24, **extra}
    return httpx2.post(f"{engine.url}/v1/chat/completions", json=body, timeout=120)


def test_the_quantized_model_loads_and_answers_with_the_suites_own_build(tmp_path: Path) -> None:
    model = fetch_real_model()
    args = ("-m", str(model), "--ctx-size", "2048", "--threads", "1", "--jinja")
    with running_llama_server(*args, log=tmp_path / "llama.log") as url:
        reply = httpx2.post(f"{url}/v1/chat/completions", timeout=120, json={
            "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].strip()


def test_the_real_model_streams_real_text_and_reports_its_speed(real_engine: RunningEngine) -> None:
    body = {"model": "fast", "messages": [{"role": "user", "content": "Name three colours."}], "max_tokens": 24,
            "stream": True}
    pieces = []
    with httpx2.stream("POST", f"{real_engine.url}/v1/chat/completions", json=body, timeout=120) as stream:
        assert stream.status_code == 200 and stream.headers["x-variet-tier"] == "fast"
        for line in stream.iter_lines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                chunk = json.loads(line[5:])
                pieces += [choice["delta"].get("content") or "" for choice in chunk["choices"]]
    text = "".join(pieces)
    assert len(text.split()) >= 3 and any(c.isalpha() for c in text), text
    assert real_engine.status().tier("fast").measured_tokens_per_second


def test_it_swaps_with_the_generated_tiers_and_back(real_engine: RunningEngine) -> None:
    before = real_engine.status().swaps
    assert ask(real_engine, "hello", model="balanced").status_code == 200
    reply = ask(real_engine, "Say hello.")
    assert reply.status_code == 200 and reply.json()["model"] == "fast"
    status = real_engine.status()
    assert status.loaded == "fast" and status.swaps >= before + 1


def test_temperature_zero_and_a_seed_give_the_same_text_twice(real_engine: RunningEngine) -> None:
    answers = [ask(real_engine, "Write one sentence about the sea.", temperature=0, seed=7).json() for _ in range(2)]
    texts = [answer["choices"][0]["message"]["content"] for answer in answers]
    assert texts[0] == texts[1] and texts[0].strip()


def test_a_prompt_longer_than_the_context_is_a_clear_400(real_engine: RunningEngine) -> None:
    reply = ask(real_engine, "lorem ipsum " * REAL_MODEL.context)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["src"] == "variet-engine" and error["code"] == "context_length_exceeded"
    assert "'fast'" in error["message"] and str(REAL_MODEL.context) in error["message"]
    assert "tokens" in error["message"].split("but")[0]


def test_the_tool_template_declares_tools_and_shows_one_call() -> None:
    template = tools_template()
    assert "<tools>" in template and "<tool_call>" in template and "tool_response" in template


@pytest.mark.anyio
async def test_the_real_model_calls_a_real_variet_tool_and_answers_from_its_result(
        real_engine: RunningEngine) -> None:
    settings = Settings(engine=EngineSettings(url=real_engine.url))
    async with Client(create_server(settings)) as mcp, httpx2.AsyncClient(timeout=120) as http:
        listed = await mcp.list_tools()
        tool = next(t for t in listed.tools if t.name == "list_tiers")
        tools = [{"type": "function", "function": {"name": tool.name, "description": tool.description,
                                                   "parameters": tool.input_schema}}]
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Use list_tiers to list the tiers."}]
        first = await http.post(f"{real_engine.url}/v1/chat/completions", json={
            "model": "fast", "messages": messages, "tools": tools, "tool_choice": "required", "max_tokens": 64,
            "temperature": 0, "seed": 1})
        assert first.status_code == 200, first.text
        message = first.json()["choices"][0]["message"]
        (call,) = message["tool_calls"]
        assert call["function"]["name"] == "list_tiers"
        result = await mcp.call_tool("list_tiers", json.loads(call["function"]["arguments"]))
        assert not result.is_error
        output = json.dumps(result.structured_content)
        assert "deep-logic" in output
        messages += [message, {"role": "tool", "tool_call_id": call["id"], "content": output}]
        final = await http.post(f"{real_engine.url}/v1/chat/completions", json={
            "model": "fast", "messages": messages, "tools": tools, "tool_choice": "none", "max_tokens": 32,
            "temperature": 0, "seed": 1})
    assert final.status_code == 200, final.text
    answer = final.json()["choices"][0]["message"]
    assert answer.get("content", "").strip() and not answer.get("tool_calls")
