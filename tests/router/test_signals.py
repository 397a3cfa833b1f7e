"""Signals and assessment: what the router reads from a task's text."""

from __future__ import annotations

import time

from variet.router import assess, read_signals
from variet.router.signals import SCAN_LIMIT


def test_fenced_code_is_read_as_code_not_prose() -> None:
    signals = read_signals("Why is this slow?\n\n```python\nfor i in range(10):\n    total += f(i)\n```\n")

    assert (signals.code_blocks, signals.code_lines, signals.code_languages) == (1, 2, ("python",))
    assert signals.words == 4
    assert assess(signals).domain == "code"


def test_a_stack_trace_is_recognised_and_its_lines_are_not_counted_as_words() -> None:
    text = "Help?\nTraceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyError: 'x'\n"
    signals = read_signals(text)

    assert signals.stack_trace
    assert signals.code_lines == 3
    assert signals.words == 1


def test_a_diff_is_recognised() -> None:
    assert read_signals("Review:\n```diff\n@@ -1,2 +1,2 @@\n-a = 1\n+a = 2\n```").diff


def test_quoted_material_counts_as_material_not_instructions() -> None:
    signals = read_signals("Translate to German: 'The quarterly report is attached, please review it by Friday.'")

    assert signals.words == 3
    assert signals.material_words == 10
    assert assess(signals).domain == "writing"


def test_korean_stems_carry_their_cues_despite_particles() -> None:
    signals = read_signals("내일 오후 3시에 팀 회의 일정을 잡아줘")

    assert signals.script == "hangul"
    assert signals.cue("admin") >= 2
    assert assess(signals).domain == "admin"


def test_proof_and_translation_words_of_other_alphabets_are_cues() -> None:
    assert read_signals("Докажите, что число делится на 6.").cue("proof") == 1
    assert read_signals("Beweise, dass die Folge konvergiert.").cue("proof") == 1
    assert read_signals("Traduis en anglais : la réunion est demain.").cue("translate") == 1


def test_explicit_hints_are_read() -> None:
    assert read_signals("quick: how do I undo a commit?").cue("quick") == 1
    assert read_signals("think hard about this puzzle").cue("think") == 1
    assert read_signals("Give me the best answer you can").cue("best") == 1


def test_math_notation_points_at_math() -> None:
    signals = read_signals("Show that √2 + √3 is irrational and that x^2 - 5 ≥ 0 for x ≥ 3.")

    assert signals.math_marks >= 4
    assert assess(signals).domain == "math"


def test_huge_inputs_are_read_in_bounded_time() -> None:
    text = "2024-01-01 INFO worker started pid=123 queue=default, retrying in 5s\n" * 20_000
    read_signals(text)
    start = time.thread_time()
    signals = read_signals(text)
    elapsed = time.thread_time() - start

    assert signals.chars == len(text) > 100 * SCAN_LIMIT
    assert elapsed < 0.05
