/** The engine's status as text, for the "Show the engine's status" command. */

import type { EngineStatus } from "./contract";

export function statusReport(status: EngineStatus, url: string): string {
  const lines = [
    `Variet engine ${status.version ?? ""} at ${url}`.replace("  ", " "),
    `state: ${status.state}   loaded: ${status.loaded ?? "none"}   up ${Math.round(status.uptime_seconds)} s`,
    `requests: ${status.in_flight} running, ${status.queued} waiting   swaps: ${status.swaps} (${status.failed_swaps} failed)`,
    `llama-server: ${status.backend.up ? "up" : "DOWN"} at ${status.backend.url}, ${status.backend.restarts} restarts`,
  ];
  if (status.swapping) {
    const { tier, elapsed_seconds: elapsed, expected_seconds: expected } = status.swapping;
    lines.push(`swapping to ${tier}: ${elapsed.toFixed(1)} s of ~${expected.toFixed(0)} s`);
  }
  lines.push("", "tier          loaded  queued  running  tok/s (measured)  load s  requests  errors  last swap");
  for (const [name, tier] of Object.entries(status.tiers)) {
    const speed = `${tier.expected_tokens_per_second.toFixed(0)} (${tier.measured_tokens_per_second?.toFixed(1) ?? "-"})`;
    const swap = tier.last_swap
      ? `${tier.last_swap.ok ? "ok" : "FAILED"} ${tier.last_swap.seconds.toFixed(1)} s${tier.last_swap.error ? `: ${tier.last_swap.error}` : ""}`
      : "-";
    lines.push([
      name.padEnd(13), (tier.loaded ? "yes" : "").padEnd(7), String(tier.queued).padEnd(7), String(tier.in_flight).padEnd(8),
      speed.padEnd(17), tier.expected_load_seconds.toFixed(0).padEnd(7), String(tier.requests).padEnd(9),
      String(tier.errors ?? 0).padEnd(7), swap,
    ].join(" ").trimEnd());
    if (!tier.model_file_present) lines.push(`              model file missing: ${tier.model_file ?? ""}`);
  }
  return lines.join("\n");
}
