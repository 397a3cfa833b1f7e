"""Fixtures shared by the whole suite. Real-part launchers live in tests/parts/, fakes in tests/fakes/."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
