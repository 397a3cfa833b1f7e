"""Inference control over MCP: tiers, swaps and completions on the Variet engine."""
