"""What every Variet MCP server shares: the runner, tool argument types and error translation (`tools`), the
service classes' exception tree (`errors`), bounded tier loads (`swaps`), MCP progress and annotations for the
engine-driving tools (`engine_tools`), confirmation by elicitation, and the untrusted-content fence."""
