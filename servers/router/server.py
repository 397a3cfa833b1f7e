"""`variet-router`: pick a tier for a task (swap-aware), or pick one and run the task on it.

The policy is `variet.router.route`, pure; this module feeds it the engine's live state. The tier facts
(strengths, speeds, load times) come from the engine's `/v1/models`, so the router weighs the tiers the
engine really serves; without an engine it falls back to the local tier catalogue.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from variet.contract import ModelList
from variet.router import RouteDecision, explain_policy, route
from variet.servers.kit.engine_tools import READ_ONLY, engine_call, load_within_wait, progress_reporter
from variet.servers.kit.runner import service_lifespan
from variet.servers.kit.tools import MaxTokens, Temperature
from variet.shared.config import Settings
from variet.shared.engine_client import EngineClient
from variet.shared.errors import EngineError, EngineUnreachable
from variet.shared.tiers import Tier, TierCatalogue

__all__ = ["build", "create_server"]

RUN = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


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


def catalogue_from_models(models: ModelList) -> TierCatalogue:
    """The engine's tiers as a catalogue the policy can weigh (no model files needed)."""
    tiers = {}
    for model in models.tiers:
        facts = model.tier
        assert facts is not None
        tiers[model.id] = Tier(
            model=facts.model_file or f"{model.id}.gguf",
            aliases=tuple(model.aliases),
            context=facts.context,
            gpus=tuple(facts.gpus),
            tokens_per_second=facts.expected_tokens_per_second,
            load_seconds=facts.expected_load_seconds,
            strengths=tuple(facts.strengths),
            description=model.description,
        )
    return TierCatalogue(tiers=tiers)


def create_server(settings: Settings, *, engine: EngineClient | None = None) -> MCPServer[EngineClient]:
    """The router server; `engine` is injectable for tests (default: from settings)."""
    client = engine or EngineClient.from_settings(settings)
    server: MCPServer[EngineClient] = MCPServer(
        "variet-router",
        instructions=(
            "Picks the Variet tier for a task by its complexity and the cost of swapping tiers. route_task only "
            "advises; run_task routes, loads the tier if needed and returns the answer."
        ),
        lifespan=service_lifespan(client, owned=engine is None),
    )

    async def live_state() -> tuple[TierCatalogue, str | None]:
        try:
            catalogue = catalogue_from_models(await client.models())
            status = await client.status()
        except EngineUnreachable:
            return settings.tiers(), None
        except EngineError as exc:
            raise ToolError(str(exc)) from exc
        return catalogue, status.busy_tier

    def decide(task: str, catalogue: TierCatalogue, loaded: str | None, pinned: str | None) -> RouteDecision:
        if not task.strip():
            raise ToolError("task is empty: pass the user's request as text")
        hints = {"pinned_tier": pinned or settings.router.pinned_tier, "stay_margin": settings.router.stay_margin,
                 "expected_output_tokens": settings.router.expected_output_tokens}
        try:
            return route(task, loaded_tier=loaded, hints=hints, tiers=catalogue)
        except ValueError as exc:
            raise ToolError(str(exc)) from exc

    def as_route(decision: RouteDecision, catalogue: TierCatalogue, loaded: str | None) -> Route:
        swap = 0.0 if not decision.needs_swap else catalogue.tiers[decision.tier].load_seconds
        return Route(
            tier=decision.tier, confidence=round(decision.confidence, 2), reasons=list(decision.reasons),
            domain=decision.domain, difficulty=decision.difficulty, loaded_tier=loaded,
            needs_swap=decision.needs_swap, swap_seconds=swap, expected_seconds=round(decision.expected_seconds, 2),
            adequate_tiers=list(decision.adequate), adequacy={tier: round(p, 3) for tier, p in decision.adequacy},
        )

    @server.tool(annotations=READ_ONLY)
    async def route_task(
        task: Annotated[str, Field(description="The task or user request to route, as text.")],
    ) -> Route:
        """Recommend a tier for a task, with reasons, the loaded tier and what a swap would cost. Changes nothing."""
        catalogue, loaded = await live_state()
        return as_route(decide(task, catalogue, loaded, None), catalogue, loaded)

    @server.tool(annotations=RUN)
    async def run_task(
        task: Annotated[str, Field(description="The task to answer, as the user would ask it.")],
        ctx: Context[Any, Any],
        tier: Annotated[str | None, Field(description="Run on this tier instead of routing (default: route).")] = None,
        max_tokens: MaxTokens = 1024,
        temperature: Temperature = 0.7,
    ) -> TaskResult:
        """Route the task (or use `tier`), load that tier with a bounded wait and progress, and return the answer
        with the tier, the reasons and timings (max_tokens default 1024). If the swap outlasts the wait, call again."""
        catalogue, loaded = await live_state()
        decision = decide(task, catalogue, loaded, tier)

        wait = await load_within_wait(client, decision.tier, wait=settings.mcp.load_wait_seconds, ctx=ctx,
                                      again="call run_task again")
        completion = await engine_call(client.chat(
            [{"role": "user", "content": task}], tier=decision.tier, max_tokens=max_tokens, temperature=temperature,
            progress=progress_reporter(ctx),
        ))
        return TaskResult(
            answer=completion.text, tier=completion.tier, reasons=list(decision.reasons),
            swapped=decision.tier != loaded, swap_seconds=wait.swap_seconds,
            swap_wait_seconds=round(wait.waited_seconds, 3),
            time_to_first_token_seconds=completion.time_to_first_token,
            tokens_per_second=completion.tokens_per_second, completion_tokens=completion.completion_tokens,
            total_seconds=completion.seconds,
        )

    @server.tool(name="explain_policy", annotations=READ_ONLY)
    async def explain() -> dict[str, Any]:
        """Describe the routing policy: the tiers with strengths, speeds and load times, the settings in force, the
        needs the model tells apart and the costs it weighs, and the model with its cross-validated figures and
        their limits."""
        catalogue, loaded = await live_state()
        policy = explain_policy(catalogue, settings.router)
        policy["loaded_tier"] = loaded
        return policy

    return server


def build(settings: Settings) -> MCPServer[EngineClient]:
    return create_server(settings)
