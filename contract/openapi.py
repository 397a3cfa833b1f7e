"""The engine's HTTP API as an OpenAPI 3.1 document, generated from the contract models.

Served by the engine at `GET /variet/openapi.json`; clients in other languages generate their types from it.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from variet.contract.control import Health, LoadAnswer, UnloadAnswer
from variet.contract.errors import ErrorBody
from variet.contract.events import EngineEvent
from variet.contract.models import ModelList
from variet.contract.status import EngineStatus

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"


def _json(schema: str, description: str) -> dict[str, Any]:
    reference = {"$ref": _REF.format(model=schema)}
    return {"description": description, "content": {"application/json": {"schema": reference}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {400: "The request is malformed", 401: "The API key is missing or wrong",
               404: "No such tier or model", 503: "llama-server is down; the engine restarts it"}
    return {str(code): _json("ErrorBody", meaning[code]) for code in codes}


def openapi_document(version: str = "0") -> dict[str, Any]:
    """The OpenAPI document of the engine's own endpoints (completions follow OpenAI's and Anthropic's APIs)."""
    _, defs = models_json_schema(
        [(model, "serialization") for model in (EngineStatus, ModelList, LoadAnswer, UnloadAnswer, Health, ErrorBody)],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    event_schema = TypeAdapter(EngineEvent).json_schema(ref_template=_REF, mode="serialization")
    schemas.update(event_schema.pop("$defs", {}))
    schemas["EngineEvent"] = event_schema
    auth: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Variet engine", "version": version,
                 "description": "Control and status of the Variet engine. Completions: OpenAI's `/v1/chat/completions` "
                                "and `/v1/completions`, Anthropic's `/v1/messages`, with `model` set to a tier or "
                                "`auto`. Errors: `ErrorBody`, with `src: variet-engine`."},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
        "security": auth,
        "paths": {
            "/v1/models": {"get": {"summary": "Tiers and auto", "responses": {
                "200": _json("ModelList", "The model list"), **_errors(401)}}},
            "/variet/status": {"get": {"summary": "The engine at a glance", "responses": {
                "200": _json("EngineStatus", "Status"), **_errors(401)}}},
            "/variet/tiers/{tier}/load": {"post": {
                "summary": "Start a swap to a tier and return at once (idempotent)",
                "parameters": [{"name": "tier", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"202": _json("LoadAnswer", "The load is queued or done"), **_errors(401, 404, 503)}}},
            "/variet/unload": {"post": {"summary": "Unload the tier once idle", "responses": {
                "202": _json("UnloadAnswer", "The unload is queued"), **_errors(401)}}},
            "/variet/events": {"get": {"summary": "Server-sent events; each `data:` is an EngineEvent", "responses": {
                "200": {"description": "An event stream",
                        "content": {"text/event-stream": {"schema": {"$ref": _REF.format(model="EngineEvent")}}}},
                **_errors(401)}}},
            "/ui": {"get": {"summary": "The dashboard page (no key needed; its data calls need it)", "security": [],
                            "responses": {"200": {"description": "An HTML page", "content": {"text/html": {}}}}}},
            "/health": {"get": {"summary": "Liveness (no key needed)", "security": [], "responses": {
                "200": _json("Health", "llama-server runs"), "503": _json("Health", "llama-server is down")}}},
        },
    }


if __name__ == "__main__":  # `python -m variet.contract.openapi > contract/openapi.json` refreshes the copy
    import json
    import sys

    json.dump(openapi_document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
