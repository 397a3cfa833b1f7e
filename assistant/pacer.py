"""When the next edit of a streaming answer may go out: at most one per interval, the last one sooner.

Discord allows about five message edits per five seconds in a channel; one a second leaves room for the
final edit, which only waits a quarter interval so a finished answer shows promptly.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FINAL_SHARE", "EditPacer"]

FINAL_SHARE = 0.25
"""The final edit waits this share of the interval after the previous edit."""


@dataclass
class EditPacer:
    interval: float
    """Least seconds between interim edits."""
    last: float | None = None
    """When the last post or edit went out (monotonic seconds), None before the first."""

    def wait(self, now: float, *, final: bool) -> float:
        """Seconds to wait from `now` before the next edit (0 when it may go now)."""
        if self.last is None:
            return 0.0
        gap = self.interval * (FINAL_SHARE if final else 1.0)
        return max(0.0, self.last + gap - now)

    def sent(self, now: float) -> None:
        self.last = now
