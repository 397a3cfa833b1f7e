import assert from "node:assert/strict";
import { test } from "node:test";

import type { EngineStatus, TierState } from "../../src/contract";
import { EngineAuthFailed, EngineUnreachable } from "../../src/engine";
import { StatusBoard } from "../../src/status";

const URL = "http://127.0.0.1:8000";

function tier(loaded: boolean, load: number, queued = 0): TierState {
  return {
    loaded, queued, in_flight: 0, expected_tokens_per_second: 20, measured_tokens_per_second: null,
    expected_load_seconds: load, last_swap: null, requests: 0, model_file_present: true,
  };
}

function status(over: Partial<EngineStatus> = {}): EngineStatus {
  return {
    loaded: "fast", state: "ready", swapping: null, queued: 0, in_flight: 0, swaps: 1, failed_swaps: 0,
    backend: { url: "http://127.0.0.1:9000", up: true, restarts: 0, pid: 1 },
    tiers: { fast: tier(true, 8), "deep-logic": tier(false, 25) }, uptime_seconds: 10, ...over,
  };
}

test("connecting, then the loaded tier once subscribed", () => {
  const board = new StatusBoard(URL);
  assert.equal(board.view(0).text, "$(loading~spin) Variet");
  board.apply({ event: "subscribed", time: 5, status: status() }, 100);
  assert.equal(board.view(100).text, "$(server-process) Variet: fast");
  assert.equal(board.readyTier, "fast");
});

test("a swap counts its seconds on this machine's clock and shows what it expects", () => {
  const board = new StatusBoard(URL);
  board.apply({ event: "subscribed", time: 5, status: status() }, 100);
  // the engine's clock is an hour off: only the arrival time here counts
  board.apply({ event: "swap_started", time: 3700, tier: "deep-logic", previous: "fast", expected_seconds: 25 }, 200);
  const view = board.view(212.4);
  assert.equal(view.text, "$(sync~spin) loading deep-logic… 12 s / ~25 s");
  assert.deepEqual(view.swap, { tier: "deep-logic", elapsed: 12, expected: 25 });
  assert.equal(view.severity, "busy");
  assert.equal(board.readyTier, null);
  board.apply({ event: "swap_done", time: 3725, tier: "deep-logic", previous: "fast", seconds: 24 }, 224);
  assert.equal(board.view(224).text, "$(server-process) Variet: deep-logic");
});

test("a status poll in the middle of a swap starts its clock from the reported elapsed time", () => {
  const board = new StatusBoard(URL);
  board.refresh(status({ loaded: null, state: "swapping", swapping: { tier: "deep-logic", elapsed_seconds: 4, expected_seconds: 25 } }), 50);
  assert.match(board.view(56).text, /loading deep-logic… 10 s/);
});

test("queue depth comes from the last status and is shown after the tier", () => {
  const board = new StatusBoard(URL);
  board.refresh(status({ queued: 3 }), 0);
  assert.equal(board.view(0).text, "$(server-process) Variet: fast · 3 waiting");
  assert.match(board.view(0).tooltip, /0 running, 3 waiting/);
});

test("a request's expected wait: none on the ready tier, the rest of its swap, or the rest plus a load", () => {
  const board = new StatusBoard(URL);
  assert.equal(board.expectedWait("fast", 0), undefined);
  board.refresh(status(), 0);
  assert.equal(board.expectedWait("fast", 0), 0);
  assert.equal(board.expectedWait("deep-logic", 0), 25);
  board.apply({ event: "swap_started", time: 0, tier: "deep-logic", previous: "fast", expected_seconds: 25 }, 10);
  assert.equal(board.expectedWait("deep-logic", 20), 15);
  assert.equal(board.expectedWait("fast", 20), 15 + 8);
  assert.equal(board.expectedWait("unknown", 20), undefined);
});

