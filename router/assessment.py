"""What a task is about and how hard it is, judged from its `Signals`.

The domain is the one with the most evidence (structure such as code blocks and stack traces weighs
more than single words). Difficulty is a score in points: the length of the ask, how many requirements
and constraints it carries, words that call for depth (proofs, concurrency, failure hunting, research),
and the user's explicit hints. Fixed thresholds turn the score into easy, medium, hard or expert. Every
weight is a property of a kind of evidence, not of a particular prompt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from variet.router.signals import Signals

__all__ = ["DIFFICULTIES", "DIFFICULTY_THRESHOLDS", "DOMAINS", "Assessment", "assess"]

DOMAINS: Final = ("chat", "admin", "writing", "search", "code", "reasoning", "math", "design")
DIFFICULTIES: Final = ("easy", "medium", "hard", "expert")
DIFFICULTY_THRESHOLDS: Final = (1.5, 5.0, 11.0)
"""Scores at which a task becomes medium, hard and expert."""

# Domains whose asks stay shallow however long they are: pasted bullets or an event list make a prompt
# long without making it hard, so their size and breadth count for less, and technical topic words in
# them (an email about a database migration) count for little.
_SHALLOW: Final = {"chat": 0.6, "admin": 0.6, "search": 0.7, "writing": 0.6}
_TOPIC_SCALE: Final = {"chat": 0.3, "admin": 0.3, "search": 0.3, "writing": 0.3}
_TOPIC_CAP: Final = 4.5
"""Most points that topic words (concurrency, performance, ...) can add together."""
_BROAD_WORDS: Final = 100.0
"""A specification this long (in words) is broad enough to be expert when it is also deep."""
# Domains where even a short question usually needs a chain of steps.
_DEEP_BASE: Final = {"math": 1.0, "reasoning": 0.5, "design": 1.0}


@dataclass(frozen=True, slots=True)
class Assessment:
    """A task's domain and difficulty, with the evidence that decided them."""

    domain: str
    difficulty: str
    score: float
    """Difficulty in points; see `DIFFICULTY_THRESHOLDS`."""
    domain_scores: tuple[tuple[str, float], ...]
    """Evidence per domain, strongest first."""
    evidence: tuple[tuple[str, float], ...]
    """What moved the difficulty score, largest effect first."""
    brief: bool
    """The user asked for a short answer."""

    @property
    def domain_margin(self) -> float:
        """How clearly the domain won, from 0 (a tie) towards 1."""
        top = self.domain_scores[0][1]
        second = self.domain_scores[1][1] if len(self.domain_scores) > 1 else 0.0
        return (top - second) / (top + 1.0)

    @property
    def difficulty_margin(self) -> float:
        """Distance in points from the score to the nearest difficulty boundary."""
        return min(abs(self.score - threshold) for threshold in DIFFICULTY_THRESHOLDS)


def assess(signals: Signals) -> Assessment:
    """Classify a task's domain and difficulty."""
    ranked = _domain_scores(signals)
    # Without a clear signal a message is conversation.
    domain = ranked[0][0] if ranked[0][1] >= 1.0 else "chat"
    score, evidence = _difficulty(signals, domain)
    level = sum(score >= threshold for threshold in DIFFICULTY_THRESHOLDS)
    return Assessment(
        domain=domain,
        difficulty=DIFFICULTIES[level],
        score=score,
        domain_scores=ranked,
        evidence=evidence,
        brief=bool(signals.cue("brief") or signals.cue("quick")),
    )


