"""`RouterService`: route a task to a tier with the engine's live state, or route it and run it there.

A plain class (no MCP). The policy is `variet.router`, pure; it is imported on first use, because its need
model and signal code cost more start-up time than a server may add, and a host lists tools long before it
routes anything. The tier facts come from the engine's `/v1/models`, so the router weighs the tiers the
engine really serves (a peer engine's too); without an engine it falls back to the local tier catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from variet.servers.kit.errors import InvalidRequest
from variet.servers.kit.swaps import load_within_wait
from variet.servers.router.results import PolicyExplanation, Route, TaskResult
from variet.shared.errors import EngineUnreachable
from variet.shared.tiers import Tier, TierCatalogue

if TYPE_CHECKING:
    from collections.abc import Callable

    from variet.contract import ModelList
    from variet.router import RouteDecision
    from variet.shared.config import RouterSettings
    from variet.shared.engine_client import EngineClient, ProgressFn

__all__ = ["RouterService", "catalogue_from_models"]


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


class RouterService:
    """The router tools' work on one engine.

    `local_tiers` gives the catalogue to route over while the engine is unreachable; `load_wait` bounds how
    long `run` waits for a swap.
    """

    def __init__(self, engine: EngineClient, *, router: RouterSettings, load_wait: float,
                 local_tiers: Callable[[], TierCatalogue]) -> None:
        self.engine = engine
        self.router = router
        self.load_wait = load_wait
        self._local_tiers = local_tiers

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def route(self, task: str) -> Route:
        """Recommend a tier for `task`; changes nothing."""
        catalogue, loaded = await self._live_state()
        decision = self._decide(task, catalogue, loaded, None)
        swap = catalogue.tiers[decision.tier].load_seconds if decision.needs_swap else 0.0
        return Route(
            tier=decision.tier, confidence=round(decision.confidence, 2), reasons=list(decision.reasons),
            domain=decision.domain, difficulty=decision.difficulty, loaded_tier=loaded,
            needs_swap=decision.needs_swap, swap_seconds=swap, expected_seconds=round(decision.expected_seconds, 2),
            adequate_tiers=list(decision.adequate), adequacy={tier: round(p, 3) for tier, p in decision.adequacy},
        )

    async def run(self, task: str, *, tier: str | None, max_tokens: int, temperature: float,
                  progress: ProgressFn | None = None) -> TaskResult:
        """Route `task` (or use `tier`), load that tier within the wait, and answer it there."""
        catalogue, loaded = await self._live_state()
        decision = self._decide(task, catalogue, loaded, tier)
        wait = await load_within_wait(self.engine, decision.tier, wait=self.load_wait, progress=progress,
                                      again="call run_task again")
        completion = await self.engine.chat(
            [{"role": "user", "content": task}], tier=decision.tier, max_tokens=max_tokens, temperature=temperature,
            progress=progress,
        )
        return TaskResult(
            answer=completion.text, tier=completion.tier, reasons=list(decision.reasons),
            swapped=decision.tier != loaded, swap_seconds=wait.swap_seconds,
            swap_wait_seconds=round(wait.waited_seconds, 3),
            time_to_first_token_seconds=completion.time_to_first_token,
            tokens_per_second=completion.tokens_per_second, completion_tokens=completion.completion_tokens,
            total_seconds=completion.seconds,
        )

    async def explain(self) -> PolicyExplanation:
        """The policy over the tiers the engine serves, with the settings in force."""
        from variet.router import explain_policy

        catalogue, loaded = await self._live_state()
        policy: dict[str, Any] = explain_policy(catalogue, self.router)
        return PolicyExplanation.model_validate({**policy, "loaded_tier": loaded})

    async def _live_state(self) -> tuple[TierCatalogue, str | None]:
        try:
            catalogue = catalogue_from_models(await self.engine.models())
            status = await self.engine.status()
        except EngineUnreachable:
            return self._local_tiers(), None
        return catalogue, status.busy_tier

    def _decide(self, task: str, catalogue: TierCatalogue, loaded: str | None, pinned: str | None) -> RouteDecision:
        from variet.router import route

        if not task.strip():
            raise InvalidRequest("task is empty: pass the user's request as text")
        hints = {"pinned_tier": pinned or self.router.pinned_tier, "stay_margin": self.router.stay_margin,
                 "expected_output_tokens": self.router.expected_output_tokens}
        try:
            return route(task, loaded_tier=loaded, hints=hints, tiers=catalogue)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
