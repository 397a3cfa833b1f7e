"""A live answer: posted at once, edits coalesced at the pace, parts chained, and the view's final footer."""

from __future__ import annotations

import anyio
import pytest

from variet.assistant.model_loop import TurnResult
from variet.assistant.pacer import EditPacer
from variet.assistant.reply import LiveReply
from variet.assistant.turn import TurnView

pytestmark = pytest.mark.anyio


class Channel:
    """A `ReplyTarget` that keeps what was posted and edited, as Discord would."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.replies_to: list[int | None] = []
        self.log: list[tuple[str, int, str]] = []
        self.typed = 0
        self.posted = anyio.Event()

    async def post(self, content: str, after: int | None) -> int:
        self.messages.append(content)
        self.replies_to.append(after)
        self.log.append(("post", len(self.messages) - 1, content))
        self.posted.set()
        return len(self.messages) - 1

    async def edit(self, message: int, content: str) -> None:
        self.messages[message] = content
        self.log.append(("edit", message, content))

    async def typing(self) -> None:
        self.typed += 1


async def test_updates_between_edits_are_coalesced_and_the_final_state_always_lands() -> None:
    channel = Channel()
    reply: LiveReply[int] = LiveReply(channel, EditPacer(interval=0.2))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reply.run)
            reply.show("He", "-# fast · writing…")
            await channel.posted.wait()
            for text in ("Hel", "Hell", "Hello"):
                reply.show(text, "-# fast · writing…")
            reply.show("Hello!", "-# fast · 50.0 tok/s", final=True)
            await reply.done.wait()
    assert channel.log == [("post", 0, "He\n-# fast · writing…"), ("edit", 0, "Hello!\n-# fast · 50.0 tok/s")]
    assert channel.typed == 1 and reply.first_visible is not None and reply.final_wait > 0


async def test_a_long_answer_continues_in_replies_with_the_footer_under_the_last() -> None:
    channel = Channel()
    reply: LiveReply[int] = LiveReply(channel, EditPacer(interval=0.05), limit=100)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reply.run)
            reply.show("word " * 50, "-# fast", final=True)
    assert len(channel.messages) == 3 and channel.replies_to == [None, 0, 1]
    assert all(len(m) <= 100 for m in channel.messages)
    assert channel.messages[-1].endswith("\n-# fast") and "-#" not in channel.messages[0]


async def test_a_turn_that_hit_the_tool_round_limit_says_so_under_the_answer() -> None:
    channel = Channel()
    reply: LiveReply[int] = LiveReply(channel, EditPacer(interval=0.05))
    view = TurnView(reply)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reply.run)
            view.tool("web_search", {"query": "ferries"})
            view.finish(TurnResult(text="", tier="fast", tools=["web_search"] * 8, rounds=8, stopped=True))
    assert channel.messages == ["⚠️ The model gave no answer (see below).\n-# fast · 🔧 web_search\n"
                                "-# ⚠️ stopped after 8 rounds of tool calls without a final answer "
                                "([discord] max_tool_rounds)"]


async def test_a_finished_answer_does_not_wait_out_a_pause_meant_for_interim_edits() -> None:
    channel = Channel()
    reply: LiveReply[int] = LiveReply(channel, EditPacer(interval=4.0))
    started = anyio.current_time()
    with anyio.fail_after(3):  # an interim pause would last 4 s; the final edit waits a quarter of that
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reply.run)
            reply.show("He", "")
            await channel.posted.wait()
            reply.show("Hel", "")
            reply.show("Hello", "", final=True)
    assert channel.log == [("post", 0, "He"), ("edit", 0, "Hello")]
    assert 0.9 < anyio.current_time() - started < 2.5
