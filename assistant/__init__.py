"""The Discord assistant (`variet discord`): a discord.py bot on Machine B that is an MCP host.

It starts the Variet MCP servers it uses, offers their tools to the engine's model, runs the model's tool
calls, turns MCP elicitation into owner-only Approve / Cancel buttons, and streams answers into Discord
with the tier, speed and any swap in a footer. `Assistant` runs it; `main` is the `variet-discord` script.

`Assistant` and `run_assistant` are imported on first use, so that reading `[discord]` settings
(`variet.assistant.settings`) loads neither discord.py nor the bot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from variet.assistant.app import Assistant, run_assistant

__all__ = ["Assistant", "run_assistant"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from variet.assistant import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
