"""The MCP servers' tools as the model sees them, and their results as it reads them.

`HostTools` is the `ToolBox` of one turn: the tools of every server that is up, as OpenAI `tools` entries
(a name two servers share gets the server's name in front), and calls routed back through the `McpHost`
with the turn's `Asker`. The servers' `confirm` argument is not offered: this host asks the owner itself,
so the model has no way to confirm for them. Every call first passes the turn's `OutboundGate` (held for
an owner, or refused, when it could carry data out after untrusted content), and every result is taken
into the turn's `Taint`. Results go back as the servers wrote them (their own untrusted-content markers
included), clipped to a size the model can take.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from mcp import MCPError
from mcp.types import CallToolResult, TextContent, Tool

from variet.assistant.errors import ServerUnavailable
from variet.assistant.mcp_host import Asker, McpHost
from variet.assistant.model_loop import ToolOutcome
from variet.assistant.outbound import OutboundGate
from variet.assistant.taint import Taint, declares_outbound, outbound_rule
from variet.servers.kit.untrusted import Outbound

__all__ = ["RESULT_MAX_CHARS", "HostTools", "openai_tool", "result_text"]

log = logging.getLogger("variet.assistant")

RESULT_MAX_CHARS = 24_000
"""A tool result longer than this is clipped (with a note) before the model reads it."""
_HOST_ASKS = "confirm"
"""The servers' fallback argument for hosts that cannot ask; this one always asks."""
_NAME = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True)
class _Route:
    server: str
    tool: str
    may_ask: bool
    outbound: Outbound | None


def openai_tool(name: str, tool: Tool) -> dict[str, Any]:
    """One MCP tool as an OpenAI `tools` entry named `name`, without the `confirm` argument."""
    schema: dict[str, Any] = dict(copy.deepcopy(tool.input_schema)) if tool.input_schema else {}
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    if _may_ask(tool):
        if isinstance(schema["properties"], dict):
            schema["properties"].pop(_HOST_ASKS, None)
        if isinstance(schema.get("required"), list):
            schema["required"] = [key for key in schema["required"] if key != _HOST_ASKS]
    description = tool.description or tool.title or name
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


def result_text(result: CallToolResult, limit: int = RESULT_MAX_CHARS) -> str:
    """What the model reads: the structured result as JSON when there is one, else the text blocks."""
    if result.structured_content is not None and not result.is_error:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    else:
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    if len(text) > limit:
        text = text[:limit] + f"\n[clipped: {len(text) - limit} more characters not shown]"
    return text


def _may_ask(tool: Tool) -> bool:
    """Tools that destroy or send may ask the user first (the servers ask only in those)."""
    notes = tool.annotations
    return bool(notes is not None and notes.destructive_hint)


class HostTools:
    """The tools of the servers that are up now, for one turn whose questions go to `asker`."""

    def __init__(self, host: McpHost, asker: Asker | None, gate: OutboundGate | None = None) -> None:
        self._host = host
        self.gate = gate or OutboundGate(Taint(), "ask", asker)
        self._routes: dict[str, _Route] = {}
        self._entries: list[dict[str, Any]] = []
        listed = host.tools()
        counts: dict[str, int] = {}
        declaring = {server for server, tool in listed if declares_outbound([tool])}
        for _, tool in listed:
            counts[tool.name] = counts.get(tool.name, 0) + 1
        for server, tool in listed:
            name = tool.name if counts[tool.name] == 1 else f"{server}_{tool.name}"
            name = _NAME.sub("_", name)[:64]
            rule = outbound_rule(tool, server in declaring)
            # A tool that contacts a URL may ask too: its server's own check (data in the URL) reaches the owner.
            asks = _may_ask(tool) or (rule is not None and (rule.url is not None or rule.asks))
            self._routes[name] = _Route(server, tool.name, asks, rule)
            self._entries.append(openai_tool(name, tool))

    def names(self) -> list[str]:
        return list(self._routes)

    def openai_tools(self) -> list[dict[str, Any]]:
        return self._entries

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        route = self._routes.get(name)
        if route is None:
            return ToolOutcome(f"Error: there is no tool named {name!r}; use one of: {', '.join(self._routes)}.",
                               is_error=True)
        arguments = {key: value for key, value in arguments.items() if not (route.may_ask and key == _HOST_ASKS)}
        label = f"{route.server}.{route.tool}"
        clearance = await self.gate.clear(route.server, route.tool, route.outbound, arguments)
        if clearance.refusal is not None:
            return ToolOutcome(f"Error: {clearance.refusal}", is_error=True, problem=clearance.refusal)
        try:
            result = await self._host.call_tool(route.server, route.tool, arguments, asker=clearance.asker,
                                                may_ask=route.may_ask, meta=clearance.meta or None)
        except ServerUnavailable as exc:
            return ToolOutcome(f"Error: {exc}", is_error=True, problem=str(exc))
        except MCPError as exc:
            log.warning("%s failed: %s", label, exc)
            return ToolOutcome(f"Error: {exc}", is_error=True, problem=f"{label}: {exc}")
        except TimeoutError:
            text = f"{label} took too long and was stopped"
            log.warning("%s", text)
            return ToolOutcome(f"Error: {text}.", is_error=True, problem=text)
        self.gate.taint.add_result(result)
        text = result_text(result)
        if result.is_error:
            first = text.strip().split("\n", 1)[0]
            log.warning("%s failed: %s", label, first)
            return ToolOutcome(f"Error: {text}", is_error=True, problem=f"{label}: {first}")
        return ToolOutcome(text)
