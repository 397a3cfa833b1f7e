"""Taint: the untrusted content a conversation holds, and which tool calls would carry data out after it.

A conversation is tainted once it holds text strangers wrote: a tool result the servers mark untrusted
(`_meta["variet/untrusted"]`: mail, events, web pages, search results), or, rebuilt from Discord, an earlier
answer whose footer says it read such content (`taint_mark`), or a message from someone the bot does not
answer. From then on a call is *outbound* when its tool's declaration (`variet/outbound`, see
`variet.servers.kit.untrusted.Outbound`) says so for these arguments: a URL that no search result of the
conversation (`LinkMemory` keeps earlier turns') and no message of the person's own contained verbatim, a
search whose query holds words of private results (mail, calendar) that the person did not write themselves,
a draft, an event with attendees. `Taint.check` is a pure decision; what happens to a held call (ask,
refuse) is the toolbox's business. Reads stay free.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp.types import CallToolResult, TextContent, Tool

from variet.assistant.conversation import Said
from variet.assistant.render import SMALL
from variet.servers.kit.untrusted import OUTBOUND_KEY, UNTRUSTED_KEY, UNTRUSTED_NOTICE, Outbound

__all__ = ["TAINT_MARK", "Held", "LinkMemory", "Taint", "declares_outbound", "outbound_rule", "taint_mark",
           "urls_in"]

TAINT_MARK = "🛡️ untrusted:"
"""Starts the footer part that records what untrusted content an answer was written after."""
_PRIVATE = "(private)"
_STRANGERS = "messages from others"
_URL = re.compile(r"https?://[^\s<>\"'`|]+")
_URL_TAIL = ".,;:!?)]}*_~"
_WORD = re.compile(r"[^\W_]+")
_COMMON = frozenset("""
    about after again also been before being both could does doing done each from have having here into just
    know like made make many more most much need only other over please same should some such than that their
    them then there these they this those very want were what when where which while will with would your
    today tomorrow week year time search find http https www com org net html
