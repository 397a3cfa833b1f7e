"""Each engine failure a client can meet gets one status, type and code, in the contract's error body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.responses import JSONResponse

from variet.contract import ErrorBody
from variet.contract.errors import ENGINE_SRC
from variet.engine.errors import (
    BackendDown,
    EngineFailure,
    NoResponse,
    PeerUnavailable,
    PromptStoreUnusable,
    SlotError,
    TierLoadError,
    UnknownTier,
    UpstreamError,
)
from variet.engine.http.responses import failure_event, failure_response


@dataclass
class Backend:
    url: str = "http://127.0.0.1:9"
    log_file: Path = Path("/var/log/llama.log")


def body_of(response: JSONResponse) -> ErrorBody:
    return ErrorBody.model_validate_json(response.body)


@pytest.mark.parametrize(("failure", "status", "kind", "code"), [
    (UnknownTier("unknown tier 'x'"), 404, "invalid_request_error", "tier_not_found"),
    (TierLoadError("the model file is missing"), 500, "server_error", "tier_load_failed"),
    (BackendDown("llama-server is down"), 503, "backend_unavailable", "backend_down"),
    (UpstreamError("connection lost"), 503, "backend_unavailable", "backend_down"),
    (NoResponse("closed without answering"), 503, "backend_unavailable", "backend_down"),
    (PeerUnavailable("peer 'b' is unavailable"), 503, "backend_unavailable", "peer_down"),
    (SlotError("slot refused"), 503, "backend_unavailable", "backend_down"),
    (PromptStoreUnusable("folder shared"), 500, "server_error", "engine_error"),
])
def test_each_failure_maps_to_one_answer(failure: EngineFailure, status: int, kind: str, code: str) -> None:
    response = failure_response(failure)
    body = body_of(response)
    assert (response.status_code, body.error.type, body.error.code) == (status, kind, code)
    assert body.error.src == ENGINE_SRC and str(failure) in body.error.message


def test_a_failed_load_names_its_tier_and_a_backend_failure_names_the_server_and_its_log() -> None:
    load = body_of(failure_response(TierLoadError("the model file is missing"), tier="ultra")).error.message
    assert load == "could not load tier 'ultra': the model file is missing"
    down = body_of(failure_response(UpstreamError("connection refused"), backend=Backend())).error.message
    assert "connection refused" in down and "http://127.0.0.1:9" in down and str(Backend.log_file) in down


def test_anthropic_clients_get_anthropic_error_types() -> None:
    assert body_of(failure_response(UnknownTier("no"), family="anthropic")).error.type == "not_found_error"
    assert body_of(failure_response(BackendDown("down"), family="anthropic")).error.type == "api_error"


def test_a_broken_stream_ends_with_the_same_body_as_an_sse_error_event() -> None:
    event = failure_event(PeerUnavailable("peer 'b' broke off the stream"))
    name, data, end = event.split(b"\n", 2)
    assert name == b"event: error" and end == b"\n" and data.startswith(b"data: ")
    body = ErrorBody.model_validate(json.loads(data[6:]))
    assert (body.error.code, body.error.src) == ("peer_down", ENGINE_SRC)
    assert body.error.message == "peer 'b' broke off the stream"
