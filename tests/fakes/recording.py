"""What the scripted model stubs share: every request they get is recorded, thread-safely, for the test to read."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

__all__ = ["Recorded", "RecordingStub"]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    """The JSON body, or its text when it is not JSON."""


class RecordingStub:
    """Base of the stubs: `requests` lists what came in, oldest first (the stub serves on another thread)."""

    def __init__(self) -> None:
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = Recorded(request.method, request.url.path, request.url.query, dict(request.headers), body)
        with self._lock:
            self._requests.append(record)
        return body
