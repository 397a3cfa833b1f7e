import assert from "node:assert/strict";
import { test } from "node:test";

import { type CompleterState, type CompletionSettings, DEFAULT_SETTINGS, InlineCompleter, tidy } from "../../src/completion";
import { EngineClient } from "../../src/engine";

interface Sent {
  url: string;
  body: Record<string, unknown>;
  signal: AbortSignal | undefined;
}

/** An engine that answers /infill with `content`, recording what it was sent; `hold` keeps answers back. */
function fakeEngine(content: string | (() => string), options: { status?: number; hold?: Promise<void> } = {}) {
  const sent: Sent[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    const signal = init.signal ?? undefined;
    sent.push({ url, body: JSON.parse(String(init.body)) as Record<string, unknown>, signal });
    if (options.hold) {
      await Promise.race([options.hold, new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason)))]);
    }
    const text = typeof content === "function" ? content() : content;
    const body = options.status ? { error: { message: "tier 'fast' cannot fill in the middle", type: "invalid_request_error" } }
      : { content: text, stop: true };
    return new Response(JSON.stringify(body), { status: options.status ?? 200, headers: { "x-variet-tier": "coder" } });
  }) as unknown as typeof globalThis.fetch;
  return { sent, client: new EngineClient({ url: "http://engine.test", key: "k", fetch }) };
}

const at = (character: number, before = "def add(a, b):\n    ", after = "\n\nprint(add(1, 2))\n") =>
  ({ document: "file:///a.py", line: 1, character, before, after });

const instant = async (): Promise<void> => undefined;

test("a request goes to /infill with the text around the cursor and no model, so the engine's FIM tier answers", async () => {
  const { sent, client } = fakeEngine("return a + b");
  const completer = new InlineCompleter(() => client, () => DEFAULT_SETTINGS, undefined, instant);
  assert.equal(await completer.complete(at(4)), "return a + b");
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.url, "http://engine.test/infill");
  assert.equal(sent[0]!.body.input_prefix, "def add(a, b):\n    ");
  assert.equal(sent[0]!.body.input_suffix, "\n\nprint(add(1, 2))\n");
  assert.equal(sent[0]!.body.n_predict, DEFAULT_SETTINGS.maxTokens);
  assert.equal(sent[0]!.body.n_indent, 4);
  assert.equal("model" in sent[0]!.body, false);
});

test("answers are cached per position: asking again at the same spot sends nothing", async () => {
  let n = 0;
  const { sent, client } = fakeEngine(() => `x${++n}`);
  const completer = new InlineCompleter(() => client, () => DEFAULT_SETTINGS, undefined, instant);
  assert.equal(await completer.complete(at(4)), "x1");
  assert.equal(await completer.complete(at(4)), "x1");
  assert.equal(await completer.complete(at(5, "def add(a, b):\n     ")), "x2");
  assert.equal(sent.length, 2);
  completer.reset();
  assert.equal(await completer.complete(at(4)), "x3");
});

test("a burst of keystrokes is debounced into one request, and typing on cancels the one under way", async () => {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const { sent, client } = fakeEngine("pass", { hold });
  const pauses: Array<() => void> = [];
  const delay = (_ms: number, signal: AbortSignal) => new Promise<void>((resolve, reject) => {
    pauses.push(resolve);
    signal.addEventListener("abort", () => reject(signal.reason));
  });
  const completer = new InlineCompleter(() => client, () => DEFAULT_SETTINGS, undefined, delay);
  const first = completer.complete(at(1));
  const second = completer.complete(at(2));
  assert.equal(await first, undefined); // superseded during its pause: never sent
  pauses[1]!();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sent.length, 1);
  const typedOn = new AbortController();
  const third = completer.complete(at(3), typedOn.signal);
  assert.equal(await second, undefined); // superseded while its request ran: the request is aborted
  assert.equal(sent[0]!.signal?.aborted, true);
  typedOn.abort();
  assert.equal(await third, undefined);
  release();
  assert.equal(sent.length, 1);
});

test("turned off, nothing is asked; a tier setting is sent as the model", async () => {
  const { sent, client } = fakeEngine("y");
  let settings: CompletionSettings = { ...DEFAULT_SETTINGS, enabled: false };
  const completer = new InlineCompleter(() => client, () => settings, undefined, instant);
  assert.equal(await completer.complete(at(4)), undefined);
  assert.equal(sent.length, 0);
  settings = { ...DEFAULT_SETTINGS, tier: "deep-coder" };
  assert.equal(await completer.complete(at(4)), "y");
  assert.equal(sent[0]!.body.model, "deep-coder");
});

test("the listener hears working then idle, and a refusal as a failure rather than an exception", async () => {
  const states: CompleterState[] = [];
  const ok = fakeEngine("z");
  const completer = new InlineCompleter(() => ok.client, () => DEFAULT_SETTINGS, { state: (s) => states.push(s) }, instant);
  await completer.complete(at(4));
  assert.deepEqual(states.map((s) => s.kind), ["working", "idle"]);
  const refused = fakeEngine("", { status: 400 });
  const failing = new InlineCompleter(() => refused.client, () => DEFAULT_SETTINGS, { state: (s) => states.push(s) }, instant);
  assert.equal(await failing.complete(at(4)), undefined);
  const last = states.at(-1)!;
  assert.equal(last.kind, "failed");
  assert.match(last.kind === "failed" ? last.message : "", /cannot fill in the middle/);
});

test("multi-line answers stay whole, trailing blank lines go, and a run-on into the text after the cursor is cut", () => {
  assert.equal(tidy("if a:\n        return a\n    return b\n\n", "\n"), "if a:\n        return a\n    return b");
  assert.equal(tidy("return a + b\n\nprint(add(1, 2))\nmore", "\n\nprint(add(1, 2))\n"), "return a + b");
  assert.equal(tidy("   \n", ""), "");
});
