"""The outbound rule applied: a call that `Taint.check` holds is asked of an owner, refused, or let through.

`[discord] outbound` decides: `ask` (default) posts the exact URL, query or arguments with the owner-only
Approve / Cancel buttons and runs the call only on Approve; `block` refuses with one line the model can relay;
`allow` checks nothing. A tool whose server asks the owner itself (a send) is not asked twice: its own
question goes through, headed by a warning. Calls this host checked carry `variet/host-approved`, so the
server skips its own default check (`[search] outbound`) for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from variet.assistant.mcp_host import Asker, Decision
from variet.assistant.taint import Taint
from variet.servers.kit.untrusted import HOST_APPROVED_KEY, Outbound
from variet.shared.config import OutboundMode

__all__ = ["Clearance", "OutboundGate"]

log = logging.getLogger("variet.assistant")

_WARNING = "⚠️ This conversation holds untrusted content: {sources}. An injected instruction may have asked for this."


@dataclass(frozen=True)
class Clearance:
    """What to do with one call: run it (with this request `_meta` and asker), or answer `refusal` instead."""

    refusal: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    asker: Asker | None = None


class _Warned:
    """An `Asker` that puts the taint warning above a server's own question."""

    def __init__(self, asker: Asker, warning: str) -> None:
        self._asker = asker
        self._warning = warning

    async def confirm(self, question: str, *, server: str, tool: str, by_host: bool = False) -> Decision:
        return await self._asker.confirm(f"{self._warning}\n{question}", server=server, tool=tool, by_host=by_host)


class OutboundGate:
    """The rule for one turn: its conversation's `Taint`, the mode, and the owner to ask."""

    def __init__(self, taint: Taint, mode: OutboundMode, asker: Asker | None) -> None:
        self.taint = taint
        self.mode = mode
        self._asker = asker

    async def clear(self, server: str, tool: str, rule: Outbound | None, arguments: Mapping[str, Any]) -> Clearance:
        """Decide on one call (asking an owner when the mode says so); never raises for a refusal."""
        if rule is None or self.mode == "allow":
            return Clearance(asker=self._asker)
        held = self.taint.check(tool, rule, arguments)
        approved = {HOST_APPROVED_KEY: True}
        if held is None:
            return Clearance(meta=approved, asker=self._asker)
        if self.mode == "block":
            log.info("refused %s.%s after untrusted content: %s", server, tool, held.summary)
            return Clearance(refusal=f"Refused: {held.summary} could carry private data out after untrusted "
                                     f"content, and [discord] outbound = \"block\". Tell the person what you "
                                     "wanted to do; they can do it themselves.")
        warning = _WARNING.format(sources=", ".join(f"{source} (private)" if private else source
                                                    for source, private in self.taint.sources.items()))
        if held.asks and self._asker is not None:
            return Clearance(meta=approved, asker=_Warned(self._asker, warning))
        decision: Decision = "cancel"
        if self._asker is not None:
            question = f"{warning}\nThe model wants to call **{tool}**: {held.detail}"
            decision = await self._asker.confirm(question, server=server, tool=tool, by_host=True)
        log.info("%s.%s after untrusted content (%s): %s", server, tool, held.summary, decision)
        if decision == "accept":
            return Clearance(meta=approved, asker=self._asker)
        answer = {"decline": "the owner cancelled it", "cancel": "no owner approved it in time"}[decision]
        return Clearance(refusal=f"Not done: {held.summary} was held because this conversation holds untrusted "
                                 f"content, and {answer}. Say so; do not try another way.")
