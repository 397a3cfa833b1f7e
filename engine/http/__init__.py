"""The engine's HTTP face: the Starlette app, the relay to llama-server, error answers, metrics, the dashboard."""
