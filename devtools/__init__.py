"""Tooling that is not part of a running engine or server: generated models, the embedded default's real
model, router evaluation. The CLI and benchmarks import it; `variet engine serve` never does."""

__all__: list[str] = []