test("a failed swap, an unload and llama-server going down each say so", () => {
  const board = new StatusBoard(URL);
  board.refresh(status(), 0);
  board.apply({ event: "swap_started", time: 0, tier: "deep-logic", previous: "fast" }, 1);
  assert.equal(board.view(3).text, "$(sync~spin) loading deep-logic… 2 s");
  board.apply({ event: "swap_failed", time: 0, tier: "deep-logic", error: "model file missing: fix models_dir" }, 4);
  const failed = board.view(4);
  assert.equal(failed.text, "$(warning) Variet: no tier · deep-logic failed");
  assert.match(failed.tooltip, /model file missing: fix models_dir/);
  board.refresh(status({ loaded: null, state: "idle" }), 5);
  assert.match(board.view(5).text, /deep-logic failed/, "a failure stays on show until the next swap");
  board.apply({ event: "swap_started", time: 0, tier: "fast", previous: null }, 5);
  board.apply({ event: "swap_done", time: 0, tier: "fast", previous: null, seconds: 1 }, 5);
  assert.equal(board.view(5).text, "$(server-process) Variet: fast");
  board.apply({ event: "unloaded", time: 0, tier: "fast" }, 6);
  assert.match(board.view(6).text, /no tier loaded/);
  board.apply({ event: "backend_down", time: 0, exit_code: 9 }, 7);
  assert.equal(board.view(7).text, "$(warning) Variet: llama-server down");
  board.apply({ event: "backend_up", time: 0, url: "u", pid: 2 }, 8);
  assert.match(board.view(8).text, /no tier loaded/);
});

test("an unreachable engine and a refused key are errors that say what to do", () => {
  const board = new StatusBoard(URL);
  board.refresh(status(), 0);
  board.failed(new EngineUnreachable("cannot reach the Variet engine at http://127.0.0.1:8000: ECONNREFUSED; check ..."));
  const unreachable = board.view(1);
  assert.equal(unreachable.text, "$(debug-disconnect) Variet: unreachable");
  assert.equal(unreachable.severity, "error");
  assert.match(unreachable.tooltip, /ECONNREFUSED/);
  assert.equal(board.readyTier, null);
  board.failed(new EngineAuthFailed("the Variet engine refused the API key"));
  assert.equal(board.view(2).text, "$(key) Variet: key refused");
  board.reset("http://other:8000");
  assert.equal(board.view(3).text, "$(loading~spin) Variet");
  assert.match(board.view(3).tooltip, /http:\/\/other:8000/);
});

test("a tier whose model exits, and peer engines going down and up, show in the text and the tooltip", () => {
  const board = new StatusBoard(URL);
  board.refresh(status({ peers: [{ name: "box2", url: "http://box2:8000", up: true, loaded: "ultra" }] }), 0);
  assert.match(board.view(0).tooltip, /Peer box2: up, ultra loaded/);
  board.apply({ event: "tier_exited", time: 0, tier: "fast", exit_code: 139, log_file: "/var/log/llama.log" }, 1);
  const exited = board.view(1);
  assert.equal(exited.text, "$(warning) Variet: no tier · fast exited");
  assert.match(exited.tooltip, /fast exited: its model instance exited \(code 139\).*\/var\/log\/llama.log/);
  board.apply({ event: "peer_down", time: 0, peer: "box2", url: "http://box2:8000", error: "connection refused" }, 2);
  assert.equal(board.view(2).text, "$(warning) Variet: no tier · fast exited · box2 down");
  assert.match(board.view(2).tooltip, /Peer box2: down \(connection refused\)/);
  board.apply({ event: "peer_up", time: 0, peer: "box2", url: "http://box2:8000", loaded: null, tiers: ["ultra"] }, 3);
  board.apply({ event: "peer_loaded", time: 0, peer: "box2", previous: null, tier: "ultra" }, 4);
  assert.doesNotMatch(board.view(4).text, /box2/);
  assert.match(board.view(4).tooltip, /Peer box2: up, ultra loaded/);
});
