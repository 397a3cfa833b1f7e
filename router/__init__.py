"""The tier router: a pure policy that picks the cheapest adequate tier for a task, swap-aware.

`route(task, loaded_tier=..., context=..., hints=..., tiers=...)` returns a `RouteDecision`;
`explain_policy()` describes tiers, strengths, settings and the cost model. No I/O per call: the
packaged tier catalogue is read once when no catalogue is passed.
"""

from variet.router.assessment import DIFFICULTIES, DOMAINS, Assessment, assess
from variet.router.policy import RouteDecision, RouteHints, default_tiers, explain_policy, route
from variet.router.signals import Conversation, Signals, read_signals

__all__ = [
    "DIFFICULTIES",
    "DOMAINS",
    "Assessment",
    "Conversation",
    "RouteDecision",
    "RouteHints",
    "Signals",
    "assess",
    "default_tiers",
    "explain_policy",
    "read_signals",
    "route",
]
