"""What the learned model reads from a task: named features, built from the task's `Signals` and `Assessment`.

A feature is a name and a value. Words, the first words, character n-grams of the words and the words
of pasted code say what a task is about in any phrasing or language; the hand-made signals
(structure, cues, the rules' domain and difficulty score, size buckets, function definitions and their doc
comments) say how it is asked. Each group of
text features is scaled to unit length, so a long paste weighs no more than a short question. The names
are the contract with the trained weights: `VERSION` changes whenever they do.
"""

from __future__ import annotations

import math
from typing import Final

from variet.router.assessment import Assessment
from variet.router.signals import Signals

__all__ = ["VERSION", "features"]

VERSION: Final = 2
"""Bumped whenever feature names or values change; a weights file names the version it was trained on."""

_MAX_TOKENS: Final = 240
"""Words of the prose that are read (the signals already bound the text)."""
_MAX_CODE_WORDS: Final = 80
"""Distinct words of the pasted code that are read."""
_MAX_GRAM_WORDS: Final = 48
"""Distinct words whose character n-grams are read."""
_MIN_GRAM_LENGTH: Final = 5
_MAX_GRAM_LENGTH: Final = 18
_WIDE: Final = "\u1100"
"""Characters from here on (Hangul, kana, CJK) form words without spaces: they get character pairs instead."""


def features(signals: Signals, assessment: Assessment) -> list[tuple[str, float]]:
    """The named features of one task (pure; bounded by `_MAX_TOKENS` words and `_MAX_GRAM_WORDS`)."""
    tokens = signals.tokens[:_MAX_TOKENS]
    words = list(dict.fromkeys(tokens))
    out = _scaled([f"w|{w}" for w in words])
    out += [(f"h|{w}", 1.0) for w in dict.fromkeys(tokens[:3])]
    out += _scaled(_char_grams(words))
    if signals.code_tokens:
        out += _scaled([f"k|{w}" for w in list(dict.fromkeys(signals.code_tokens))[:_MAX_CODE_WORDS]])
    out += _signal_features(signals, assessment)
    return out


def _scaled(names: list[str]) -> list[tuple[str, float]]:
    if not names:
        return []
    value = 1.0 / math.sqrt(len(names))
    return [(name, value) for name in names]


def _char_grams(words: list[str]) -> list[str]:
    """Four-letter pieces of the longer words (marked at their edges) and letter pairs of words in scripts
    without spaces: they carry a stem across inflections, compounds and languages."""
    grams: dict[str, None] = {}
    for word in words[:_MAX_GRAM_WORDS]:
        if word[0] >= _WIDE:
            marked = f"<{word[:_MAX_GRAM_LENGTH]}>"
            for i in range(len(marked) - 1):
                grams[f"g|{marked[i : i + 2]}"] = None
        elif _MIN_GRAM_LENGTH <= len(word) <= _MAX_GRAM_LENGTH and not word.isdigit():
            marked = f"<{word}>"
            for i in range(len(marked) - 3):
                grams[f"g|{marked[i : i + 4]}"] = None
    return list(grams)


def _bucket(value: float) -> int:
    """0 for nothing, then one bucket per doubling: 1, 2-3, 4-7, ..."""
    return 0 if value < 1 else min(9, 1 + int(math.log2(value)))


def _signal_features(s: Signals, a: Assessment) -> list[tuple[str, float]]:
    out = [
        (f"s|words:{_bucket(s.words + 0.5 * s.material_words)}", 1.0),
        (f"s|lines:{_bucket(s.code_lines)}", 1.0),
        (f"s|math:{_bucket(s.math_marks)}", 1.0),
        (f"s|marks:{_bucket(s.code_marks)}", 1.0),
        (f"s|items:{_bucket(s.list_items)}", 1.0),
        (f"s|questions:{_bucket(s.questions)}", 1.0),
        (f"s|sentences:{_bucket(s.sentences)}", 1.0),
        (f"s|script:{s.script}", 1.0),
        (f"s|domain:{a.domain}", 1.0),
        (f"s|difficulty:{a.difficulty}", 1.0),
        (f"s|assessed:{a.domain}:{a.difficulty}", 1.0),
        ("s|score", max(-2.0, min(a.score, 16.0)) / 8.0),
    ]
    if s.stack_trace:
        out.append(("s|stack_trace", 1.0))
    if s.diff:
        out.append(("s|diff", 1.0))
    if s.code_blocks:
        out.append(("s|code_blocks", 1.0))
    if s.material_words:
        out.append(("s|material", 1.0))
    if s.definitions:
        out.append((f"s|definitions:{_bucket(s.definitions)}", 1.0))
        if s.doc_comments:
            # A signature with its specification and little else: one function to complete.
            out.append(("s|stub" if s.code_lines + s.words < 120 else "s|specified", 1.0))
    if s.conversation.messages:
        out.append((f"s|earlier:{_bucket(s.conversation.messages)}", 1.0))
    out.extend((f"s|lang:{tag}", 1.0) for tag in s.code_languages)
    out.extend((f"s|cue:{name}", math.log1p(count)) for name, count in s.cues.items())
    out.extend((f"s|head:{name}", 1.0) for name in s.head)
    out.extend((f"s|evidence:{name}", min(score, 10.0) / 5.0) for name, score in a.domain_scores if score > 0)
    return out
