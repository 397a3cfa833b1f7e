"""Footers, swap notices and error lines as they appear in Discord."""

from __future__ import annotations

from variet.assistant.render import SwapNote, TurnFacts, footer, is_notice, notice, strip_footer, swap_notice


def test_the_footer_names_tier_speed_swap_and_tools() -> None:
    facts = TurnFacts(tier="deep-logic", tokens_per_second=16.84, swaps=[SwapNote("deep-logic", "fast", 24.6)],
                      tools=["web_search", "fetch_page", "web_search"])
    assert footer(facts) == ("-# deep-logic · 16.8 tok/s · loaded deep-logic in 25 s (was fast) · "
                             "🔧 web_search, fetch_page")


def test_a_streaming_footer_says_writing_and_problems_get_their_own_lines() -> None:
    text = footer(TurnFacts(tier="fast", tokens_per_second=50, problems=["gmail: sign in again"]), streaming=True)
    assert text == "-# fast · writing…\n-# ⚠️ gmail: sign in again"


def test_the_swap_notice_says_which_tier_and_how_long() -> None:
    assert swap_notice("deep-logic", 25.0) == "⏳ loading deep-logic, about 25 s"
    assert swap_notice("ultra", 84) == "⏳ loading ultra, about 84 s"
    assert swap_notice("fast", None) == "⏳ loading fast"


def test_notices_are_one_line_and_recognised() -> None:
    line = notice("no engine\n  at http://x")
    assert line == "⚠️ no engine at http://x" and is_notice(line) and not is_notice("The answer")
    assert strip_footer("answer\n-# fast · 3 tok/s\n-# ⚠️ x") == "answer"
