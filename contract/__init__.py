"""The engine's HTTP contract: pydantic models of every JSON body the engine sends, with no I/O.

The engine builds its answers from these models and every client (the MCP servers, the CLI, the Discord
assistant, benchmarks) reads them back through them, so a field is named in one place. The same models
publish the contract as an OpenAPI document (`GET /variet/openapi.json`, `variet.contract.openapi`) for
clients in other languages, such as the VS Code extension.

Models that describe answers ignore fields they do not know, so an older client keeps working against a
newer engine that adds some.
"""

from typing import TYPE_CHECKING, Any

from variet.contract.control import Health, LoadAnswer, UnloadAnswer
from variet.contract.errors import ErrorBody, ErrorDetail
from variet.contract.models import AUTO_MODEL, ModelEntry, ModelList, TierFacts
from variet.contract.status import (
    LOCAL_BOX,
    BackendInfo,
    EngineState,
    EngineStatus,
    PeerInfo,
    PromptCacheInfo,
    PromptCacheOp,
    PromptCacheTotals,
    SavedPrefix,
    SwapInfo,
    SwappingInfo,
    TierState,
)

if TYPE_CHECKING:
    from variet.contract.events import (
        BackendDownEvent,
        BackendUpEvent,
        EngineEvent,
        PeerDownEvent,
        PeerLoadedEvent,
        PeerUpEvent,
        PromptCacheRestoredEvent,
        PromptCacheSavedEvent,
        PromptCacheSkippedEvent,
        RequestDoneEvent,
        ResidentFailedEvent,
        ResidentLoadedEvent,
        RoutedEvent,
        SubscribedEvent,
        SwapDoneEvent,
        SwapFailedEvent,
        SwapStartedEvent,
        TierExitedEvent,
        UnloadedEvent,
        parse_event,
    )

__all__ = [
    "AUTO_MODEL",
    "LOCAL_BOX",
    "BackendDownEvent",
    "BackendInfo",
    "BackendUpEvent",
    "EngineEvent",
    "EngineState",
    "EngineStatus",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "LoadAnswer",
    "ModelEntry",
    "ModelList",
    "PeerDownEvent",
    "PeerInfo",
    "PeerLoadedEvent",
    "PeerUpEvent",
    "PromptCacheInfo",
    "PromptCacheOp",
    "PromptCacheRestoredEvent",
    "PromptCacheSavedEvent",
    "PromptCacheSkippedEvent",
    "PromptCacheTotals",
    "RequestDoneEvent",
    "ResidentFailedEvent",
    "ResidentLoadedEvent",
    "RoutedEvent",
    "SavedPrefix",
    "SubscribedEvent",
    "SwapDoneEvent",
    "SwapFailedEvent",
    "SwapInfo",
    "SwapStartedEvent",
    "SwappingInfo",
    "TierExitedEvent",
    "TierFacts",
    "TierState",
    "UnloadAnswer",
    "UnloadedEvent",
    "parse_event",
]


def __getattr__(name: str) -> Any:
    # The events (a model per kind and the union's parser) load on first use: most clients, the MCP servers
    # among them, never read the event stream, and their start-up is measured.
    if name in __all__:
        from variet.contract import events

        return getattr(events, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
