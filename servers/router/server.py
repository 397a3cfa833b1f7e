"""`variet-router`: pick a tier for a task (swap-aware), or pick one and run the task on it.

Tools are thin: they call `RouterService`, and `tool_errors` turns its failures into `ToolError`s.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from variet.servers.kit.engine_tools import GENERATE, READ_ONLY, progress_reporter
from variet.servers.kit.runner import service_lifespan
from variet.servers.kit.tools import MaxTokens, Temperature, tool_errors
from variet.servers.router.results import PolicyExplanation, Route, TaskResult
from variet.servers.router.service import RouterService
from variet.shared.config import Settings
from variet.shared.engine_client import EngineClient

__all__ = ["build", "create_server"]

INSTRUCTIONS = (
    "Picks the Variet tier for a task by its complexity and the cost of swapping tiers. route_task only "
    "advises; run_task routes, loads the tier if needed and returns the answer."
)


def create_server(settings: Settings, *, engine: EngineClient | None = None) -> MCPServer[RouterService]:
    """The router server; `engine` is injectable for tests (default: from settings)."""
    service = RouterService(engine or EngineClient.from_settings(settings), router=settings.router,
                            load_wait=settings.mcp.load_wait_seconds, local_tiers=settings.tiers)
    server: MCPServer[RouterService] = MCPServer(
        "variet-router", instructions=INSTRUCTIONS, lifespan=service_lifespan(service, owned=engine is None),
    )

    @server.tool(annotations=READ_ONLY)
    async def route_task(
        task: Annotated[str, Field(description="The task or user request to route, as text.")],
    ) -> Route:
        """Recommend a tier for a task, with reasons, the loaded tier and what a swap would cost. Changes nothing."""
        with tool_errors():
            return await service.route(task)

    @server.tool(annotations=GENERATE)
    async def run_task(
        task: Annotated[str, Field(description="The task to answer, as the user would ask it.")],
        ctx: Context[Any, Any],
        tier: Annotated[str | None, Field(description="Run on this tier (a name list_tiers or explain_policy shows) "
                                                      "instead of routing; default: route.")] = None,
        max_tokens: MaxTokens = 1024,
        temperature: Temperature = 0.7,
    ) -> TaskResult:
        """Route the task (or use `tier`), load that tier with a bounded wait and progress, and return the answer
        with the tier, the reasons and timings (max_tokens default 1024). If the swap outlasts the wait, call again."""
        with tool_errors():
            return await service.run(task, tier=tier, max_tokens=max_tokens, temperature=temperature,
                                     progress=progress_reporter(ctx))

    @server.tool(name="explain_policy", annotations=READ_ONLY)
    async def explain() -> PolicyExplanation:
        """Describe the routing policy: the tiers with strengths, speeds and load times, the settings in force, the
        needs the model tells apart and the costs it weighs, and the model with its cross-validated figures and
        their limits."""
        with tool_errors():
            return await service.explain()

    return server


def build(settings: Settings) -> MCPServer[RouterService]:
    return create_server(settings)
