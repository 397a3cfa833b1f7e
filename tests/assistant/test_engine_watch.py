"""The engine's state followed from its events: loaded tier, swap under way, expected swap times."""

from __future__ import annotations

from variet.assistant.engine_watch import EngineView
from variet.contract import (
    BackendInfo,
    EngineStatus,
    SubscribedEvent,
    SwapDoneEvent,
    SwapFailedEvent,
    SwappingInfo,
    SwapStartedEvent,
    TierState,
    UnloadedEvent,
)


def tier(load: float, *, loaded: bool = False) -> TierState:
    return TierState(loaded=loaded, queued=0, in_flight=0, expected_tokens_per_second=10,
                     measured_tokens_per_second=None, expected_load_seconds=load, last_swap=None, requests=0,
                     model_file_present=True)


STATUS = EngineStatus(loaded="fast", state="swapping", swapping=SwappingInfo(tier="ultra", elapsed_seconds=2,
                      expected_seconds=84), queued=1, in_flight=0, swaps=1, failed_swaps=0,
                      backend=BackendInfo(url="http://127.0.0.1:1", up=True, restarts=0, pid=1),
                      tiers={"fast": tier(3, loaded=True), "ultra": tier(84)}, uptime_seconds=5)


def test_the_subscription_status_gives_the_loaded_tier_and_the_swap_under_way() -> None:
    view = EngineView().apply(SubscribedEvent(time=100.0, status=STATUS))
    assert view.connected and view.loaded == "fast"
    assert view.swapping is not None and view.swapping.tier == "ultra" and view.swapping.expected_seconds == 84
    assert view.expected_seconds("fast") == 3


def test_swaps_update_the_loaded_tier_and_the_measured_time() -> None:
    view = EngineView().apply(SubscribedEvent(time=100.0, status=STATUS))
    view = view.apply(SwapStartedEvent(time=101, tier="ultra", previous="fast", expected_seconds=84))
    view = view.apply(SwapDoneEvent(time=170, tier="ultra", previous="fast", seconds=69.5))
    assert (view.loaded, view.swapping, view.expected_seconds("ultra")) == ("ultra", None, 69.5)
    view = view.apply(SwapFailedEvent(time=180, tier="fast", error="no file"))
    view = view.apply(UnloadedEvent(time=190, tier="ultra"))
    assert view.loaded is None and [type(e).__name__ for e in view.recent] == ["SwapDoneEvent", "SwapFailedEvent"]
