"""Answering one message: the conversation from Discord, the model loop with tools, the answer streamed back.

`answer_message` is everything between a message arriving and its answer standing in Discord. `TurnView`
decides what the answer looks like at each moment (a swap notice, the text so far, a running tool, the
final footer) and hands that to `LiveReply`; the engine's events tell it when the answer waits for a swap.
The conversation's `Taint` comes from the rebuilt history and grows with the turn's tool results; the footer
carries its mark, so the next message in the chain is still tainted. Every failure ends as one line in the
channel and in the log, never a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import anyio
import discord
from anyio.streams.memory import MemoryObjectReceiveStream

from variet.assistant.confirm import DiscordAsker
from variet.assistant.conversation import system_prompt, to_messages
from variet.assistant.errors import explain
from variet.assistant.history import channel_ids, conversation_of
from variet.assistant.model_loop import TurnResult, run_turn
from variet.assistant.outbound import OutboundGate
from variet.assistant.pacer import EditPacer
from variet.assistant.render import (
    WAIT,
    SwapNote,
    TurnFacts,
    footer,
    notice,
    swap_notice,
    tool_status,
)
from variet.assistant.reply import LiveReply
from variet.assistant.services import Services, TurnTimings
from variet.assistant.taint import Taint, taint_mark
from variet.assistant.toolbox import HostTools
from variet.contract import AUTO_MODEL, EngineEvent, SwapDoneEvent, SwapFailedEvent, SwapStartedEvent
from variet.shared.errors import VarietError

__all__ = ["DiscordTarget", "TurnView", "answer_message"]

log = logging.getLogger("variet.assistant")

_NO_PINGS = discord.AllowedMentions.none()


class DiscordTarget:
    """`ReplyTarget` for a channel: the first part replies to the question, later parts to the part before."""

    def __init__(self, question: discord.Message) -> None:
        self._question = question

    async def post(self, content: str, after: discord.Message | None) -> discord.Message:
        reference = after or self._question
        return await self._question.channel.send(content, reference=reference, mention_author=False,
                                                  allowed_mentions=_NO_PINGS)

    async def edit(self, message: discord.Message, content: str) -> None:
        await message.edit(content=content, allowed_mentions=_NO_PINGS)

    async def typing(self) -> None:
        await self._question.channel.typing()


class TurnView:
    """What the answer shows, updated from the model loop (a `TurnObserver`) and the engine's events."""

    def __init__(self, reply: LiveReply[Any]) -> None:
        self._reply = reply
        self.taint: Taint | None = None
        """The conversation's taint, once known; its mark goes in the footer."""
        self.text = ""
        self.facts = TurnFacts()
        self._status = ""
        self._swaps: dict[str, SwapNote] = {}

    def _show(self, *, final: bool = False) -> None:
        swaps = tuple(swap for swap in self._swaps.values() if swap.seconds is not None)
        facts = TurnFacts(self.facts.tier, self.facts.tokens_per_second, swaps, self.facts.tools, self.facts.problems)
        if self.taint is not None:
            facts = dataclasses.replace(facts, untrusted=taint_mark(self.taint.sources))
        small = footer(facts, streaming=not final, started=bool(self.text) and not self.text.startswith(WAIT))
        if self._status and not final:
            small = f"{small}\n{self._status}" if small else self._status
        self._reply.show(self.text, small, final=final)

    def answer(self, text: str, tier: str | None) -> None:
        self.text = text
        self._status = ""
        self.facts = TurnFacts(tier=tier, tools=self.facts.tools, problems=self.facts.problems)
        self._show()

    def tool(self, name: str, arguments: dict[str, Any]) -> None:
        self.facts = TurnFacts(self.facts.tier, tools=(*self.facts.tools, name), problems=self.facts.problems)
        self._status = tool_status(name, arguments)
        self._show()

    def swap_expected(self, tier: str, expected: float | None) -> None:
        """The answer waits for `tier` to load: say so at once, until the first words arrive."""
        if not self.text:
            self.text = swap_notice(tier, expected)
            self._show()

    def swap_event(self, event: EngineEvent) -> None:
        waiting = not self.text or self.text.startswith(WAIT)
        if isinstance(event, SwapStartedEvent) and waiting:
            self._swaps[event.tier] = SwapNote(event.tier, event.previous)
            self.text = swap_notice(event.tier, event.expected_seconds or None)
            self._show()
        elif isinstance(event, SwapDoneEvent) and event.tier in self._swaps:
            self._swaps[event.tier] = SwapNote(event.tier, event.previous, event.seconds)
        elif isinstance(event, SwapFailedEvent) and event.tier in self._swaps:
            self._problem(f"loading {event.tier} failed: {event.error}")

    def _problem(self, line: str) -> None:
        self.facts = TurnFacts(self.facts.tier, self.facts.tokens_per_second, self.facts.swaps, self.facts.tools,
                               (*self.facts.problems, line))

    def finish(self, result: TurnResult) -> None:
        problems = (*self.facts.problems, *result.problems)  # a failed swap, then the tools' and servers'
        self.facts = TurnFacts(result.tier, result.tokens_per_second, (), result.tools, problems)
        self.text = result.text
        if result.stopped:
            self._problem(f"stopped after {result.rounds} rounds of tool calls without a final answer "
                          "([discord] max_tool_rounds)")
        if not self.text.strip():
            self.text = notice("The model gave no answer" + (" (see below)." if self.facts.problems else "."))
        self._status = ""
        self._show(final=True)

    def fail(self, line: str) -> None:
        if self.text and not self.text.startswith(WAIT):
            self._problem(line)  # keep what was written; the failure goes in the small print
        else:
            self.text = notice(line)
        self._status = ""
        self._show(final=True)


