"""Cheap facts read from a task's text: size, code, stack traces, diffs, math notation and vocabulary cues.

`read_signals` is pure and bounded: texts longer than `SCAN_LIMIT` characters are read at the head and
the tail only, so a pasted log cannot make a routing decision slow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from variet.router.lexicon import LEXICON, Lexicon

__all__ = ["SCAN_LIMIT", "Conversation", "Signals", "read_signals"]

SCAN_LIMIT: Final = 4_000
"""Characters of a task that are scanned (head and tail); the length is always the full length."""
_TAIL: Final = 1_000
_HEAD: Final = 3
_CODE_TOKENS: Final = 600

_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
# Each pattern starts with a literal or a rare character class so `re` can skip ahead quickly; a pattern
# list is counted pattern by pattern for the same reason (an alternation of classes disables the skip).
_STACK_TRACE_HINTS: Final = (
    "Traceback",
    "Error",
    "Exception",
    "panic",
    "goroutine",
    "error[",
    "  at ",
    "\tat ",
    "Segmentation",
    "dumped",
)
_STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)"
    r"|^\s+File \"[^\"]+\", line \d+"
    r"|^\s+at [\w.$<>/\[\]]+ ?\(.*:\d+(?::\d+)?\)"
    r"|^\s+at .+:\d+:\d+\)?$"
    r"|^(?:\w+\.)*\w+(?:Error|Exception)(?::|$)"
    r"|^Caused by: "
    r"|^thread '[^']*' panicked at"
    r"|^panic: "
    r"|^goroutine \d+ \["
    r"|^error\[E\d{4}\]"
    r"|Segmentation fault|core dumped"
    r"|^\s*#\d+\s+0x[0-9a-f]+ in ",
    re.M,
)
# Lines of a stack trace pasted without a fence: code to read, not prose.
_TRACE_LINE = re.compile(
    r"^(?:\s+File \"[^\"\n]+\", line \d+.*|\s+at \S.*|Traceback \(most recent call last\):?"
    r"|(?:Exception in thread \S+ )?(?:[\w$]+\.)*\w+(?:Error|Exception)\b.*|Caused by: .*|\s+\.\.\. \d+ more"
    r"|goroutine \d+ \[.*|\s*#\d+\s+0x[0-9a-f]+ .*)$",
    re.M,
)
_DIFF = re.compile(r"^(?:diff --git |@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@|--- a/|\+\+\+ b/)", re.M)
# A definition opening a line (a function or class to write or read) and a doc comment (a docstring, a
# JSDoc or Rust doc block): together, with little else, they are a stub to complete.
_DEFINITION = re.compile(
    r"^[ \t]*(?:async def |def |class |function |func |fn |pub fn |public |export (?:async )?function |"
    r"(?:static )?(?:int|bool|void|char|double|float|size_t|string|String|boolean) \w+\()",
    re.M,
)
_DOC_COMMENT = re.compile(r'"""|\'\'\'|/\*\*|^[ \t]*///|^[ \t]*// [A-Z]\w+ (?:returns|reports|is)\b', re.M)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*•]|\d{1,2}[.)]|\(\w\)|[a-h][.)])[ \t]+\S", re.M)
_SENTENCE_END = re.compile(r"[.!?。？！](?=\s|$)")
_CODE_LINE_HINTS: Final = (
    ";",
    "{",
    "}",
    "def ",
    "import ",
    "#include",
    "function ",
    "fn ",
    "func ",
    "let ",
    "const ",
    "var ",
    "public ",
    "private ",
    "return",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "CREATE ",
    "$ ",
    ">>> ",
)
_CODE_LINE = re.compile(
    r"^[ \t]*(?:def |class |import |from \S+ import |#include|function |fn |func |let |const |var |"
    r"public |private |return\b|if \(|for \(|while \(|SELECT |INSERT |UPDATE |CREATE |\$ |>>> )"
    r"|[;{}][ \t]*$",
    re.M,
)
_CODE_MARKS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"`[^`\n]+`",  # inline code
        r"\((?<=[A-Za-z0-9_]\()",  # a call: name(
        r"_(?<=[a-z0-9]_)[a-z]",  # snake_case
        r"[A-Z](?<=[a-z][A-Z])[a-z]",  # camelCase
        r"\.(?:py|js|ts|tsx|go|rs|c|cc|cpp|h|hpp|java|kt|rb|sh|json|ya?ml|toml|sql|lock|cfg|ini)\b",
        r"--[a-z][\w-]+",  # a long flag
        r"\$[A-Z_]{2,}",  # an environment variable
    )
)
_MATH_MARKS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"[√∑∏∫∞≤≥≠≈±×÷∂∇∈∉∀∃⊂⊆∪∩⇒⇔ℝℕℤℚαβγδεθλμπσφωΣΠΔ²³ⁿ]",
        r"\\(?:frac|sum|int|sqrt|prod|lim|alpha|beta|theta|lambda|binom|cdot|le|ge|neq|infty)\b",
        r"\d ?[+*/^=] ?\d",  # arithmetic between numbers (not `-`: dates and ranges use it)
        r"\^|\*\*",  # powers
        r"[<>]=? ?\d",  # comparisons with a number
        r"P\(|E\[|E\(",  # probability and expectation notation
        r"\d!",  # factorial
    )
)
# Quoted text longer than a few words is material to work on (a sentence to translate, a paragraph to
# rewrite), not instructions.
_QUOTED: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"'(?<=[\s:(]')[^'\n]{16,600}?'(?![A-Za-z])",
        r'"(?<=[\s:(]")[^"\n]{16,600}?"',
        r"“[^”\n]{16,600}”",
        r"‘[^’\n]{16,600}’",
        r"「[^」\n]{8,600}」",
    )
)
# Words: lower-case the text, turn punctuation into spaces and split (several times faster than a
# regular expression); only words mixing Latin and other letters are split again by script.
_PUNCTUATION: Final = str.maketrans(
    {ch: " " for ch in "_,.;:!?()[]{}<>'\"`/\\|=+*&^%$#@~-…—–·•，。、；：！？（）「」『』【】“”‘’《》〈〉"}
)
_LANGUAGE_SPELLINGS: Final = (("c++", " cpp "), ("c#", " csharp "), ("f#", " fsharp "))
_WORD = re.compile(r"[^\W_]+")
# Where Latin letters or digits meet Korean or CJK inside a word ("python으로"): split there.
_SCRIPT_SEAMS: Final = (
    re.compile(r"([a-z0-9])(?=[\uac00-\ud7a3\u3040-\u30ff\u3400-\u9fff])"),
    re.compile(r"([\uac00-\ud7a3\u3040-\u30ff\u3400-\u9fff])(?=[a-z0-9])"),
)
# Go and C are ordinary words: they count as languages only where the context says so.
_GO_OR_C: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r" (?:Go|C)\b(?:(?<=in Go)|(?<=In Go)|(?<=in C)|(?<=In C)|(?<=using Go)|(?<=using C)|(?<=with C))",
        r"(?:Go|C) (?:code|program|service|server|binary)\b",
        r"C(?:89|99|11|17|23)\b",
    )
)

