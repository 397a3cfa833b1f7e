"""An answer that grows in Discord: posted on its first words, then edited at Discord's pace.

`LiveReply.show(body, footer)` records what the answer should look like now and returns at once; `run`
brings Discord up to date: the first post goes out immediately, then at most one edit per
`edit_interval_seconds` (`EditPacer`), coalescing everything shown meanwhile. A body too long for one
message continues in further messages, each a reply to the one before (so a reply chain walks through
all of them); the footer goes under the last. Until the first post, Discord shows "typing…".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import anyio

from variet.assistant.pacer import EditPacer
from variet.assistant.splitter import DISCORD_LIMIT, split_message

__all__ = ["LiveReply", "ReplyTarget"]

log = logging.getLogger("variet.assistant")

_TYPING_EVERY = 8.0
"""Discord shows "typing…" for about 10 s after each trigger."""
_FOOTER_MAX = 600

H = TypeVar("H")


class ReplyTarget(Protocol[H]):
    """Where the answer goes; `H` is a posted message's handle."""

    async def post(self, content: str, after: H | None) -> H:
        """Post a message, as a reply to `after` (None: a reply to the question)."""
        ...

    async def edit(self, message: H, content: str) -> None: ...

    async def typing(self) -> None:
        """Show "typing…" for a few seconds."""
        ...


@dataclass(frozen=True)
class _Shown:
    body: str
    footer: str
    final: bool


class LiveReply(Generic[H]):
    def __init__(self, target: ReplyTarget[H], pacer: EditPacer, *, limit: int = DISCORD_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._target = target
        self._pacer = pacer
        self._limit = limit
        self._clock = clock
        self._wanted: _Shown | None = None
        self._wake = anyio.Event()
        self._messages: list[H] = []
        self._contents: list[str] = []
        self.first_visible: float | None = None
        """When the first message went out (clock seconds)."""
        self.final_wait = 0.0
        """Seconds the finished answer waited for the pace before its last edit (earlier waits overlap with
        the model's work; this one delays the answer)."""
        self._final = anyio.Event()
        self._final_at = 0.0
        self.done = anyio.Event()
        """Set once the final state is in Discord (or could not be put there)."""

    @property
    def messages(self) -> list[H]:
        """The messages posted so far, in order."""
        return list(self._messages)

    def show(self, body: str, footer: str = "", *, final: bool = False) -> None:
        """What the answer should look like now; `final` once it will not change again."""
        if self._wanted is not None and self._wanted.final:
            return
        self._wanted = _Shown(body, footer[:_FOOTER_MAX], final)
        if final:
            self._final_at = self._clock()
            self._final.set()
        self._wake.set()

    async def run(self) -> None:
        """Keep Discord up to date until the final state is shown."""
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._keep_typing)
                await self._follow()
                tasks.cancel_scope.cancel()
        finally:
            self.done.set()

    async def _follow(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self._pace()
            wanted = self._wanted
            assert wanted is not None
            if wanted.final:
                self.final_wait = max(0.0, self._clock() - self._final_at)
            await self._render(wanted)
            self._pacer.sent(self._clock())
            if wanted.final:
                return
            if self._wanted is not wanted:
                self._wake.set()

    async def _pace(self) -> None:
        """Wait until the pacer allows the next edit; a final state arriving meanwhile shortens the wait."""
        while True:
            final = self._wanted is not None and self._wanted.final
            delay = self._pacer.wait(self._clock(), final=final)
            if delay <= 0:
                return
            with anyio.move_on_after(delay):
                if final:
                    await anyio.sleep_forever()
                await self._final.wait()

    async def _keep_typing(self) -> None:
        while not self._messages:
            try:
                await self._target.typing()
            except Exception as exc:  # typing is a courtesy; never let it stop the answer
                log.debug("typing indicator failed: %s", exc)
            await anyio.sleep(_TYPING_EVERY)

    def _parts(self, shown: _Shown) -> list[str]:
        footer = shown.footer.strip()
        room = self._limit - (len(footer) + 1 if footer else 0)
        parts = split_message(shown.body.strip(), room) if shown.body.strip() else []
        if footer:
            parts = [*parts[:-1], f"{parts[-1]}\n{footer}"] if parts else [footer]
        return parts or ["…"]

    async def _render(self, shown: _Shown) -> None:
        for index, content in enumerate(self._parts(shown)):
            if index < len(self._messages):
                if self._contents[index] != content:
                    await self._target.edit(self._messages[index], content)
                    self._contents[index] = content
                continue
            after = self._messages[index - 1] if index else None
            self._messages.append(await self._target.post(content, after))
            self._contents.append(content)
            if self.first_visible is None:
                self.first_visible = self._clock()
