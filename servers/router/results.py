"""What the router tools return: typed results, so hosts get structured output with a schema."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = [
    "NeedModelSummary",
    "PolicyCosts",
    "PolicyExplanation",
    "PolicySettings",
    "Route",
    "TaskResult",
    "TierSummary",
]


class Route(BaseModel):
    tier: str
    confidence: float
    """Calibrated probability that `tier` is adequate for the task."""
    reasons: list[str]
    domain: str
    difficulty: str
    loaded_tier: str | None
    needs_swap: bool
    swap_seconds: float
    """Expected cost of the swap (0 when the tier is loaded)."""
    expected_seconds: float
    """Expected swap plus generation time."""
    adequate_tiers: list[str]
    """Tiers more likely adequate than not, cheapest first."""
    adequacy: dict[str, float]
    """Each tier's model probability of being adequate for the task."""


class TaskResult(BaseModel):
    answer: str
    tier: str
    reasons: list[str]
    swapped: bool
    swap_seconds: float | None
    """How long the engine's swap took, when this task caused one."""
    swap_wait_seconds: float
    time_to_first_token_seconds: float | None
    tokens_per_second: float | None
    completion_tokens: int | None
    total_seconds: float


class TierSummary(BaseModel):
    """A tier as the policy weighs it."""

    name: str
    strengths: list[str]
    tokens_per_second: float
    load_seconds: float
    context: int
    description: str


class PolicySettings(BaseModel):
    """The `[router]` settings in force."""

    pinned_tier: str | None
    stay_margin: float
    expected_output_tokens: int


class PolicyCosts(BaseModel):
    """The costs the policy weighs a tier's outcomes by, and its tolerances."""

    under_provisioned: float
    wrong_specialty: float
    over_provisioned: float
    quality_slack: float
    stay_tolerance: float


class NeedModelSummary(BaseModel):
    """The learned model that predicts a task's needs, with its cross-validated figures and their limits."""

    kind: str
    trained_on: list[str] | None = None
    tasks: int | None = None
    features: int
    cross_validated: dict[str, float | dict[str, float]] | None = None
    """Shares of held-out tasks routed adequately, under, over, to the wrong specialty; swaps per 100 tasks."""
    limits: list[str]


class PolicyExplanation(BaseModel):
    """The routing policy (`explain_policy`): tiers, needs, settings, costs and the model."""

    tiers: list[TierSummary]
    loaded_tier: str | None
    domains: list[str]
    difficulties: list[str]
    needs: dict[str, list[str]]
    """Each need the model tells apart, with the tiers adequate for it."""
    settings: PolicySettings
    costs: PolicyCosts
    output_tokens: dict[str, dict[str, int]]
    """Expected answer length by difficulty, then domain."""
    model: NeedModelSummary
    rules: list[str]
