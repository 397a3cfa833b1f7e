/**
 * The engine's `/v1/models` as VS Code chat models: every tier and `auto`, with the limits and tool calling
 * the engine's contract states for each tier.
 *
 * A tier's context holds prompt and answer together, so the answer's budget is taken out of it:
 * `maxOutputTokens` is the tier's `max_output_tokens` capped at a quarter of its context and at
 * `OUTPUT_CAP`, and `maxInputTokens` is the rest. `auto` may be routed to any tier, so it gets the smallest
 * limits of them all and calls tools only if every tier does.
 */

import type { EngineEvent, EngineStatus, ModelEntry, ModelList, TierFacts } from "./contract";

/** The longest answer offered to VS Code, whatever a tier could give: it still fits beside a long prompt. */
export const OUTPUT_CAP = 8192;
export const AUTO = "auto";

/** The fields of VS Code's `LanguageModelChatInformation`, as plain data. */
export interface ModelInfo {
  id: string;
  name: string;
  family: string;
  version: string;
  tooltip: string;
  detail: string;
  maxInputTokens: number;
  maxOutputTokens: number;
  capabilities: { toolCalling: boolean; imageInput: boolean };
}

interface Limits {
  context: number;
  output: number;
  tools: boolean;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return !trimmed || /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function limits(facts: TierFacts): Limits {
  const output = Math.min(facts.max_output_tokens || facts.context, Math.floor(facts.context / 4), OUTPUT_CAP);
  return { context: facts.context, output, tools: facts.tool_calling ?? true };
}

/** The models to offer, `auto` first; `loaded` (the engine's loaded tier) is marked in each entry's detail. */
export function modelInfos(list: ModelList, loaded: string | null | undefined): ModelInfo[] {
  const tiers = list.data.filter((entry): entry is ModelEntry & { tier: TierFacts } => !!entry.tier);
  const infos: ModelInfo[] = [];
  const auto = list.data.find((entry) => entry.id === AUTO && !entry.tier);
  if (auto && tiers.length > 0) {
    const all = tiers.map((entry) => limits(entry.tier));
    const context = Math.min(...all.map((l) => l.context));
    const output = Math.min(...all.map((l) => l.output));
    infos.push({
      id: AUTO,
      name: "Variet auto",
      family: "variet",
      version: AUTO,
      tooltip: auto.description || "The engine's router picks the tier for each request, weighing a swap's cost.",
      detail: loaded ? `router · ${loaded} loaded` : "router",
      maxInputTokens: context - output,
      maxOutputTokens: output,
      capabilities: { toolCalling: all.every((l) => l.tools), imageInput: false },
    });
  }
  for (const entry of tiers) {
    const facts = entry.tier;
    const { context, output, tools } = limits(facts);
    const speed = `~${Math.round(facts.expected_tokens_per_second)} tok/s`;
    const load = facts.expected_load_seconds < 1 ? "<1 s" : `~${Math.round(facts.expected_load_seconds)} s`;
    const isLoaded = entry.id === loaded || (facts.resident === true && entry.loaded === true);
    const box = entry.box && entry.box !== "local" ? entry.box : undefined; // a peer engine serves it
    infos.push({
      id: entry.id,
      name: `Variet ${entry.id}`,
      family: "variet",
      version: facts.model_file,
      // Hovers render this as one paragraph: sentences, not lines.
      tooltip: [
        sentence(entry.description ?? ""),
        `${facts.model_file}: ${context} tokens of context, ${speed}.`,
        facts.strengths.length ? `Good at ${facts.strengths.join(", ")}.` : "",
        box ? `Runs on the peer engine ${box}${entry.box_up === false ? ", which does not answer now" : ""}.` : "",
        isLoaded ? "Loaded now." : `Not loaded: a request waits ${load} for the swap.`,
      ].filter(Boolean).join(" "),
      detail: box && entry.box_up === false ? `${box} down`
        : `${facts.resident ? "resident" : isLoaded ? "loaded" : `swap ${load}`} · ${speed}${box ? ` · on ${box}` : ""}`,
      maxInputTokens: context - output,
      maxOutputTokens: output,
      capabilities: { toolCalling: tools, imageInput: false },
    });
  }
  return infos;
}

/**
 * The events after which the picker may read differently: a tier loaded or gone (a swap, an unload, a tier's
 * process exiting, llama-server going down or back), or a peer engine up, down or loading another tier.
 */
const PICKER_EVENTS: ReadonlySet<EngineEvent["event"]> = new Set<EngineEvent["event"]>([
  "subscribed", "swap_started", "swap_done", "swap_failed", "unloaded", "tier_exited", "backend_down",
  "backend_up", "peer_up", "peer_down", "peer_loaded", "resident_loaded", "resident_failed",
]);

/** What of a status the picker shows: the tiers, which are loaded, and whether their boxes answer. */
function pickerFacts(status: EngineStatus): string {
  const tiers = Object.entries(status.tiers).sort(([a], [b]) => a.localeCompare(b))
    .map(([name, tier]) => [name, tier.loaded, tier.box_up ?? true]);
  return JSON.stringify([status.loaded, status.residents_loaded ?? [], tiers]);
}

/**
 * Says when to refresh the model picker. Events are the source: one that can change a model's entry asks for
 * a refresh. Status polls repair what a missed event would leave stale: a poll whose loaded tiers or boxes
 * differ from the previous poll's asks for one too (at worst one refresh more than needed).
 */
export class ModelsWatch {
  private seen: string | undefined;

  /** Whether the picker must be refreshed after `event`. */
  event(event: EngineEvent): boolean {
    if (event.event === "subscribed") this.seen = pickerFacts(event.status);
    return PICKER_EVENTS.has(event.event);
  }

  /** Whether the picker must be refreshed after a status poll. */
  status(status: EngineStatus): boolean {
    const facts = pickerFacts(status);
    const changed = this.seen !== undefined && facts !== this.seen;
    this.seen = facts;
    return changed;
  }

  /** Forget what was seen (a new connection). */
  reset(): void {
    this.seen = undefined;
  }
}
