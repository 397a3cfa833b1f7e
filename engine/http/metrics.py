"""The engine's `/metrics` in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Callable

from variet.engine.core import Engine
from variet.engine.prompts.cache import PromptCache

__all__ = ["render_metrics"]

PerTier = tuple[str, str, str, Callable[[str], float | None]]
"""A metric with a value per tier: its name, type, help text, and its value for a tier (None: not known yet)."""


def render_metrics(engine: Engine) -> str:
    lines = _engine_totals(engine)
    per_tier = _tier_metrics(engine)
    cache = engine.prompt_cache
    if cache is not None:
        per_tier += _prompt_cache_metrics(engine, cache)
    if engine.peers.all:
        lines += ["# HELP variet_peer_up Whether a peer engine answers.", "# TYPE variet_peer_up gauge"]
        lines += [f'variet_peer_up{{peer="{peer.name}"}} {int(peer.view.up)}' for peer in engine.peers.all]
    lines += _per_tier_lines(per_tier, list(engine.catalogue.tiers))
    if cache is not None:
        lines += _prompt_cache_totals(cache, list(engine.catalogue.tiers))
    return "\n".join(lines) + "\n"


def _engine_totals(engine: Engine) -> list[str]:
    swaps, failed = engine.swap_totals()
    return [
        "# HELP variet_swaps_total Completed tier swaps.",
        "# TYPE variet_swaps_total counter",
        f"variet_swaps_total {swaps}",
        "# HELP variet_swap_failures_total Failed tier swaps.",
        "# TYPE variet_swap_failures_total counter",
        f"variet_swap_failures_total {failed}",
        "# HELP variet_backend_up Whether llama-server is running.",
        "# TYPE variet_backend_up gauge",
        f"variet_backend_up {int(engine.backend.up)}",
        "# HELP variet_backend_restarts_total llama-server restarts after a crash.",
        "# TYPE variet_backend_restarts_total counter",
        f"variet_backend_restarts_total {engine.backend.restarts}",
    ]


def _tier_metrics(engine: Engine) -> list[PerTier]:
    scheduler, stats = engine.scheduler, engine.stats
    return [
        ("variet_tier_loaded", "gauge", "1 for a loaded tier (the swapping one or a resident).",
         lambda t: float(scheduler.is_loaded(t))),
        ("variet_tier_resident", "gauge", "1 for a resident tier (stays loaded beside the swapping one).",
         lambda t: float(engine.is_resident(t))),
        ("variet_queue_depth", "gauge", "Requests waiting for a tier.", lambda t: scheduler.queued(t)),
        ("variet_in_flight", "gauge", "Requests running on a tier.", lambda t: scheduler.in_flight(t)),
        ("variet_requests_total", "counter", "Requests per tier.", lambda t: stats[t].requests),
        ("variet_request_errors_total", "counter", "Failed requests per tier.", lambda t: stats[t].errors),
        ("variet_generated_tokens_total", "counter", "Tokens generated per tier.", lambda t: stats[t].tokens),
        ("variet_decode_tokens_per_second", "gauge", "Measured decode speed per tier.",
         lambda t: stats[t].tokens_per_second),
        ("variet_last_swap_seconds", "gauge", "Duration of the last swap to a tier.",
         lambda t: swap.seconds if (swap := engine.last_swap(t)) else None),
    ]


def _prompt_cache_metrics(engine: Engine, cache: PromptCache) -> list[PerTier]:
    counts = cache.counts
    return [
        ("variet_prompt_cache_saves_total", "counter", "Prompt prefixes saved before a swap.",
         lambda t: counts[t].saves),
        ("variet_prompt_cache_restores_total", "counter", "Prompt prefixes restored after a swap.",
         lambda t: counts[t].restores),
        ("variet_prompt_cache_saved_bytes_total", "counter", "Bytes of prompt caches saved.",
         lambda t: counts[t].saved_bytes),
        ("variet_prompt_cache_restored_bytes_total", "counter", "Bytes of prompt caches restored.",
         lambda t: counts[t].restored_bytes),
        ("variet_prompt_cache_restored_tokens_total", "counter", "Prompt tokens restored instead of processed.",
         lambda t: counts[t].restored_tokens),
        ("variet_prompt_cache_unused_restores_total", "counter",
         "Restores whose tokens llama-server then mostly did not reuse.", lambda t: counts[t].unused_restores),
        ("variet_prompt_cache_bytes", "gauge", "Disk space of a tier's saved prompt caches.",
         lambda t: sum(e.bytes for e in cache.entries(t))),
        ("variet_prompt_cache_prefixes", "gauge", "Prompt prefixes saved on disk for a tier.",
         lambda t: len(cache.entries(t))),
        ("variet_prompt_tokens_per_second", "gauge", "Measured prompt processing speed per tier.",
         lambda t: engine.stats[t].prompt_tokens_per_second),
    ]


def _per_tier_lines(metrics: list[PerTier], tiers: list[str]) -> list[str]:
    lines = []
    for metric, kind, help_text, value in metrics:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for tier in tiers:
            number = value(tier)
            if number is not None:
                lines.append(f'{metric}{{tier="{tier}"}} {float(number):g}')
    return lines


def _prompt_cache_totals(cache: PromptCache, tiers: list[str]) -> list[str]:
    lines = ["# HELP variet_prompt_cache_skips_total Prompt cache saves and restores skipped, by reason.",
             "# TYPE variet_prompt_cache_skips_total counter"]
    for tier in tiers:
        for (action, reason), count in sorted(cache.counts[tier].skips.items()):
            lines.append(f'variet_prompt_cache_skips_total{{tier="{tier}",action="{action}",reason="{reason}"}} '
                         f"{count}")
    lines += ["# HELP variet_prompt_cache_evictions_total Prompt caches removed to stay under the cap.",
              "# TYPE variet_prompt_cache_evictions_total counter",
              f"variet_prompt_cache_evictions_total {cache.evictions}"]
    return lines
