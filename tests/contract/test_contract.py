"""The engine's contract: events parse back to their models, newer engines don't break older clients, and the
published OpenAPI document is the one the models make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from variet.contract import (
    BackendDownEvent,
    BackendInfo,
    EngineStatus,
    ModelList,
    PeerDownEvent,
    PeerLoadedEvent,
    PeerUpEvent,
    PromptCacheRestoredEvent,
    PromptCacheSavedEvent,
    PromptCacheSkippedEvent,
    RequestDoneEvent,
    SubscribedEvent,
    SwapDoneEvent,
    SwapFailedEvent,
    SwapStartedEvent,
    TierExitedEvent,
    TierState,
    UnloadedEvent,
    parse_event,
)
from variet.contract.openapi import openapi_document

CHECKED_IN = Path(__file__).parents[2] / "contract" / "openapi.json"


def _status(**extra: object) -> EngineStatus:
    tier = TierState(loaded=True, queued=0, in_flight=1, expected_tokens_per_second=75,
                     measured_tokens_per_second=70.5, expected_load_seconds=20, last_swap=None, requests=3,
                     model_file_present=True)
    return EngineStatus(loaded="fast", state="ready", swapping=None, queued=0, in_flight=1, swaps=2, failed_swaps=0,
                        backend=BackendInfo(url="http://127.0.0.1:1", up=True, restarts=0, pid=7),
                        tiers={"fast": tier}, uptime_seconds=1.0, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("event", [
    SubscribedEvent(time=1.0, status=_status()),
    SwapStartedEvent(time=1.0, tier="balanced", previous="fast", expected_seconds=25.0),
    SwapDoneEvent(time=2.0, tier="balanced", previous="fast", seconds=24.5),
    SwapFailedEvent(time=2.0, tier="ultra", error="model file for tier 'ultra' is missing"),
    UnloadedEvent(time=3.0, tier="balanced"),
    BackendDownEvent(time=4.0, exit_code=-9, log_file="/tmp/llama.log"),
    PromptCacheSavedEvent(time=5.0, tier="deep-coder", tokens=16000, bytes=2_000_000_000, milliseconds=900.0),
    PromptCacheRestoredEvent(time=6.0, tier="deep-coder", tokens=16000, bytes=2_000_000_000, milliseconds=800.0),
    PromptCacheSkippedEvent(time=7.0, tier="fast", action="restore", reason="model_changed", detail="rewritten"),
    RequestDoneEvent(time=5.0, tier="fast", status=200, seconds=1.25, waited_seconds=0.5, waited_for_swap=True),
    TierExitedEvent(time=4.5, tier="split", exit_code=1, log_file="/tmp/llama.log"),
    PeerUpEvent(time=5.0, peer="box-b", url="http://127.0.0.1:9", loaded="coder", tiers=["coder", "box-b/fast"]),
    PeerDownEvent(time=6.0, peer="box-b", url="http://127.0.0.1:9", error="connection refused"),
    PeerLoadedEvent(time=7.0, peer="box-b", tier="box-b/fast", previous="coder"),
])
def test_every_event_reads_back_as_the_model_the_engine_sent(event: object) -> None:
    assert parse_event(event.model_dump_json()) == event  # type: ignore[attr-defined]


def test_an_event_kind_from_a_newer_engine_is_skipped_not_an_error() -> None:
    assert parse_event('{"event": "peer_joined", "time": 1.0, "peer": "box-b"}') is None


def test_a_malformed_event_of_a_known_kind_is_an_error_that_says_so() -> None:
    with pytest.raises(ValueError, match="not a valid engine event"):
        parse_event('{"event": "swap_done", "time": 1.0}')


def test_a_status_with_fields_a_newer_engine_added_still_reads() -> None:
    wire = json.loads(_status().model_dump_json())
    wire["racks"] = [{"name": "rack-b"}]
    wire["tiers"]["fast"]["rack"] = "rack-b"
    status = EngineStatus.model_validate(wire)
    assert status.tier("fast").in_flight == 1 and status.busy_tier == "fast"


def test_a_status_from_an_engine_older_than_peers_reads_as_all_local() -> None:
    wire = json.loads(_status().model_dump_json())
    del wire["peers"]
    for field in ("box", "box_up"):
        del wire["tiers"]["fast"][field]
    status = EngineStatus.model_validate(wire)
    assert status.peers == [] and status.tier("fast").box == "local" and status.tier("fast").box_up


def test_asking_for_an_unknown_tier_names_the_tiers_there_are() -> None:
    with pytest.raises(KeyError, match="unknown tier 'ultra': the engine has fast"):
        _status().tier("ultra")


def test_the_model_list_tells_tiers_from_auto() -> None:
    models = ModelList.model_validate({"data": [
        {"id": "fast", "created": 0, "tier": {"model_file": "f.gguf", "context": 4096, "gpus": [], "split": None,
                                              "strengths": ["chat"], "expected_tokens_per_second": 75,
                                              "expected_load_seconds": 20}},
        {"id": "auto", "created": 0},
    ]})
    assert models.names() == ["fast"] and models.data[1].tier is None


def test_the_checked_in_openapi_document_is_the_one_the_models_make() -> None:
    assert json.loads(CHECKED_IN.read_text()) == json.loads(json.dumps(openapi_document())), (
        "contract/openapi.json is stale: run `.venv/bin/python -m variet.contract.openapi > contract/openapi.json`")


def test_the_openapi_document_describes_every_control_answer_and_event() -> None:
    document = openapi_document("1.2.3")
    schemas = document["components"]["schemas"]
    for name in ("EngineStatus", "TierState", "ModelList", "LoadAnswer", "UnloadAnswer", "Health", "ErrorBody",
                 "EngineEvent", "SwapDoneEvent", "RequestDoneEvent"):
        assert name in schemas, name
    assert document["info"]["version"] == "1.2.3"
    assert "/variet/tiers/{tier}/load" in document["paths"]
    assert document["paths"]["/ui"]["get"]["security"] == []  # the dashboard page; its data calls need the key


def test_settings_reserve_the_contracts_name_for_the_local_box() -> None:
    from variet.contract import LOCAL_BOX
    from variet.shared.config import RESERVED_PEER_NAME

    assert RESERVED_PEER_NAME == LOCAL_BOX
