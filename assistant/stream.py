"""One streamed OpenAI chat completion, assembled from its chunks: text, tool calls, tier and speed.

`StreamedReply.add(chunk)` takes each parsed `data:` chunk in order and returns the new text, so the caller
can show it at once. Tool calls arrive in pieces keyed by `index` (id and name first, the JSON arguments
spread over many chunks) and are joined here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamedReply", "ToolCall"]


@dataclass
class ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""
    """The JSON text of the arguments, as the model wrote it."""

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as an object; `ValueError` saying what is wrong when they are not a JSON object."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError as exc:
            raise ValueError(f"the arguments of {self.name} are not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ValueError(f"the arguments of {self.name} must be a JSON object, not {type(value).__name__}")
        return value

    def message(self) -> dict[str, Any]:
        """This call as it goes back to the model in the assistant message."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class StreamedReply:
    text: str = ""
    model: str | None = None
    """The tier that answered (the engine puts it in every chunk)."""
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    """llama-server's measured decode speed, when it sends its timings."""
    _by_index: dict[int, ToolCall] = field(default_factory=dict, repr=False)

    def add(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; returns the text it adds ("" for none)."""
        self.model = chunk.get("model") or self.model
        if isinstance(usage := chunk.get("usage"), dict) and usage.get("completion_tokens") is not None:
            self.completion_tokens = int(usage["completion_tokens"])
        if isinstance(timings := chunk.get("timings"), dict) and timings.get("predicted_per_second"):
            self.tokens_per_second = float(timings["predicted_per_second"])
        added = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if piece := delta.get("content"):
                added += piece
            for part in delta.get("tool_calls") or ():
                self._tool_piece(part)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        self.text += added
        return added

    def _tool_piece(self, part: dict[str, Any]) -> None:
        index = int(part.get("index", len(self._by_index)))
        call = self._by_index.get(index)
        if call is None:
            call = self._by_index[index] = ToolCall()
            self.tool_calls.append(call)
        call.id = part.get("id") or call.id
        function = part.get("function") or {}
        call.name = function.get("name") or call.name
        call.arguments += function.get("arguments") or ""
