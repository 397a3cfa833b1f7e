"""`GET /variet/events`: a server-sent event per change; the SSE `event:` name equals the body's `event`.

The first event of every subscription is `subscribed`, carrying the whole status, so a client needs no
separate status call to start. Events a client does not know (newer engines add some) parse to None with
`parse_event`; skip them.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError

from variet.contract._base import Answer
from variet.contract.status import EngineStatus

__all__ = [
    "BackendDownEvent",
    "BackendUpEvent",
    "EngineEvent",
    "PeerDownEvent",
    "PeerLoadedEvent",
    "PeerUpEvent",
    "PromptCacheRestoredEvent",
    "PromptCacheSavedEvent",
    "PromptCacheSkippedEvent",
    "RequestDoneEvent",
    "ResidentFailedEvent",
    "ResidentLoadedEvent",
    "RoutedEvent",
    "SubscribedEvent",
    "SwapDoneEvent",
    "SwapFailedEvent",
    "SwapStartedEvent",
    "TierExitedEvent",
    "UnloadedEvent",
    "parse_event",
]


class _Event(Answer):
    time: float = Field(description="When it happened, in seconds since the epoch.")


class SubscribedEvent(_Event):
    event: Literal["subscribed"] = "subscribed"
    status: EngineStatus


class SwapStartedEvent(_Event):
    event: Literal["swap_started"] = "swap_started"
    tier: str
    previous: str | None = Field(description="The tier that was loaded, if any.")
    expected_seconds: float = Field(default=0.0, description="How long the swap is expected to take.")


class SwapDoneEvent(_Event):
    event: Literal["swap_done"] = "swap_done"
    tier: str
    previous: str | None
    seconds: float


class SwapFailedEvent(_Event):
    event: Literal["swap_failed"] = "swap_failed"
    tier: str
    error: str


class UnloadedEvent(_Event):
    event: Literal["unloaded"] = "unloaded"
    tier: str


class BackendDownEvent(_Event):
    event: Literal["backend_down"] = "backend_down"
    exit_code: int | None
    log_file: str = Field(default="", description="llama-server's log, for the cause.")


class BackendUpEvent(_Event):
    event: Literal["backend_up"] = "backend_up"
    url: str
    pid: int | None


class PromptCacheSavedEvent(_Event):
    """A prefix's KV cache was saved before its tier was swapped out."""

    event: Literal["prompt_cache_saved"] = "prompt_cache_saved"
    tier: str
    tokens: int
    bytes: int
    milliseconds: float


class PromptCacheRestoredEvent(_Event):
    """A saved prefix was restored after its tier was loaded, before the waiting requests were let go."""

    event: Literal["prompt_cache_restored"] = "prompt_cache_restored"
    tier: str
    tokens: int
    bytes: int
    milliseconds: float


class PromptCacheSkippedEvent(_Event):
    """A save or restore was skipped; the requests are served all the same (the prefix is processed again)."""

    event: Literal["prompt_cache_skipped"] = "prompt_cache_skipped"
    tier: str
    action: Literal["save", "restore"]
    reason: str = Field(description="model_changed, context_changed, corrupt, over_cap, disk_full, too_slow or "
                                    "failed (newer engines may add reasons).")
    detail: str = Field(default="", description="What happened, in words.")
    tokens: int = Field(default=0, description="Tokens of the prefix, when known.")


class RequestDoneEvent(_Event):
    """A completion request for a tier has ended; sent only while someone subscribes (it costs nothing otherwise)."""

    event: Literal["request_done"] = "request_done"
    tier: str
    status: int = Field(description="The HTTP status the client got; 502 for a stream llama-server broke off.")
    seconds: float = Field(description="From its arrival to the end of its answer, stream included.")
    waited_seconds: float = Field(description="Of that, how long it waited for its tier to be loaded or free.")
    waited_for_swap: bool = Field(description="Its tier was not loaded when it arrived, so it waited for a swap.")
    resident: bool = Field(default=False, description="Its tier is resident (served beside swaps, never queued).")


