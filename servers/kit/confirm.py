"""One way to ask the user before a destructive action (deleting an event, sending mail).

A tool declares a parameter filled by a resolver (`Annotated[ElicitationResult[Confirmation],
Resolve(fn)]`); the resolver describes the action and returns `Confirmer.ask(...)`. When the host supports
form elicitation the SDK asks the user (mid-call on 2025-11-25, through an input-required round on newer
revisions) and the model cannot answer for them. Otherwise the first call is refused with the description,
and only a later call with `confirm=true` for the same, unchanged action goes ahead.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

__all__ = ["CONFIRM_DESCRIPTION", "Confirmation", "Confirmer", "Unasked", "can_elicit"]

CONFIRM_DESCRIPTION = (
    "Only for hosts that cannot ask the user themselves. Leave false (default) on the first call: the tool "
    "then answers with what it would do. Show that to the user, and only if they agree call again with the "
    "same arguments and confirm=true. Ignored when the host asks the user directly."
)


class Confirmation(BaseModel):
    """The form the host shows the user."""

    confirm: bool = Field(description="Go ahead")


class Unasked(BaseModel):
    """The host cannot ask the user; the tool falls back to the `confirm` argument."""

    question: str
    fingerprint: str


def can_elicit(ctx: Context[Any, Any]) -> bool:
    """True when the client declared form elicitation (a bare `elicitation: {}` counts as form)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


class Confirmer:
    """Remembers which actions were shown to the model, so `confirm=true` only works after showing them."""

    def __init__(self, remember: int = 256) -> None:
        self._shown: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def ask(self, ctx: Context[Any, Any], question: str, *, fingerprint: str) -> Elicit[Confirmation] | Unasked:
        """What a resolver returns: an elicitation when the host can ask, else the fallback marker.

        `fingerprint` must change whenever what the action would do changes (other recipients, new text).
        """
        if can_elicit(ctx):
            return Elicit(question, Confirmation)
        return Unasked(question=question, fingerprint=fingerprint)

    def require(self, outcome: ElicitationResult[Any], *, confirm: bool, action: str) -> None:
        """Return if the user approved `action`; otherwise raise a `ToolError` saying what happens next."""
        if not isinstance(outcome, AcceptedElicitation):
            answer = "declined" if outcome.action == "decline" else "cancelled"
            raise ToolError(f"The user {answer} the confirmation: did not {action}.")
        data = outcome.data
        if isinstance(data, Confirmation):
            if data.confirm:
                return
            raise ToolError(f"The user did not confirm: did not {action}.")
        if not isinstance(data, Unasked):
            raise TypeError(f"unexpected confirmation outcome {type(data).__name__}")
        if confirm and data.fingerprint in self._shown:
            del self._shown[data.fingerprint]
            return
        self._shown[data.fingerprint] = None
        while len(self._shown) > self._remember:
            self._shown.popitem(last=False)
        raise ToolError(
            f"Not done: confirmation needed. {data.question}\n"
            "Show this to the user. Only if they agree, call the tool again with the same arguments and "
            "confirm=true."
        )
