"""`/tier` pins survive a restart, and a thread follows its channel's pin unless it has its own."""

from __future__ import annotations

from pathlib import Path

from variet.assistant.pins import TierPins


def test_pins_are_kept_in_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "discord.json"
    pins = TierPins(path)
    pins.pin(10, "deep-logic", default="auto")
    pins.pin(11, "fast", default="auto")
    pins.pin(11, "auto", default="auto")
    again = TierPins(path)
    assert again.model_for((10,), "auto") == "deep-logic"
    assert again.model_for((99, 10), "auto") == "deep-logic"
    assert again.model_for((11,), "auto") == "auto"


def test_an_unreadable_state_file_means_no_pins(tmp_path: Path) -> None:
    path = tmp_path / "discord.json"
    path.write_text("{not json")
    assert TierPins(path).model_for((1,), "auto") == "auto"