class ResidentLoadedEvent(_Event):
    """A resident tier (`resident = true`) is loaded: at start-up, or again after its instance exited. It is no
    swap: residents stay loaded beside the swapping tier."""

    event: Literal["resident_loaded"] = "resident_loaded"
    tier: str
    seconds: float = Field(description="How long the load took.")


class ResidentFailedEvent(_Event):
    """A resident tier failed to load; its requests try again (llama-server loads it for them)."""

    event: Literal["resident_failed"] = "resident_failed"
    tier: str
    error: str = Field(description="Why, naming what to fix.")


class RoutedEvent(_Event):
    """`auto` chose a tier for a request; sent only while someone subscribes."""

    event: Literal["routed"] = "routed"
    tier: str
    task: Literal["new", "continuing", "escalated"] = Field(
        description="new: a person's message was routed; continuing: a turn of a running agent loop stayed on "
                    "its task's tier; escalated: the task moved to a tier that holds its grown conversation.")
    turn: int = Field(description="The request's turn in its task (1 for the person's message).")
    summary: str = Field(description="In words, e.g. 'continuing task on deep-coder (turn 5)'.")
    needs_swap: bool = Field(description="The tier was not loaded: the request waits for a swap.")


class TierExitedEvent(_Event):
    """The loaded tier's model instance exited on its own (a crash, or a lost RPC worker): nothing is loaded
    now, and the next request for a tier loads it again."""

    event: Literal["tier_exited"] = "tier_exited"
    tier: str
    exit_code: int | None
    log_file: str = Field(default="", description="llama-server's log, for the cause.")


class PeerUpEvent(_Event):
    """A peer engine answers (at start-up, or again after it was down): its tiers are served."""

    event: Literal["peer_up"] = "peer_up"
    peer: str
    url: str
    loaded: str | None = Field(description="Its loaded tier, by the name this engine serves it as.")
    tiers: list[str] = Field(description="Its tiers, by the names this engine serves them as.")


class PeerDownEvent(_Event):
    """A peer engine stopped answering: its tiers answer 503 and `auto` avoids them until it is back."""

    event: Literal["peer_down"] = "peer_down"
    peer: str
    url: str
    error: str = Field(description="What failed, naming what to check.")


class PeerLoadedEvent(_Event):
    """The tier loaded on a peer changed (seen by polling its status)."""

    event: Literal["peer_loaded"] = "peer_loaded"
    peer: str
    tier: str | None = Field(description="Its loaded tier now, by the name this engine serves it as.")
    previous: str | None


EngineEvent = Annotated[
    SubscribedEvent | SwapStartedEvent | SwapDoneEvent | SwapFailedEvent | UnloadedEvent | BackendDownEvent
    | BackendUpEvent | RequestDoneEvent | RoutedEvent | TierExitedEvent | PeerUpEvent | PeerDownEvent | PeerLoadedEvent
    | PromptCacheSavedEvent | PromptCacheRestoredEvent | PromptCacheSkippedEvent | ResidentLoadedEvent
    | ResidentFailedEvent,
    Field(discriminator="event"),
]
"""Every event the engine publishes, told apart by `event`."""


@cache
def _adapter() -> TypeAdapter[EngineEvent]:
    """Built on first use: the validator of the whole union costs milliseconds that MCP servers start without."""
    return TypeAdapter(EngineEvent)


def parse_event(data: str | bytes) -> EngineEvent | None:
    """One SSE `data:` payload as its event model; None for an event this client does not know.

    Raises `ValueError` for a payload that is not a valid event of a known kind.
    """
    try:
        return _adapter().validate_json(data)
    except ValidationError as exc:
        if any(error["type"] == "union_tag_invalid" for error in exc.errors()):
            return None
        raise ValueError(f"not a valid engine event: {exc}") from exc
