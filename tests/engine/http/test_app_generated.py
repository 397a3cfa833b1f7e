"""Generated requests against every endpoint: whatever a client sends, the engine answers in its own error
shape with a 4xx, or serves it; never a 500 or a crash (the in-process app over the fake llama-server)."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.http.test_app import COMPLETION_PATHS, app_with_fake

_URL_SAFE = string.ascii_letters + string.digits + "-._~/%?&="
FIELDS = ("model", "messages", "role", "content", "tools", "type", "function", "name", "parameters", "prompt",
          "stream", "max_tokens", "temperature", "system", "input_schema", "image_url", "text", "tool_choice",
          "tool_result", "input")
leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
keys = st.sampled_from(FIELDS) | st.text(max_size=6)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                      max_leaves=25)
requests_like = st.fixed_dictionaries(
    {"model": st.sampled_from(["fast", "balanced", "seer", "auto", "nope", ""]) | leaves},
    optional={field: values for field in ("messages", "tools", "prompt", "stream", "max_tokens", "system",
                                          "temperature", "tool_choice")},
)
bodies = (requests_like.map(lambda body: json.dumps(body).encode()) | values.map(lambda v: json.dumps(v).encode())
          | st.binary(max_size=64))
paths = st.sampled_from([*COMPLETION_PATHS, "/v1/models", "/variet/status", "/variet/tiers/fast/load",
                         "/variet/tiers/%2e%2e/load", "/variet/unload", "/health", "/metrics", "/variet/openapi.json",
                         "/", "/v1", "/variet/tiers//load"]) | st.text(_URL_SAFE, max_size=12).map("/".__add__)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=methods, path=paths, body=bodies)
def test_no_request_gets_a_server_error_and_every_error_is_the_engines(
        tmp_path: Path, method: str, path: str, body: bytes) -> None:
    async def one() -> tuple[int, Any]:
        async with app_with_fake(tmp_path) as app:
            with anyio.fail_after(10):
                reply = await app.client.request(method, path, content=body,
                                                 headers={"content-type": "application/json"})
            if reply.status_code < 400 or not reply.content:
                return reply.status_code, None
            return reply.status_code, reply.json()

    status, error = anyio.run(one)
    assert status < 500, (method, path, body, status, error)
    if status >= 400 and error is not None:
        assert error["type"] == "error" and error["error"]["src"] == "variet-engine", error
        assert error["error"]["message"], error
