"""Streaming edits are paced: at most one per interval, the final one sooner."""

from __future__ import annotations

from variet.assistant.pacer import EditPacer


def test_the_first_edit_goes_at_once_then_one_per_interval() -> None:
    pacer = EditPacer(interval=1.0)
    assert pacer.wait(10.0, final=False) == 0.0
    pacer.sent(10.0)
    assert abs(pacer.wait(10.4, final=False) - 0.6) < 1e-9
    assert pacer.wait(11.5, final=False) == 0.0


def test_the_final_edit_waits_only_a_quarter_interval() -> None:
    pacer = EditPacer(interval=1.0)
    pacer.sent(10.0)
    assert abs(pacer.wait(10.1, final=True) - 0.15) < 1e-9
    assert pacer.wait(10.3, final=True) == 0.0
