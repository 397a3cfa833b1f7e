"""The official `openai` and `anthropic` Python SDKs against the real engine: a tier name and `auto`,
streaming and not. The engine answers with the tier it used in `model` and in `x-variet-tier`."""

from __future__ import annotations

import anyio
import pytest
from anthropic import AsyncAnthropic
from anthropic.types import Message, MessageParam, ToolParam, ToolResultBlockParam
from openai import AsyncOpenAI

from tests.fakes.anthropic_stub import ToolUse, serve_anthropic_stub
from tests.parts.engine import RunningEngine
from tests.thirdparty.conftest import TIERS

MODELS = [pytest.param("balanced", id="tier"), pytest.param("auto", id="auto")]
PROMPT = "Write a haiku about GPUs."
MAX_TOKENS = 12
_TIMEOUT = 60


def _expect_tier(asked: str, header: str | None, answered: str) -> None:
    assert header in TIERS
    assert answered == header
    if asked != "auto":
        assert answered == asked


@pytest.mark.anyio
@pytest.mark.llama
@pytest.mark.parametrize("model", MODELS)
async def test_openai_sdk_completes_a_chat(engine: RunningEngine, model: str) -> None:
    with anyio.fail_after(_TIMEOUT):
        async with AsyncOpenAI(base_url=f"{engine.url}/v1", api_key="unused", max_retries=0) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS
            )
            completion = raw.parse()  # openai's raw responses parse synchronously, anthropic's do not
    _expect_tier(model, raw.headers.get("x-variet-tier"), completion.model)
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("length", "stop")
    assert completion.usage is not None
    assert 0 < completion.usage.completion_tokens <= MAX_TOKENS


@pytest.mark.anyio
@pytest.mark.llama
@pytest.mark.parametrize("model", MODELS)
async def test_openai_sdk_streams_a_chat(engine: RunningEngine, model: str) -> None:
    text, finish, models = [], None, set()
    with anyio.fail_after(_TIMEOUT):
        async with AsyncOpenAI(base_url=f"{engine.url}/v1", api_key="unused", max_retries=0) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS, stream=True
            )
            async for chunk in raw.parse():
                models.add(chunk.model)
                for choice in chunk.choices:
                    text.append(choice.delta.content or "")
                    finish = choice.finish_reason or finish
    assert len(models) == 1
    _expect_tier(model, raw.headers.get("x-variet-tier"), models.pop())
    assert "".join(text)
    assert finish in ("length", "stop")


@pytest.mark.anyio
@pytest.mark.llama
@pytest.mark.parametrize("model", MODELS)
async def test_anthropic_sdk_creates_a_message(engine: RunningEngine, model: str) -> None:
    with anyio.fail_after(_TIMEOUT):
        async with AsyncAnthropic(base_url=engine.url, api_key="unused", max_retries=0) as client:
            raw = await client.messages.with_raw_response.create(
                model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PROMPT}]
            )
            message = await raw.parse()
    _expect_tier(model, raw.headers.get("x-variet-tier"), message.model)
    assert message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("max_tokens", "end_turn")
    assert 0 < message.usage.output_tokens <= MAX_TOKENS


@pytest.mark.anyio
@pytest.mark.llama
@pytest.mark.parametrize("model", MODELS)
async def test_anthropic_sdk_streams_a_message(engine: RunningEngine, model: str) -> None:
    with anyio.fail_after(_TIMEOUT):
        async with AsyncAnthropic(base_url=engine.url, api_key="unused", max_retries=0) as client:
            async with client.messages.stream(
                model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PROMPT}]
            ) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                message = await stream.get_final_message()
                header = stream.response.headers.get("x-variet-tier")
    _expect_tier(model, header, message.model)
    assert text
    assert message.content[0].type == "text" and message.content[0].text == text
    assert message.stop_reason in ("max_tokens", "end_turn")


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_anthropic_sdk_reads_the_test_stubs_scripted_tool_use(stream: bool) -> None:
    """The scripted stub that stands in for the model in the Claude Code tests speaks the real wire format."""
    tool: ToolParam = {"name": "lookup", "description": "Look something up.",
                       "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    asked: list[MessageParam] = [{"role": "user", "content": "Look up the swap cost."}]
    with serve_anthropic_stub([ToolUse("lookup", {"q": "swap cost"})], final_text="All done.") as stub:
        async with AsyncAnthropic(base_url=stub.url, api_key="unused", max_retries=0) as client:
            with anyio.fail_after(_TIMEOUT):
                if stream:
                    async with client.messages.stream(
                        model="stub", max_tokens=100, tools=[tool], messages=asked
                    ) as events:
                        first: Message = await events.get_final_message()
                else:
                    first = await client.messages.create(model="stub", max_tokens=100, tools=[tool], messages=asked)
                call = first.content[0]
                assert first.stop_reason == "tool_use" and call.type == "tool_use"
                assert (call.name, call.input) == ("lookup", {"q": "swap cost"})
                result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": call.id, "content": "about 40 s"}
                answered: list[MessageParam] = [
                    *asked, {"role": "assistant", "content": [call]}, {"role": "user", "content": [result]}
                ]
                final = await client.messages.create(model="stub", max_tokens=100, tools=[tool], messages=answered)
    assert final.content[0].type == "text" and final.content[0].text == "All done."
    assert [(seen.tool, seen.text) for seen in stub.results()] == [("lookup", "about 40 s")]
