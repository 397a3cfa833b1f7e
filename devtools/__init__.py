"""Development tooling: evaluation and training helpers for benchmarks and tests, not imported at runtime."""

__all__ = []
