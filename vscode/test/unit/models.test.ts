import assert from "node:assert/strict";
import { test } from "node:test";

import type { EngineEvent, EngineStatus, ModelEntry, ModelList, TierFacts } from "../../src/contract";
import { modelInfos, ModelsWatch, OUTPUT_CAP } from "../../src/models";

function facts(context: number, over: Partial<TierFacts> = {}): TierFacts {
  return { model_file: "m.gguf", context, max_output_tokens: context, tool_calling: true, gpus: [0], split: null,
           strengths: ["code"], expected_tokens_per_second: 16.4, expected_load_seconds: 25, ...over };
}

function entry(id: string, tier: TierFacts | null, over: Partial<ModelEntry> = {}): ModelEntry {
  return { id, object: "model", created: 0, description: `${id} tier`, tier, ...over };
}

const list: ModelList = { object: "list", data: [
  entry("fast", facts(65536)),
  entry("deep-logic", facts(16384, { max_output_tokens: 1024 })),
  entry("ultra", facts(131072, { tool_calling: false })),
  entry("auto", null),
] };

test("each tier's limits come from its context and output facts, the answer's budget taken out of the context", () => {
  const infos = Object.fromEntries(modelInfos(list, "fast").map((m) => [m.id, m]));
  assert.deepEqual([infos.fast!.maxInputTokens, infos.fast!.maxOutputTokens], [65536 - OUTPUT_CAP, OUTPUT_CAP]);
  assert.deepEqual([infos["deep-logic"]!.maxInputTokens, infos["deep-logic"]!.maxOutputTokens], [16384 - 1024, 1024]);
  assert.equal(infos.ultra!.capabilities.toolCalling, false);
  assert.equal(infos.fast!.capabilities.toolCalling, true);
});

test("auto comes first, with the smallest limits of all tiers and tools only if every tier takes them", () => {
  const [auto] = modelInfos(list, null);
  assert.equal(auto!.id, "auto");
  assert.equal(auto!.name, "Variet auto");
  assert.deepEqual([auto!.maxInputTokens, auto!.maxOutputTokens], [16384 - 1024, 1024]);
  assert.equal(auto!.capabilities.toolCalling, false);
});

test("the loaded tier says so; the others say how long a swap to them takes", () => {
  const infos = Object.fromEntries(modelInfos(list, "fast").map((m) => [m.id, m]));
  assert.equal(infos.fast!.detail, "loaded · ~16 tok/s");
  assert.equal(infos["deep-logic"]!.detail, "swap ~25 s · ~16 tok/s");
  assert.equal(infos["deep-logic"]!.tooltip, "deep-logic tier. m.gguf: 16384 tokens of context, ~16 tok/s. Good at code. " +
    "Not loaded: a request waits ~25 s for the swap.");
  const quick = modelInfos({ object: "list", data: [entry("fast", facts(8192, { expected_load_seconds: 0.4 }))] }, null);
  assert.equal(quick[0]!.detail, "swap <1 s · ~16 tok/s");
  assert.equal(infos.auto!.detail, "router · fast loaded");
});

test("an engine without a router lists no auto", () => {
  const ids = modelInfos({ object: "list", data: list.data.filter((e) => e.id !== "auto") }, null).map((m) => m.id);
  assert.deepEqual(ids, ["fast", "deep-logic", "ultra"]);
});

test("a tier a peer engine serves says where, and says so when that box does not answer", () => {
  const peers: ModelList = { object: "list", data: [
    entry("ultra", facts(131072, { expected_load_seconds: 40 }), { box: "box2", box_up: true }),
    entry("deep-logic", facts(32768), { box: "box2", box_up: false }),
    entry("fast", facts(65536), { box: "local" }),
  ] };
  const infos = Object.fromEntries(modelInfos(peers, "ultra").map((m) => [m.id, m]));
  assert.equal(infos.ultra!.detail, "loaded · ~16 tok/s · on box2");
  assert.equal(infos["deep-logic"]!.detail, "box2 down");
  assert.match(infos["deep-logic"]!.tooltip, /peer engine box2, which does not answer now/);
  assert.equal(infos.fast!.detail, "swap ~25 s · ~16 tok/s");
});

function status(loaded: string | null, tiers: Record<string, { loaded?: boolean; box?: string; box_up?: boolean }>): EngineStatus {
  const states = Object.fromEntries(Object.entries(tiers).map(([name, t]) => [name, {
    loaded: t.loaded ?? name === loaded, box: t.box ?? "local", box_up: t.box_up ?? true,
  }]));
  return { loaded, tiers: states } as unknown as EngineStatus;
}

function event(kind: EngineEvent["event"], extra: Record<string, unknown> = {}): EngineEvent {
  return { event: kind, time: 1, ...extra } as unknown as EngineEvent;
}

test("the picker refreshes when a peer goes down or up, a peer loads a tier, or a tier's process exits", () => {
  const watch = new ModelsWatch();
  watch.event(event("subscribed", { status: status("fast", { fast: {}, "box-b/coder": { box: "box-b" } }) }));
  assert.equal(watch.event(event("peer_down", { peer: "box-b", url: "http://b", error: "refused" })), true);
  assert.equal(watch.event(event("peer_up", { peer: "box-b", url: "http://b", loaded: null, tiers: [] })), true);
  assert.equal(watch.event(event("peer_loaded", { peer: "box-b", tier: "box-b/coder", previous: null })), true);
  assert.equal(watch.event(event("tier_exited", { tier: "fast", exit_code: 1 })), true);
  assert.equal(watch.event(event("backend_down", { exit_code: 9 })), true);
  assert.equal(watch.event(event("swap_done", { tier: "fast", previous: null, seconds: 1 })), true);
});

test("requests, routing and prompt-cache events leave the picker alone", () => {
  const watch = new ModelsWatch();
  for (const kind of ["request_done", "routed", "prompt_cache_saved", "prompt_cache_restored",
                      "prompt_cache_skipped"] as const) {
    assert.equal(watch.event(event(kind, { tier: "fast" })), false, kind);
  }
});

test("a status poll that shows what a missed event changed refreshes the picker once, an unchanged one never", () => {
  const watch = new ModelsWatch();
  const before = status("fast", { fast: {}, "box-b/coder": { box: "box-b" } });
  assert.equal(watch.event(event("subscribed", { status: before })), true);
  assert.equal(watch.status(before), false);
  const peerDown = status("fast", { fast: {}, "box-b/coder": { box: "box-b", box_up: false } });
  assert.equal(watch.status(peerDown), true);
  assert.equal(watch.status(peerDown), false);
  const exited = status(null, { fast: {}, "box-b/coder": { box: "box-b", box_up: false } });
  assert.equal(watch.status(exited), true);
  watch.reset();
  assert.equal(watch.status(before), false); // a new connection: its first poll is only the baseline
});
