"""What every Variet MCP server shares: the runner, tool argument types and error translation, engine calls,
confirmation by elicitation, and the untrusted-content fence."""
