"""The task of a chat request: the newest text a person wrote, and whether the request continues its loop.

Agent hosts (Claude Code, OpenClaude, Continue, the Discord assistant) run a loop per task: the person writes
once, then the model calls tools and every further request ends with their results. So the task is the
newest *human-written* text, in either wire format:

- Only `user` messages can hold it. Tool results never do: Anthropic `tool_result` blocks (Claude Code sends
  them as `user` messages), OpenAI `tool` / `function` messages. Nor do `system`, `developer` or `assistant`
  messages (Claude Code also inserts `system` messages between turns; OpenClaude answers a run of tool
  results with an assistant `[Tool results received]` before the user text that came with them).
- Hosts inject scaffolding into user messages: text wrapped in a tag of `SCAFFOLDING_TAGS`
  (`<system-reminder>` for context, file changes and todo lists; `<command-name>` and friends around
  slash commands and shell escapes), and bracketed notices such as `[Request interrupted by user]`. That
  text is removed; `<command-args>` keeps its inside (what the person typed after a slash command).
- Claude Code delivers what the person types while the model works inside the next tool-result message,
  wrapped in its own sentence (`The user sent a new message while you were working: ...`); the wrapper is
  removed and the message inside is a new task.

A user message with text left after that is human-written. The request *continues* its task when an
assistant message follows the one holding the task: the loop is under way, and the newest messages are
tool results or scaffolding. Learned from the request bodies of Claude Code 2.1 (recorded under
`benchmarks/data/agent_loops/`) and OpenClaude's OpenAI conversion of the same messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["SCAFFOLDING_TAGS", "Turn", "human_text", "read_turn"]

SCAFFOLDING_TAGS: Final = (
    "system-reminder",
    "user-prompt-submit-hook",
    "command-name",
    "command-message",
    "local-command-stdout",
    "local-command-stderr",
    "local-command-caveat",
    "bash-input",
    "bash-stdout",
    "bash-stderr",
)
"""Tags whose whole block a host injects into a user message; never the person's task."""
_KEPT_TAGS: Final = ("command-args",)
"""Tags a host wraps around text the person typed: the tags go, the inside stays."""

_BLOCK = re.compile(r"<(" + "|".join(map(re.escape, SCAFFOLDING_TAGS)) + r")>.*?</\1>", re.DOTALL)
_KEPT = re.compile(r"</?(?:" + "|".join(map(re.escape, _KEPT_TAGS)) + r")>")
_NOTICE = re.compile(r"^\s*\[(?:Request interrupted by user[^\]]*|Tool results received)\]\s*$", re.MULTILINE)
_MID_TURN = re.compile(
    r"The user sent a new message while you were working:\s*\n(?P<text>.*?)"
    r"(?:\n\s*\nThis is how Claude Code surfaces messages the user sends mid-turn\b.*)?\Z",
    re.DOTALL,
)
_TOOL_BLOCKS: Final = frozenset({"tool_result", "tool_use", "function_call_output", "server_tool_use"})


@dataclass(frozen=True, slots=True)
class Turn:
    """What one request says about its task."""

    task: str
    """The newest human-written text ("" when the request has none)."""
    index: int | None
    """The position in `messages` of the message holding it."""
    continuing: bool
    """The model has answered since (an assistant message follows the task): a turn of a running loop."""
    messages: int
    """How many messages the request holds."""


def human_text(text: str) -> str:
    """`text` of a user message without what hosts inject: scaffolding blocks, notices, Claude Code's
    mid-turn wrapper (its inside is kept)."""
    text = _BLOCK.sub("", text)
    mid_turn = _MID_TURN.search(text)
    if mid_turn is not None:
        text = text[: mid_turn.start()] + mid_turn.group("text")
    text = _KEPT.sub("", text)
    return _NOTICE.sub("", text).strip()


def _written(content: Any) -> str:
    """The human-written text of a user message's `content` (string, or a list of parts or blocks)."""
    if isinstance(content, str):
        return human_text(content)
    if not isinstance(content, list):
        return ""
    texts = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict) and block.get("type") not in _TOOL_BLOCKS and isinstance(block.get("text"), str):
            texts.append(block["text"])
    return "\n".join(text for text in map(human_text, texts) if text)


def read_turn(payload: dict[str, Any]) -> Turn:
    """The task of an OpenAI chat or Anthropic messages body, and whether this request continues it."""
    raw = payload.get("messages")
    messages = raw if isinstance(raw, list) else []
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        text = _written(message.get("content"))
        if text:
            later = messages[index + 1:]
            continuing = any(isinstance(m, dict) and m.get("role") == "assistant" for m in later)
            return Turn(text, index, continuing, len(messages))
    return Turn("", None, False, len(messages))

