"""The tier router: a pure policy that picks the tier most likely to do a task, going up when unsure, swap-aware.

`route(task, loaded_tier=..., context=..., hints=..., tiers=..., model=...)` returns a `RouteDecision`;
`explain_policy()` describes tiers, needs, costs, settings and the learned model with its cross-validated
figures. No I/O per call: the packaged tier catalogue and need model are read once, on first use.
"""

from variet.router.assessment import DIFFICULTIES, DOMAINS, Assessment, assess
from variet.router.model import NEEDS, Need, TierModel, default_model
from variet.router.policy import RouteDecision, RouteHints, default_tiers, explain_policy, route
from variet.router.signals import Conversation, Signals, read_signals

__all__ = [
    "DIFFICULTIES",
    "DOMAINS",
    "NEEDS",
    "Assessment",
    "Conversation",
    "Need",
    "RouteDecision",
    "RouteHints",
    "Signals",
    "TierModel",
    "assess",
    "default_model",
    "default_tiers",
    "explain_policy",
    "read_signals",
    "route",
]