_LANGUAGE_TAGS: Final = frozenset(
    "python py js javascript ts typescript tsx jsx java kotlin swift rust rs go golang ruby rb php c cpp c++ "
    "cc h hpp cs csharp scala haskell elixir lua perl bash sh shell zsh console powershell sql html css "
    "zig dart julia r".split()
)
_SYSTEMS_TAGS: Final = frozenset("c cpp c++ cc h hpp rust rs zig cuda asm".split())


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the caller knows about the conversation before this message."""

    messages: int = 0
    """Messages before this one (user and assistant)."""
    chars: int = 0
    """Characters in those messages."""

    @classmethod
    def of(cls, value: Conversation | Mapping[str, int] | None) -> Conversation:
        """Accept a `Conversation`, a mapping with `messages` and `chars`, or None."""
        if value is None:
            return _EMPTY_CONVERSATION
        if isinstance(value, Conversation):
            return value
        unknown = set(value) - {"messages", "chars"}
        if unknown:
            raise ValueError(f"unknown context keys {sorted(unknown)}; use 'messages' and 'chars'")
        return cls(messages=int(value.get("messages", 0)), chars=int(value.get("chars", 0)))


_EMPTY_CONVERSATION: Final = Conversation()


@dataclass(frozen=True, slots=True)
class Signals:
    """Facts about one task. Prose is the text outside fenced code blocks."""

    chars: int
    words: float
    """Prose length in English-word equivalents (Korean words weigh more, CJK characters less)."""
    material_words: int
    """Words inside long quotations: text to translate, rewrite or check rather than instructions."""
    script: str
    """Dominant script of the prose: `latin`, `hangul`, `cjk`, `cyrillic`, `other` or `none`."""
    sentences: int
    questions: int
    list_items: int
    commas: int
    """Commas and semicolons in the prose: a rough count of enumerated requirements."""
    code_blocks: int
    code_lines: int
    code_languages: tuple[str, ...]
    code_marks: int
    """Inline code, calls, identifiers, file names and flags in the prose."""
    stack_trace: bool
    diff: bool
    math_marks: int
    cues: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Occurrences of each cue in the prose."""
    head: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Cues among the request's head words (the first three; the last three in Korean), where the verb
    that names the task usually sits."""
    conversation: Conversation = _EMPTY_CONVERSATION
    tokens: tuple[str, ...] = ()
    """The prose's words, lower-cased, in order (what the cues were read from)."""
    code_tokens: tuple[str, ...] = ()
    """Words of the fenced code, lower-cased, in order (at most `_CODE_TOKENS`)."""
    definitions: int = 0
    """Lines that open a function or class definition, fenced or not."""
    doc_comments: int = 0
    """Docstrings and doc comments (a specification of code to write, when beside a definition)."""

    def cue(self, name: str) -> int:
        """How many times a cue occurred."""
        return self.cues.get(name, 0)


