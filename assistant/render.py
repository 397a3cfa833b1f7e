"""How a turn looks in Discord: the footer, status lines and notices, as pure functions of data.

A bot message is the answer, then small-print lines (`-# `, Discord's subtext) with the tier, speed, swap
and tools, or while it streams, what it is doing. Notices (errors, waits, confirmation prompts) start with
one of `NOTICE_MARKS`, so the conversation can leave them out when it is rebuilt from Discord.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "NOTICE_MARKS",
    "SMALL",
    "WAIT",
    "SwapNote",
    "TurnFacts",
    "footer",
    "is_notice",
    "notice",
    "seconds",
    "strip_footer",
    "swap_notice",
    "tool_status",
]

SMALL = "-# "
"""Discord's subtext line prefix."""
WAIT, WARN = "⏳", "⚠️"
NOTICE_MARKS = (WAIT, WARN, "🔐", "✅", "✖️", "⌛")
_LINE_MAX = 300


@dataclass(frozen=True)
class SwapNote:
    """A swap that happened during the turn."""

    tier: str
    previous: str | None
    seconds: float | None = None


@dataclass(frozen=True)
class TurnFacts:
    """What the footer reports about a finished (or streaming) turn."""

    tier: str | None = None
    tokens_per_second: float | None = None
    swaps: Sequence[SwapNote] = ()
    tools: Sequence[str] = ()
    """Tools called, in order (repeats kept once)."""
    problems: Sequence[str] = field(default_factory=tuple)
    """One line per tool or server failure the user may want to act on."""
    untrusted: str = ""
    """The taint mark ("🛡️ untrusted: mail (private)") when the answer was written after untrusted content;
    a conversation rebuilt from Discord reads it back."""


def seconds(value: float) -> str:
    """A duration the way people say it: 0.4 s, 3.1 s, 25 s, 2 min."""
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.0f} min"


def swap_notice(tier: str, expected_seconds: float | None) -> str:
    """The line shown at once when the answer waits for a swap: "⏳ loading deep-logic, about 25 s"."""
    about = f", about {seconds(expected_seconds)}" if expected_seconds else ""
    return f"{WAIT} loading {tier}{about}"


def tool_status(name: str, arguments: dict[str, object]) -> str:
    """The small-print line while a tool runs: "-# 🔧 web_search: weather in Lisbon"."""
    shown = next((str(value) for value in arguments.values() if isinstance(value, str) and value), "")
    detail = f": {_clip(shown, 80)}" if shown else ""
    return f"{SMALL}🔧 {name}{detail}"


def footer(facts: TurnFacts, *, streaming: bool = False, started: bool = True) -> str:
    """The small print under an answer: tier · tok/s · swap · tools, then one line per problem.

    While `streaming`, it ends with "writing…" (or "thinking…" until the answer has `started`)."""
    parts: list[str] = []
    if facts.tier:
        parts.append(facts.tier)
    if facts.tokens_per_second and not streaming:
        parts.append(f"{facts.tokens_per_second:.1f} tok/s")
    for swap in facts.swaps:
        took = f" in {seconds(swap.seconds)}" if swap.seconds is not None else ""
        was = f" (was {swap.previous})" if swap.previous and swap.previous != swap.tier else ""
        parts.append(f"loaded {swap.tier}{took}{was}")
    if facts.tools:
        parts.append("🔧 " + ", ".join(dict.fromkeys(facts.tools)))
    if facts.untrusted:
        parts.append(facts.untrusted)
    if streaming:
        parts.append("writing…" if started else "thinking…")
    lines = [SMALL + " · ".join(parts)] if parts else []
    lines += [f"{SMALL}{WARN} {_clip(problem, _LINE_MAX)}" for problem in facts.problems]
    return "\n".join(lines)


def notice(text: str) -> str:
    """An error line for the channel: one line, clipped, marked so history leaves it out."""
    return f"{WARN} {_clip(' '.join(text.split()), _LINE_MAX * 2)}"


def is_notice(text: str) -> bool:
    return text.lstrip().startswith(NOTICE_MARKS)


def strip_footer(text: str) -> str:
    """A bot message without its trailing small-print lines."""
    lines = text.rstrip().split("\n")
    while lines and lines[-1].startswith(SMALL):
        lines.pop()
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