""".split())
"""Words too common to count as private text when a search query repeats them."""
_ARGS_MAX = 700
_REMEMBERED_ANSWERS = 1000


class LinkMemory:
    """The URLs search results offered, by the bot messages of the answer they were offered for, so a reply
    can open "the second link" unasked. Kept in memory only (bounded): after a restart such a URL is asked."""

    def __init__(self, size: int = _REMEMBERED_ANSWERS) -> None:
        self._links: OrderedDict[int, frozenset[str]] = OrderedDict()
        self._size = size

    def remember(self, message_ids: Iterable[int], links: Iterable[str]) -> None:
        offered = frozenset(links)
        if not offered:
            return
        for message_id in message_ids:
            self._links[message_id] = offered
            self._links.move_to_end(message_id)
        while len(self._links) > self._size:
            self._links.popitem(last=False)

    def recall(self, message_ids: Iterable[int]) -> set[str]:
        return {link for message_id in message_ids for link in self._links.get(message_id, ())}


@dataclass(frozen=True)
class Held:
    """An outbound call after untrusted content: what it would send, in the words the owner sees."""

    tool: str
    summary: str
    """One line: "fetch_page to https://…" (for the model and the log)."""
    detail: str
    """The exact URL, query or arguments, and why the call is outbound (for the owner)."""
    asks: bool = False
    """The server asks the owner itself (a send): let that question through instead of asking twice."""


def outbound_rule(tool: Tool, declared_on_server: bool) -> Outbound | None:
    """How `tool` can carry data out: its declaration; for servers that declare nothing, any tool that writes
    to the open world (per its annotations) counts as outbound on every call. None: never outbound."""
    rule = Outbound.from_meta(tool.meta)
    if rule is not None or declared_on_server:
        return rule
    notes = tool.annotations
    if notes is not None and (notes.read_only_hint or notes.open_world_hint is False):
        return None
    return Outbound(always=True)


def declares_outbound(tools: Iterable[Tool]) -> bool:
    """True when a server follows the convention (so its undeclared tools are not outbound)."""
    return any(OUTBOUND_KEY in (tool.meta or {}) for tool in tools)


def taint_mark(sources: Mapping[str, bool]) -> str:
    """The footer part for an answer written after untrusted content: "🛡️ untrusted: mail (private), web"."""
    if not sources:
        return ""
    return TAINT_MARK + " " + ", ".join(f"{s} {_PRIVATE}" if private else s for s, private in sources.items())


@dataclass
class Taint:
    """What one conversation has taken in so far; grows as the turn's tool results arrive."""

    sources: dict[str, bool] = field(default_factory=dict)
    """Kinds of untrusted content read (mail, web page, …) → whether it was private."""
    private_texts: list[str] = field(default_factory=list)
    person_words: set[str] = field(default_factory=set)
    known_urls: set[str] = field(default_factory=set)
    """URLs that carry nothing of the owner's: written by the person, or offered by a search result."""
    offered_urls: set[str] = field(default_factory=set)
    """The URLs search results offered in this turn (for `LinkMemory`)."""

    @property
    def tainted(self) -> bool:
        return bool(self.sources)

    @classmethod
    def of_history(cls, history: Sequence[Said], *, people: frozenset[int], links: LinkMemory | None = None) -> Taint:
        """The taint a conversation rebuilt from Discord carries. `people`: who the bot answers (their words
        and URLs are theirs); anyone else's message is untrusted content. `links`: URLs search results offered
        for the bot's earlier answers."""
        taint = cls()
        if links is not None:
            taint.known_urls |= links.recall(said.message_id for said in history if said.by_bot)
        answer: list[str] = []  # the parts of one long answer so far (the footer is under the last)
        for said in history:
            if said.by_bot:
                answer.append(said.text)
                for line in (line for line in said.text.split("\n") if line.startswith(SMALL)):
                    taint._read_mark(line, "\n".join(answer))
                continue
            answer = []
            if said.author_id in people:
                taint.person_words |= _words(said.text)
                taint.known_urls |= set(urls_in(said.text))
            else:
                taint.sources[_STRANGERS] = taint.sources.get(_STRANGERS, False)
        return taint

    def _read_mark(self, line: str, text: str) -> None:
        start = line.find(TAINT_MARK)
        if start < 0:
            return
        part = line[start + len(TAINT_MARK):].split(" · ")[0]
        for source in (s.strip() for s in part.split(",")):
            if not source:
                continue
            private = source.endswith(_PRIVATE)
            name = source.removesuffix(_PRIVATE).strip()
            self.sources[name] = self.sources.get(name, False) or private
            if private:
                # The answer was written from private results: its words count as private text.
                self.private_texts.append("\n".join(t for t in text.split("\n") if not t.startswith(SMALL)))

    def add_result(self, result: CallToolResult) -> None:
        """Take in a tool result: a marked one taints; a private one adds its text; links become known."""
        marker = (result.meta or {}).get(UNTRUSTED_KEY)
        if not isinstance(marker, dict) or result.is_error:
            return
        source = str(marker.get("source") or "tool result")
        private = marker.get("private") is True
        self.sources[source] = self.sources.get(source, False) or private
        links = marker.get("links")
        if isinstance(links, list):
            offered = {link for link in links if isinstance(link, str)}
            self.known_urls |= offered
            self.offered_urls |= offered
        if private:
            self.private_texts.append(" ".join(_strings(result.structured_content or _texts(result))))

    def check(self, tool: str, rule: Outbound | None, arguments: Mapping[str, Any]) -> Held | None:
        """Whether calling `tool` with `arguments` now is an outbound call after untrusted content."""
        if rule is None or not self.tainted:
            return None
        if rule.url is not None:
            url = str(arguments.get(rule.url) or "").strip()
            if url and url not in self.known_urls:
                return Held(tool, f"{tool} to {url}", f"`{url}`\nNo search result and no message of yours "
                            "contained this exact URL.", rule.asks)
        for name in rule.carries:
            text = str(arguments.get(name) or "")
            leaked = self.private_words_in(text)
            if leaked:
                words = ", ".join(leaked[:6])
                return Held(tool, f"{tool} for {text!r}", f"`{_clip(text, 300)}`\nIt repeats words from your "
                            f"private mail or calendar that you did not write here ({words}).", rule.asks)
        named = {k: v for k, v in arguments.items() if k in rule.recipients and _given(v)}
        if rule.always or named:
            why = "it names people who will receive it" if named and not rule.always else "it sends data to others"
            return Held(tool, f"{tool} ({why})", f"```\n{_clip(_json(arguments), _ARGS_MAX)}\n```", rule.asks)
        return None

    def private_words_in(self, text: str) -> list[str]:
        """Words of `text` found in private results that the person did not write themselves."""
        if not self.private_texts:
            return []
        private = _words(" ".join(self.private_texts))
        found = [w for w in dict.fromkeys(_WORD.findall(text.lower()))
                 if _distinctive(w) and w not in self.person_words and w in private]
        return found


def urls_in(text: str) -> list[str]:
    """http(s) URLs in a message, without the punctuation around them."""
    return [match.rstrip(_URL_TAIL) for match in _URL.findall(text)]


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if _distinctive(w)}


def _distinctive(word: str) -> bool:
    """A word that can identify something: four letters or more, or a number of three digits or more."""
    if word in _COMMON:
        return False
    return len(word) >= 4 or (len(word) >= 3 and any(c.isdigit() for c in word))


def _strings(value: Any) -> Iterable[str]:
    """The string values in structured content (not its keys, not the standard untrusted notice)."""
    if isinstance(value, str):
        if value != UNTRUSTED_NOTICE:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _texts(result: CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, TextContent)]


def _given(value: Any) -> bool:
    return value not in (None, "", [], {}, False, "none")


def _json(arguments: Mapping[str, Any]) -> str:
    return json.dumps(dict(arguments), ensure_ascii=False, indent=1)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
