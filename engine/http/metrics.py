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
        ("variet_tier_loaded", "gauge", "1 for a loaded tier (the swapping one or a resident).",
         lambda t: float(scheduler.is_loaded(t))),
        ("variet_tier_resident", "gauge", "1 for a resident tier (stays loaded beside the swapping one).",
         lambda t: float(scheduler.is_resident(t))),
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
    cache = engine.prompt_cache
    if cache is not None:
        per_tier += [
            ("variet_prompt_cache_saves_total", "counter", "Prompt prefixes saved before a swap.",
             lambda t: cache.counts[t].saves),
            ("variet_prompt_cache_restores_total", "counter", "Prompt prefixes restored after a swap.",
             lambda t: cache.counts[t].restores),
            ("variet_prompt_cache_saved_bytes_total", "counter", "Bytes of prompt caches saved.",
             lambda t: cache.counts[t].saved_bytes),
            ("variet_prompt_cache_restored_bytes_total", "counter", "Bytes of prompt caches restored.",
             lambda t: cache.counts[t].restored_bytes),
            ("variet_prompt_cache_restored_tokens_total", "counter", "Prompt tokens restored instead of processed.",
             lambda t: cache.counts[t].restored_tokens),
            ("variet_prompt_cache_unused_restores_total", "counter",
             "Restores whose tokens llama-server then mostly did not reuse.",
             lambda t: cache.counts[t].unused_restores),
            ("variet_prompt_cache_bytes", "gauge", "Disk space of a tier's saved prompt caches.",
             lambda t: sum(e.bytes for e in cache.entries(t))),
            ("variet_prompt_cache_prefixes", "gauge", "Prompt prefixes saved on disk for a tier.",
             lambda t: len(cache.entries(t))),
            ("variet_prompt_tokens_per_second", "gauge", "Measured prompt processing speed per tier.",
             lambda t: engine.stats[t].prompt_tokens_per_second),
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
    if cache is not None:
        lines += ["# HELP variet_prompt_cache_skips_total Prompt cache saves and restores skipped, by reason.",
                  "# TYPE variet_prompt_cache_skips_total counter"]
        for tier in engine.catalogue.tiers:
            for (action, reason), count in sorted(cache.counts[tier].skips.items()):
                lines.append(f'variet_prompt_cache_skips_total{{tier="{tier}",action="{action}",reason="{reason}"}} '
                             f"{count}")
        lines += ["# HELP variet_prompt_cache_evictions_total Prompt caches removed to stay under the cap.",
                  "# TYPE variet_prompt_cache_evictions_total counter",
                  f"variet_prompt_cache_evictions_total {cache.evictions}"]
    return "\n".join(lines) + "\n"
