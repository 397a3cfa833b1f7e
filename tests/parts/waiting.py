"""One bounded poll for tests: check a condition until it holds or a deadline passes, then fail saying what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["wait_until"]

_T = TypeVar("_T")


def wait_until(what: str, check: Callable[[], _T], *, timeout: float, interval: float = 0.05,
               describe: Callable[[], str] | None = None) -> _T:
    """Call `check` every `interval` seconds until it returns something truthy, and return that.

    After `timeout` seconds the test fails naming `what`, plus whatever `describe()` adds (a log, a screenshot).
    `check` may itself fail the test early (a process that exited).
    """
    deadline = time.monotonic() + timeout
    while True:
        if value := check():
            return value
        if time.monotonic() > deadline:
            extra = f"; {describe()}" if describe is not None else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(interval)