def read_signals(task: str, conversation: Conversation | None = None, *, lexicon: Lexicon = LEXICON) -> Signals:
    """Read the signals of a task (pure; time bounded by `SCAN_LIMIT`)."""
    chars = len(task)
    text = task if chars <= SCAN_LIMIT else task[: SCAN_LIMIT - _TAIL] + "\n" + task[-_TAIL:]

    code_blocks = code_lines = 0
    languages: list[str] = []
    prose_parts: list[str] = []
    code_parts: list[str] = []
    last = 0
    for match in _FENCE.finditer(text):
        prose_parts.append(text[last : match.start()])
        last = match.end()
        body = match.group(3)
        code_parts.append(body)
        code_blocks += 1
        code_lines += body.count("\n") + (0 if body.endswith("\n") or not body else 1)
        tag = match.group(2).lower()
        if tag in _LANGUAGE_TAGS:
            languages.append(tag)
    prose_parts.append(text[last:])
    prose = "".join(prose_parts)
    code = "\n".join(code_parts)

    stack_trace = _has_stack_trace(text)
    if stack_trace:
        prose, trace_lines = _TRACE_LINE.subn("", prose)
        code_lines += trace_lines
    # Unfenced code pasted into the prose still counts as code.
    loose_code = len(_CODE_LINE.findall(prose)) if any(h in prose for h in _CODE_LINE_HINTS) else 0
    if loose_code >= 3:
        code_lines += loose_code

    prose, material = _split_quotes(prose)
    tokens = _words(prose)
    cues, head, words, script = _read_cues(tokens, prose, lexicon)
    if languages:
        cues["language"] = cues.get("language", 0) + len(languages)
        systems = sum(tag in _SYSTEMS_TAGS for tag in languages)
        if systems:
            cues["systems"] = cues.get("systems", 0) + systems
    if _count(_GO_OR_C, prose):
        cues["language"] = cues.get("language", 0) + 1
        cues["systems"] = cues.get("systems", 0) + 1

    stripped = prose.strip()
    sentences = len(_SENTENCE_END.findall(stripped)) + stripped.count("\n\n") + 1 if stripped else 0
    return Signals(
        chars=chars,
        words=words,
        material_words=len(material.split()),
        script=script,
        sentences=sentences,
        questions=prose.count("?") + prose.count("？"),
        list_items=len(_LIST_ITEM.findall(prose)),
        commas=prose.count(",") + prose.count("，") + prose.count("、") + prose.count(";"),
        code_blocks=code_blocks,
        code_lines=code_lines,
        code_languages=tuple(dict.fromkeys(languages)),
        code_marks=_count(_CODE_MARKS, prose),
        stack_trace=stack_trace,
        diff=_DIFF.search(code or prose) is not None,
        math_marks=_count(_MATH_MARKS, prose),
        cues=MappingProxyType(cues),
        head=MappingProxyType(head),
        conversation=conversation or _EMPTY_CONVERSATION,
        tokens=tuple(tokens),
        code_tokens=tuple(_words(code)[:_CODE_TOKENS]) if code else (),
        definitions=len(_DEFINITION.findall(text)),
        doc_comments=len(_DOC_COMMENT.findall(text)),
    )


def _split_quotes(prose: str) -> tuple[str, str]:
    """Prose without long quotations, and the quotations (kept in the prose if nothing else is left)."""
    spans = sorted(m.span() for pattern in _QUOTED for m in pattern.finditer(prose))
    if not spans:
        return prose, ""
    kept: list[str] = []
    quoted: list[str] = []
    last = 0
    for start, end in spans:
        if start < last:
            continue
        kept.append(prose[last:start])
        quoted.append(prose[start:end])
        last = end
    kept.append(prose[last:])
    rest = " ".join(kept)
    if len(rest.split()) < 3:
        return prose, ""
    return rest, " ".join(quoted)


