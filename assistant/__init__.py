"""The Discord assistant (`variet discord`): a discord.py bot on Machine B that is an MCP host.

It starts the Variet MCP servers it uses, offers their tools to the engine's model, runs the model's tool
calls, turns MCP elicitation into owner-only Approve / Cancel buttons, and streams answers into Discord
with the tier, speed and any swap in a footer. `Assistant` runs it; `main` is the `variet-discord` script.
"""

from variet.assistant.app import Assistant, run_assistant

__all__ = ["Assistant", "run_assistant"]
