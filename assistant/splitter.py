"""Long answers as Discord messages: cut at paragraph, line or word boundaries, code blocks kept whole.

A cut inside a fenced code block closes the fence at the end of one part and reopens it (same language)
at the start of the next, so every part renders on its own.
"""

from __future__ import annotations

__all__ = ["DISCORD_LIMIT", "split_message"]

DISCORD_LIMIT = 2000
"""Characters in one Discord message."""

_FENCE = "```"
_CLOSE = "\n" + _FENCE


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """`text` as parts of at most `limit` characters; at least one part (empty text gives `[""]`)."""
    if limit < 3 * len(_CLOSE) + 16:
        raise ValueError(f"limit {limit} is too small to split into")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        budget = limit - len(_CLOSE)
        cut, skip = _cut_point(rest, budget)
        head, rest = rest[:cut].rstrip(), rest[cut + skip:].lstrip("\n")
        language = _open_fence(head)
        if language is not None:
            head += _CLOSE
            reopen = f"{_FENCE}{language}\n"
            if len(reopen) >= budget // 2:  # an absurd info string: do not let it crowd out the text
                reopen = f"{_FENCE}\n"
            rest = reopen + rest
        if head.strip():
            parts.append(head)
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def _cut_point(text: str, budget: int) -> tuple[int, int]:
    """Where to end the first part (the last blank line, line end or space in the second half of the budget),
    and how many separator characters to drop there."""
    floor = budget // 2
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, floor, budget)
        if at > 0:
            return at, len(separator)
    return budget, 0


def _open_fence(text: str) -> str | None:
    """The language of a code fence left open at the end of `text` ("" for none), or None if all are closed."""
    language: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(_FENCE):
            language = stripped[len(_FENCE):].strip() if language is None else None
    return language