def _count(patterns: tuple[re.Pattern[str], ...], text: str) -> int:
    return sum(len(pattern.findall(text)) for pattern in patterns)


def _has_stack_trace(text: str) -> bool:
    return any(hint in text for hint in _STACK_TRACE_HINTS) and _STACK_TRACE.search(text) is not None


def _read_cues(
    tokens: list[str], prose: str, lexicon: Lexicon
) -> tuple[dict[str, int], dict[str, int], float, str]:
    """Count cues (all, and those of the request's head words), the length in words, and the script."""
    counts = Counter(tokens)
    cues: dict[str, int] = {}
    latin = hangul = cjk_chars = other = 0
    words_table, korean, longest = lexicon.words, lexicon.korean, lexicon.korean_longest
    # Each distinct word is looked up once, however often it occurs.
    for token, times in counts.items():
        first = token[0]
        if first < "\u0250":
            latin += times
            found = words_table.get(token)
        elif "\uac00" <= first <= "\ud7a3":
            hangul += times
            found = _korean_stem(token, korean, longest)
        elif "\u3040" <= first <= "\u9fff":
            cjk_chars += times * len(token)
            for fragment, fragment_cues in lexicon.cjk:
                if fragment in token:
                    _add(cues, fragment_cues, times * token.count(fragment))
            continue
        else:
            other += times
            found = words_table.get(token)
        if found:
            _add(cues, found, times)
    starts = lexicon.phrase_starts.intersection(counts)
    if starts:
        phrases, count = lexicon.phrases, len(tokens)
        for i, token in enumerate(tokens):
            if token in starts:
                for size in (2, 3, 4):
                    if i + size > count:
                        break
                    found = phrases.get(tuple(tokens[i : i + size]))
                    if found:
                        _add(cues, found, 1)

    # A Korean word carries a stem plus particles: about 1.3 English words. CJK: ~1.5 characters a word.
    shares = {"latin": float(latin), "hangul": 1.3 * hangul, "cjk": cjk_chars / 1.5, "other": float(other)}
    words = sum(shares.values())
    script = max(shares, key=lambda name: shares[name]) if words else "none"
    if script == "other" and _is_cyrillic(prose):
        script = "cyrillic"
    for token in tokens[:_HEAD]:
        found = lexicon.leading.get(token)
        if found:
            _add(cues, found, 1)
    return cues, _head_cues(tokens, script, lexicon), words, script


def _head_cues(tokens: list[str], script: str, lexicon: Lexicon) -> dict[str, int]:
    """Cues of the words that name the request: the first three, or in Korean the last three."""
    head: dict[str, int] = {}
    if script == "hangul":
        hangul = [t for t in tokens[-4 * _HEAD :] if "\uac00" <= t[0] <= "\ud7a3"][-_HEAD:]
        for token in hangul:
            found = _korean_stem(token, lexicon.korean, lexicon.korean_longest)
            if found:
                _add(head, found, 1)
        return head
    first = tokens[:_HEAD]
    for i, token in enumerate(first):
        _add(head, lexicon.words.get(token, ()), 1)
        _add(head, lexicon.leading.get(token, ()), 1)
        if token in lexicon.phrase_starts:
            for size in (2, 3, 4):
                _add(head, lexicon.phrases.get(tuple(tokens[i : i + size]), ()), 1)
    return head


def _words(prose: str) -> list[str]:
    text = prose.lower()
    for spelling, word in _LANGUAGE_SPELLINGS:
        if spelling in text:
            text = text.replace(spelling, word)
    if text.isascii():
        return text.translate(_PUNCTUATION).split()
    for seam in _SCRIPT_SEAMS:
        if seam.search(text):
            text = seam.sub(r"\1 ", text)
    # str.translate is slow beyond ASCII; a regular expression is faster there.
    return _WORD.findall(text)


def _korean_stem(token: str, korean: Mapping[str, tuple[str, ...]], longest: int) -> tuple[str, ...]:
    for size in range(min(longest, len(token)), 0, -1):
        found = korean.get(token[:size])
        if found:
            return found
    return ()


def _add(cues: dict[str, int], found: tuple[str, ...], times: int) -> None:
    for cue in found:
        cues[cue] = cues.get(cue, 0) + times


def _is_cyrillic(prose: str) -> bool:
    letters = [ch for ch in prose[:400] if ch.isalpha()]
    return bool(letters) and sum("\u0400" <= ch <= "\u04ff" for ch in letters) > len(letters) / 2