async def _post(reply: LiveReply[discord.Message], message: discord.Message) -> None:
    try:
        await reply.run()
    except Exception as exc:  # nowhere left to show it: the log says why
        log.warning("could not post the answer to message %d: %s", message.id, explain(exc),
                    exc_info=not isinstance(exc, discord.HTTPException))


async def _follow_swaps(events: MemoryObjectReceiveStream[EngineEvent], view: TurnView) -> None:
    async for event in events:
        view.swap_event(event)


async def answer_message(message: discord.Message, services: Services, *, bot_id: int) -> None:
    """Answer `message` in its channel; never raises for a failure a person can act on."""
    received = time.monotonic()
    settings = services.discord
    ids = channel_ids(message.channel)
    model = services.pins.model_for(ids, settings.model)
    reply: LiveReply[discord.Message] = LiveReply(DiscordTarget(message), EditPacer(settings.edit_interval_seconds))
    view = TurnView(reply)
    asker = DiscordAsker(message.channel, message, services.confirmations, services.gate.access.owners,
                         settings.confirm_timeout_seconds)
    result: TurnResult | None = None
    async with anyio.create_task_group() as tasks, services.watch.listen() as events:
        tasks.start_soon(_post, reply, message)
        tasks.start_soon(_follow_swaps, events, view)
        engine = services.watch.view
        if model != AUTO_MODEL and engine.connected and engine.loaded != model:
            view.swap_expected(model, engine.expected_seconds(model))
        elif engine.swapping is not None:
            view.swap_expected(engine.swapping.tier, engine.swapping.expected_seconds or None)
        try:
            history = await conversation_of(message, bot_id=bot_id, limit=settings.history_messages)
            access = services.gate.access
            view.taint = taint = Taint.of_history(history, people=access.owners | access.users, links=services.links)
            await services.host.revive()
            tools = HostTools(services.host, asker, OutboundGate(taint, settings.outbound, asker))
            owner = message.author.display_name
            system = system_prompt(services.now(), owner=owner, tools=tools.names())
            problems = [f"variet-{s.name} is down: {s.error}" for s in services.host.status() if not s.up]
            result = await run_turn(to_messages(history, system=system, bot_id=bot_id), model=model,
                                    chat=services.engine, tools=tools, observer=view,
                                    max_rounds=settings.max_tool_rounds, max_tokens=settings.max_tokens,
                                    temperature=settings.temperature)
            result.problems[:0] = problems
            view.finish(result)
        except Exception as exc:  # every failure ends as one line for the person; the log keeps the cause
            line = explain(exc)
            if isinstance(exc, (VarietError, discord.DiscordException, TimeoutError)):
                log.warning("answering message %d: %s", message.id, line)
            else:
                log.exception("answering message %d failed", message.id)
            view.fail(line)
        await reply.done.wait()
        tasks.cancel_scope.cancel()
    if view.taint is not None:
        services.links.remember((posted.id for posted in reply.messages), view.taint.offered_urls)
    timings = TurnTimings(received=received, first_visible=reply.first_visible, finished=time.monotonic(),
                          engine_seconds=result.engine_seconds if result else 0.0,
                          tool_seconds=result.tool_seconds if result else 0.0,
                          pacing_seconds=reply.final_wait, confirm_seconds=asker.waited)
    services.timings.append(timings)
    log.info("answered %d in %.2f s (engine %.2f s, tools %.2f s, paced %.2f s, own %.3f s)", message.id,
             timings.finished - received, timings.engine_seconds, timings.tool_seconds, timings.pacing_seconds,
             timings.own_seconds)
