"""Tier routing over MCP: recommend a tier for a task, or route and run it on the engine."""
