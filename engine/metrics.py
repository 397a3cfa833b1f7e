"""The engine's `/metrics` in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Callable

from variet.engine.core import Engine

__all__ = ["render_metrics"]


def render_metrics(engine: Engine) -> str:
    scheduler = engine.scheduler
    lines = [
        "# HELP variet_swaps_total Completed tier swaps.",
        "# TYPE variet_swaps_total counter",
        f"variet_swaps_total {scheduler.stats.swaps}",
        "# HELP variet_swap_failures_total Failed tier swaps.",
        "# TYPE variet_swap_failures_total counter",
        f"variet_swap_failures_total {scheduler.stats.failed_swaps}",
        "# HELP variet_backend_up Whether llama-server is running.",
        "# TYPE variet_backend_up gauge",
        f"variet_backend_up {int(engine.backend.up)}",
        "# HELP variet_backend_restarts_total llama-server restarts after a crash.",
        "# TYPE variet_backend_restarts_total counter",
        f"variet_backend_restarts_total {engine.backend.restarts}",
    ]
    per_tier: list[tuple[str, str, str, Callable[[str], float | None]]] = [
        ("variet_tier_loaded", "gauge", "1 for the loaded tier.", lambda t: float(scheduler.loaded == t)),
        ("variet_queue_depth", "gauge", "Requests waiting for a tier.", lambda t: scheduler.queued(t)),
        ("variet_in_flight", "gauge", "Requests running on a tier.", lambda t: scheduler.in_flight(t)),
        ("variet_requests_total", "counter", "Requests per tier.", lambda t: engine.stats[t].requests),
        ("variet_request_errors_total", "counter", "Failed requests per tier.", lambda t: engine.stats[t].errors),
        ("variet_generated_tokens_total", "counter", "Tokens generated per tier.", lambda t: engine.stats[t].tokens),
        ("variet_decode_tokens_per_second", "gauge", "Measured decode speed per tier.",
         lambda t: engine.stats[t].tokens_per_second),
        ("variet_last_swap_seconds", "gauge", "Duration of the last swap to a tier.",
         lambda t: swap.seconds if (swap := scheduler.stats.last_swap.get(t)) else None),
    ]
    if engine.peers.all:
        lines += ["# HELP variet_peer_up Whether a peer engine answers.", "# TYPE variet_peer_up gauge"]
        lines += [f'variet_peer_up{{peer="{peer.name}"}} {int(peer.view.up)}' for peer in engine.peers.all]
    for metric, kind, help_text, value in per_tier:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for tier in engine.catalogue.tiers:
            number = value(tier)
            if number is not None:
                lines.append(f'{metric}{{tier="{tier}"}} {float(number):g}')
    return "\n".join(lines) + "\n"