def _domain_scores(s: Signals) -> tuple[tuple[str, float], ...]:
    # A cue in the request's head words ("Implement ...", "Translate ...") counts twice: the verb
    # that opens a request names the task better than the nouns of its topic.
    def c(name: str) -> float:
        return s.cues.get(name, 0) + s.head.get(name, 0)

    code = (
        2.5 * min(s.code_blocks, 2)
        + min(s.code_lines / 10.0, 3.0)
        + 5.0 * s.stack_trace
        + 3.0 * s.diff
        + 1.0 * c("code")
        + 0.8 * min(c("language"), 3)
        + 1.5 * c("shell")
        + 0.5 * min(s.code_marks, 6)
        + 0.3 * (c("concurrency") + c("construction") + c("failure"))
    )
    scores = {
        "code": code,
        "math": 1.2 * c("math") + 0.6 * min(s.math_marks, 6) + 0.8 * c("proof") + 0.3 * c("quantity"),
        "reasoning": 1.0 * c("reasoning")
        + 0.5 * c("rigour")
        + 0.8 * c("proof")
        + 0.4 * c("quantity")
        + 0.4 * c("tradeoff")
        + 0.8 * c("think"),
        "writing": 1.2 * c("writing") + 3.0 * c("translate"),
        "admin": 1.5 * c("admin"),
        "search": 1.3 * c("search") + 0.5 * c("research"),
        "chat": 1.5 * c("chat"),
        "design": 1.3 * c("design") + 0.3 * c("tradeoff"),
    }
    return tuple(sorted(scores.items(), key=lambda item: (-item[1], DOMAINS.index(item[0]))))


Parts = list[tuple[str, float]]
"""What moved a difficulty score: (label, points), in the order they were found."""


def _difficulty(s: Signals, domain: str) -> tuple[float, tuple[tuple[str, float], ...]]:
    parts: Parts = []
    words = max(s.words + 0.5 * s.material_words, 1.0)
    _add(parts, _breadth(s, domain, words))
    _add(parts, _manner(s))
    _add(parts, _topic(s, domain))
    _add(parts, _user_hints(s))
    if s.conversation.messages:
        # A follow-up deep into a conversation leans on context the message itself does not show.
        messages = s.conversation.messages
        _add(parts, [(f"{messages} earlier messages", min(1.5, 0.5 * math.log2(1.0 + messages / 2.0)))])
    score = sum(points for _, points in parts)
    score = _bounds(s, domain, words, score, parts)
    parts.sort(key=lambda item: -abs(item[1]))
    return score, tuple(parts)


def _add(parts: Parts, found: Parts) -> None:
    parts.extend((label, points) for label, points in found if points)


def _breadth(s: Signals, domain: str, words: float) -> Parts:
    """How much is asked: length, code to read, requirements, list items, clauses, constraints. In the
    shallow domains breadth counts for less (a pasted event list is long, not hard)."""
    shallow = _SHALLOW.get(domain, 1.0)
    size = max(-2.0, min(5.0, 1.6 * math.log2(words / 12.0)))
    parts = [(f"{round(words)} words", size * (shallow if size > 0 else 1.0))]
    if s.code_blocks or s.code_lines >= 3:
        parts.append((f"{s.code_lines} lines of code to read", 1.0 + 0.6 * math.log2(1.0 + s.code_lines / 4.0)))
    asks = max(0, s.sentences - 1) + max(0, s.questions - 1)
    parts += [
        (f"{asks} requirements", 0.35 * min(asks, 8) * shallow),
        (f"{s.list_items} list items", 0.2 * min(s.list_items, 10) * shallow),
        (f"{s.commas} enumerated clauses", 0.15 * min(s.commas, 10) * shallow),
        ("constraints", 0.4 * min(s.cue("constraint"), 5) * shallow),
        (f"{domain} base", _DEEP_BASE.get(domain, 0.0)),
    ]
    return parts


def _manner(s: Signals) -> Parts:
    """How the task must be done (prove it, be rigorous, write a whole document): counts in any domain."""
    c = s.cue
    parts = [
        ("proof or derivation", 2.5 * min(c("proof"), 2)),
        ("asks for rigour", 1.0 * min(c("rigour"), 3)),
        ("a document to compose", 0.7 * min(c("compose"), 2)),
        ("an explanation", 0.6 * min(c("explain"), 2)),
        ("weighing alternatives", 0.6 * min(c("tradeoff"), 3)),
        ("adversarial scrutiny", 1.5 * min(c("scrutiny"), 2)),
    ]
    if s.code_blocks or s.code_marks:
        parts.append(("asks why code misbehaves", 1.0 * (c("debug") > 0)))
    parts += [("stack trace", 2.0 * s.stack_trace), ("diff", 1.0 * s.diff)]
    return parts


