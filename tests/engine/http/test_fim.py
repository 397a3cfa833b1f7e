"""Fill-in-the-middle at the engine's edge: the OpenAI answer shape made from `/infill`'s, and the FIM tier's
absence named, in process (the real `/infill` path is in tests/engine/test_residents.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.http.test_app import app_with_fake, error_of
from variet.engine.http.fim import OpenAIFromInfill, to_infill


def test_an_infill_stream_becomes_openai_text_completion_chunks_whatever_the_chunk_boundaries() -> None:
    lines = (b'data: {"content": "ret", "stop": false}\n\n'
             b'data: {"content": "urn a", "stop": false}\n\n'
             b'data: {"content": "", "stop": true, "stop_type": "limit", "tokens_predicted": 2, '
             b'"tokens_evaluated": 9, "timings": {"predicted_n": 2}}\n\n')
    convert = OpenAIFromInfill("coder")
    out = b"".join(convert.chunk(lines[i:i + 7]) for i in range(0, len(lines), 7)) + convert.end()
    data = [line[5:].strip() for line in out.splitlines() if line.startswith(b"data:")]
    assert data[-1] == b"[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == "return a"
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "length"]
    assert {c["object"] for c in chunks} == {"text_completion"} and {c["model"] for c in chunks} == {"coder"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    assert chunks[-1]["timings"] == {"predicted_n": 2}


def test_openai_completions_with_a_suffix_become_an_infill_body() -> None:
    body = to_infill({"model": "coder", "prompt": ["def f():\n    "], "suffix": "\n", "max_tokens": 16,
                      "temperature": 0.2, "stream": True})
    assert body == {"model": "coder", "input_prefix": "def f():\n    ", "input_suffix": "\n", "n_predict": 16,
                    "temperature": 0.2, "stream": True}


@pytest.mark.anyio
async def test_without_a_fim_tier_an_infill_request_is_a_400_saying_how_to_mark_one(tmp_path: Path) -> None:
    async with app_with_fake(tmp_path) as app:
        reply = await app.client.post("/infill", json={"input_prefix": "a", "input_suffix": "b"})
        assert reply.status_code == 400
        error = error_of(reply)
        assert error["code"] == "no_fim_tier" and "`fim = true`" in error["message"]
        unknown = await app.client.post("/v1/completions", json={"model": "nope", "prompt": "a", "suffix": "b"})
        assert unknown.status_code == 404 and error_of(unknown)["code"] == "model_not_found"
        assert not any("/infill" in line for line, _, _ in app.llama.seen)  # refused before llama-server
