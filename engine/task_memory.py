"""Which tier serves each running task: a small in-memory LRU table, so an agent loop stays on one tier.

`auto` (`variet.engine.auto`) records a task's tier when the person's message is routed and looks it up on
every turn that continues it. A task is found by keys its requests share:

- what the host says about the conversation, with the task's text: Anthropic `metadata.user_id` (Claude Code
  puts its session there), OpenAI `user` or `prompt_cache_key`. Text is part of the key because one session
  runs several conversations (sub-agents, side requests);
- the prompt-cache prefix hash (`variet.engine.prompts.prefixes`) of everything up to and including the
  person's message: the system prompt, the tools and the messages before it, which a loop never rewrites.

Either key finds the task, so a host that sends no id is still recognised, and one that edits the tool list
mid-loop (a late MCP server) is recognised by its id. The table is bounded (least recently used entries go
first) and lives only as long as the engine: after a restart a running loop is routed afresh once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from variet.engine.prompts.prefixes import PrefixChain

__all__ = ["DEFAULT_CAPACITY", "TaskMemory", "TaskRecord", "task_keys"]

DEFAULT_CAPACITY: Final = 512
"""Keys remembered (two per task at most): far more loops than one box runs at once."""
_HOST_FIELDS: Final = (("metadata", "user_id"), (None, "user"), (None, "prompt_cache_key"))


@dataclass(slots=True)
class TaskRecord:
    """A running task: the tier serving it, how many requests it has made, whether it moved up already."""

    tier: str
    turns: int = 1
    escalated: bool = False


def _digest(*parts: str) -> str:
    data = "\x00".join(parts).encode("utf-8", errors="surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def task_keys(payload: dict[str, Any], task: str, index: int, chain: PrefixChain) -> list[str]:
    """The keys of the task whose person-written message is `messages[index]` (text `task`)."""
    keys = []
    for outer, field in _HOST_FIELDS:
        holder = payload.get(outer) if outer else payload
        value = holder.get(field) if isinstance(holder, dict) else None
        if isinstance(value, str) and value:
            keys.append("host:" + _digest(field, value, task))
    if index + 1 < len(chain.hashes):  # piece 0 is the head, piece i + 1 the message i
        keys.append("prefix:" + chain.hashes[index + 1])
    return keys


class TaskMemory:
    """A bounded map from task keys to `TaskRecord`s; used from the event loop only (no locking)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._records: OrderedDict[str, TaskRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def recall(self, keys: Sequence[str]) -> TaskRecord | None:
        """The record under the first of `keys` that has one (and mark it recently used)."""
        for key in keys:
            record = self._records.get(key)
            if record is not None:
                self._records.move_to_end(key)
                return record
        return None

    def remember(self, keys: Sequence[str], record: TaskRecord) -> None:
        """File `record` under every key, dropping the least recently used keys beyond capacity."""
        for key in keys:
            self._records[key] = record
            self._records.move_to_end(key)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)