def _topic(s: Signals, domain: str) -> Parts:
    """What the task is about signals depth only in technical domains; in a chat or an email the same
    words are just the topic. Capped so that piling up specialist words alone cannot reach expert."""
    c = s.cue
    topic = [
        ("quantities to work out", 0.6 * min(c("quantity"), 3)),
        ("math notation", 0.3 * min(s.math_marks, 5)),
        ("concurrency", 1.0 * min(c("concurrency"), 3)),
        ("failure to hunt", 1.2 * min(c("failure"), 2)),
        ("performance", 0.5 * min(c("performance"), 3)),
        ("something to build", 0.8 * min(c("construction"), 3)),
        ("tests wanted", 0.8 * min(c("tests"), 2)),
        ("systems language", 1.0 * min(c("systems"), 2)),
        ("research", 1.0 * min(c("research"), 3)),
        ("named code entities", 0.3 * min(s.code_marks, 5)),
    ]
    scale = _TOPIC_SCALE.get(domain, 1.0)
    total = sum(points for _, points in topic) * scale
    factor = min(1.0, _TOPIC_CAP / total) * scale if total else 0.0
    return [(label, points * factor) for label, points in topic]


def _user_hints(s: Signals) -> Parts:
    """What the user said about the depth they want ("quick", "think hard", "be thorough")."""
    c = s.cue
    return [
        ('"quick"', -1.5 * (c("quick") > 0)),
        ("asks for brevity", -1.0 * (c("brief") > 0)),
        ('"think hard"', 1.5 * (c("think") > 0)),
        ('"thorough"', 3.0 * (c("thorough") > 0)),
    ]


def _bounds(s: Signals, domain: str, words: float, score: float, parts: Parts) -> float:
    """Raise or cap a score by what the task is (a proof is at least hard; a chat without a demand for
    rigour stays medium), recording each adjustment in `parts`."""
    c = s.cue

    def move_to(target: float, label: str) -> float:
        parts.append((label, target - score))
        return target

    # "The best answer you can give" asks for the strongest tier, unless the task itself is trivial.
    if c("best"):
        best = max(4.5, DIFFICULTY_THRESHOLDS[2] - score) if score >= DIFFICULTY_THRESHOLDS[0] else 4.5
        parts.append(('"best answer"', best))
        score += best
    # Chat, admin, search and writing are at most medium unless the user asks for rigour, proof or the
    # best possible answer: what makes such a task hard is the reasoning, and that shows in those words.
    process = (
        2.5 * min(c("proof"), 1) + min(c("rigour"), 3) + 1.5 * (c("think") > 0) + 3.0 * (c("best") + c("thorough") > 0)
    )
    ceiling = DIFFICULTY_THRESHOLDS[1] - 0.5
    if domain in _SHALLOW and process < 2.0 and score > ceiling:
        score = move_to(ceiling, f"{domain} without asking for rigour stays medium")
    # Depth alone makes a task hard. Expert takes a demand for the best or a thorough answer, adversarial
    # or research scope, or sheer breadth (a specification of a hundred words or more).
    broad = c("thorough") or c("scrutiny") or c("research") or c("best") or words >= _BROAD_WORDS
    ceiling = DIFFICULTY_THRESHOLDS[2] - 0.5
    if not broad and score > ceiling:
        score = move_to(ceiling, "depth without breadth stays hard")
    # Floors: a requested proof is hard however short the request; a stack trace needs real debugging.
    if c("proof") and domain != "writing" and score < DIFFICULTY_THRESHOLDS[1]:
        score = move_to(DIFFICULTY_THRESHOLDS[1], "a proof is at least hard")
    if s.stack_trace and score < DIFFICULTY_THRESHOLDS[0]:
        score = move_to(DIFFICULTY_THRESHOLDS[0], "a stack trace is at least medium")
    return score
