/**
 * Inline suggestions against the real engine: `/infill` answered by the resident `coder` tier, the answer
 * cached per position, a tier without FIM tokens reported to the listener, and completions answered while the
 * engine swaps its other tiers.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { type CompleterState, DEFAULT_SETTINGS, InlineCompleter } from "../../src/completion";
import { EngineClient } from "../../src/engine";
import { fimUrl } from "./env";

const client = () => new EngineClient({ url: fimUrl() });
const at = (document: string) => ({ document, line: 1, character: 4, before: "def add(a, b):\n    ",
                                    after: "\n\nprint(add(1, 2))\n" });

async function coderRequests(): Promise<number> {
  return (await client().status()).tiers.coder!.requests;
}

test("the engine's FIM tier answers, and the same position asked again is served from the cache", async () => {
  const states: CompleterState[] = [];
  const completer = new InlineCompleter(client, () => ({ ...DEFAULT_SETTINGS, maxTokens: 8 }),
                                        { state: (s) => states.push(s) });
  const before = await coderRequests();
  const first = await completer.complete(at("file:///live-a.py"));
  assert.deepEqual(states.map((s) => s.kind), ["working", "idle"]);
  assert.equal(await coderRequests(), before + 1);
  assert.equal(await completer.complete(at("file:///live-a.py")), first);
  assert.equal(await coderRequests(), before + 1);
});

test("a tier whose model has no FIM tokens is reported to the listener with the engine's reason", async () => {
  const states: CompleterState[] = [];
  const completer = new InlineCompleter(client, () => ({ ...DEFAULT_SETTINGS, tier: "fast" }),
                                        { state: (s) => states.push(s) });
  assert.equal(await completer.complete(at("file:///live-b.py")), undefined);
  const last = states.at(-1)!;
  assert.equal(last.kind, "failed");
  assert.match(last.kind === "failed" ? last.message : "", /tier 'fast' cannot fill in the middle/);
});

test("completions keep coming while the engine swaps its other tiers", async () => {
  const engine = client();
  const swapsBefore = (await engine.status()).swaps;
  let swapping = true;
  const loop = (async () => {
    for (let i = 0; swapping && i < 40; i++) {
      const stream = await engine.chat({ model: i % 2 ? "ultra" : "fast", max_tokens: 1,
                                         messages: [{ role: "user", content: "hi" }] }, new AbortController().signal);
      for await (const _ of stream.chunks) { /* drain */ }
    }
  })();
  const states: CompleterState[] = [];
  const completer = new InlineCompleter(client, () => ({ ...DEFAULT_SETTINGS, maxTokens: 4 }),
                                        { state: (s) => states.push(s) });
  for (let i = 0; i < 10; i++) await completer.complete(at(`file:///live-swap-${i}.py`));
  swapping = false;
  await loop;
  assert.ok(states.every((s) => s.kind !== "failed"), JSON.stringify(states));
  assert.ok((await engine.status()).swaps > swapsBefore);
});
