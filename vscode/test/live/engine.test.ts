/**
 * The provider, the event feed and the status board against the real engine on the embedded default tiers
 * (real llama-server; `fast` is the real SmolLM2-135M model, the others tiny random-weight models): models
 * and limits, streaming, a real model's tool call, `auto`, swaps as the status bar shows them,
 * cancellation, token counts and the errors a user meets. The tests share one engine and run in order.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { ChatMessage, ResponsePart, ToolCallPart } from "../../src/chat";
import type { EngineEvent } from "../../src/contract";
import { EngineAuthFailed, EngineClient, EngineError, EngineRefused, EngineUnreachable } from "../../src/engine";
import { EventFeed } from "../../src/feed";
import { VarietChat } from "../../src/provider";
import { StatusBoard } from "../../src/status";
import { closedUrl, engine, until } from "./env";

const TIERS = ["fast", "balanced", "deep-coder", "deep-logic", "ultra"];
const now = (): number => Date.now() / 1000;
const ask = (text: string) => [{ role: "user" as const, content: [{ kind: "text" as const, text }] }];

/** A board fed by a live event feed, with every event and status-bar text it went through. */
async function watched(client: EngineClient = engine()) {
  const board = new StatusBoard(client.url);
  const events: EngineEvent[] = [];
  const texts: string[] = [];
  const failures: EngineError[] = [];
  const feed = new EventFeed(client, {
    event: (event) => {
      board.apply(event, now());
      events.push(event);
      texts.push(board.view(now()).text);
    },
    status: (status) => board.refresh(status, now()),
    failed: (error) => {
      board.failed(error);
      failures.push(error);
    },
  }, { pollSeconds: 0.2 });
  feed.start();
  return { board, events, texts, failures, feed };
}

test("the models are the engine's five tiers and auto, with the contract's limits and tool calling", async () => {
  const list = await engine().models();
  const context = Object.fromEntries(list.data.filter((e) => e.tier).map((e) => [e.id, e.tier!.context]));
  const models = await new VarietChat(() => engine()).models();
  assert.deepEqual(models.map((m) => m.id), ["auto", ...TIERS]);
  for (const model of models) {
    const budget = model.id === "auto" ? Math.min(...Object.values(context)) : context[model.id]!;
    assert.equal(model.maxInputTokens + model.maxOutputTokens, budget, model.id);
    assert.equal(model.maxOutputTokens, Math.min(8192, Math.floor(budget / 4)), model.id);
    assert.equal(model.capabilities.toolCalling, true);
    assert.equal(model.name, `Variet ${model.id}`);
  }
  assert.equal(context.fast, 8192, "the real model's context");
});

test("a swap started by a load shows as 'loading <tier>… N s' and ends on the loaded tier", async () => {
  const watch = await watched();
  try {
    await until("the subscription", () => watch.events.length > 0);
    assert.equal(watch.events[0]!.event, "subscribed");
    const target = watch.board.loadedTier === "deep-logic" ? "balanced" : "deep-logic";
    assert.ok((watch.board.expectedWait(target, now()) ?? 0) > 0, "a tier that is not loaded has to wait for a swap");
    const answer = await engine().load(target);
    assert.equal(answer.tier, target);
    await until(`swap_done for ${target}`, () => watch.events.some((e) => e.event === "swap_done" && e.tier === target));
    const started = watch.events.findIndex((e) => e.event === "swap_started" && e.tier === target);
    assert.ok(started > 0, JSON.stringify(watch.events));
    assert.match(watch.texts[started]!, new RegExp(`^\\$\\(sync~spin\\) loading ${target}… \\d+ s`));
    assert.equal(watch.board.view(now()).text, `$(server-process) Variet: ${target}`);
    assert.equal(watch.board.readyTier, target);
    assert.equal(watch.board.expectedWait(target, now()), 0);
    assert.deepEqual(watch.failures, []);
  } finally {
    await watch.feed.stop();
  }
});

test("the real model streams its answer as text parts and reports the tier and token usage", async () => {
  const parts: ResponsePart[] = [];
  const answer = await new VarietChat(() => engine()).respond(
    "fast", ask("Say hello."), { modelOptions: { max_tokens: 24, ignore_eos: true, temperature: 0 } },
    (part) => parts.push(part), AbortSignal.timeout(60_000));
  assert.equal(answer.tier, "fast");
  assert.equal(answer.usage?.completionTokens, 24);
  assert.ok(parts.length > 1, `streamed in pieces: ${JSON.stringify(parts)}`);
  assert.ok(parts.every((p) => p.kind === "text"));
  assert.match(parts.map((p) => (p.kind === "text" ? p.text : "")).join(""), /[a-z]{2,}/i, "real words");
});

test("the real model's streamed tool call arrives whole, and its result goes back for the answer", async () => {
  const chat = new VarietChat(() => engine());
  const tools = [{ name: "list_tiers", description: "List the engine's model tiers with their strengths.",
                   inputSchema: { type: "object", properties: {} } }];
  const options = { tools, modelOptions: { max_tokens: 64, temperature: 0, seed: 1 } };
  const messages: ChatMessage[] = ask("Use list_tiers to list the tiers.");
  const first: ResponsePart[] = [];
  await chat.respond("fast", messages, { ...options, toolMode: "required" }, (p) => first.push(p), AbortSignal.timeout(120_000));
  const calls = first.filter((p): p is ToolCallPart => p.kind === "toolCall");
  assert.equal(calls.length, 1, JSON.stringify(first));
  assert.equal(calls[0]!.name, "list_tiers");
  assert.ok(calls[0]!.callId, "the engine gave the call an id");
  messages.push({ role: "assistant", content: [calls[0]!] },
                { role: "user", content: [{ kind: "toolResult", callId: calls[0]!.callId, content: [
                  JSON.stringify({ tiers: TIERS.map((name) => ({ name })) })] }] });
  const second: ResponsePart[] = [];
  // No tools this time, so the answer is text.
  await chat.respond("fast", messages, { modelOptions: options.modelOptions }, (p) => second.push(p), AbortSignal.timeout(120_000));
  assert.ok(second.length > 0 && second.every((p) => p.kind === "text"), JSON.stringify(second));
});

test("auto is answered by the tier the engine's router picks, which the answer names", async () => {
  const answer = await new VarietChat(() => engine()).respond(
    "auto", ask("quick: what is 2 + 2?"), { modelOptions: { max_tokens: 4 } }, () => {}, AbortSignal.timeout(60_000));
  assert.ok(TIERS.includes(answer.tier ?? ""), `tier: ${answer.tier}`);
});

test("cancelling a streamed answer closes the engine's request at once", async () => {
  const client = engine();
  const chat = new VarietChat(() => client);
  const controller = new AbortController();
  let parts = 0;
  const started = Date.now();
  // 4000 tokens keep the real model busy for most of a minute; the abort must end it long before.
  const answer = chat.respond("fast", ask("Write a long story."), { modelOptions: { max_tokens: 4000, ignore_eos: true } },
    () => { if (++parts === 3) controller.abort(); }, controller.signal);
  await assert.rejects(answer, (error: Error) => error.name === "AbortError");
  await until("the engine to drop the request", async () => (await client.status()).tiers.fast!.in_flight === 0, 5);
  const status = await client.status();
  assert.equal(status.in_flight, 0);
  assert.ok(Date.now() - started < 5000);
});

test("token counts come from the loaded tier's tokenizer and are estimated, without a swap, for the others", async () => {
  const client = engine();
  const board = new StatusBoard(client.url);
  await client.load("fast");
  await until("fast to be ready", async () => {
    board.refresh(await client.status(), now());
    return board.readyTier === "fast";
  });
  const chat = new VarietChat(() => client, board);
  const text = "def add(a, b):\n    return a + b\n";
  const counted = await chat.countTokens("fast", text);
  assert.equal(counted, await client.countTokens("fast", text));
  assert.equal(await chat.countTokens("auto", text), counted, "auto counts with the loaded tier");
  const before = (await client.status()).tiers.ultra!.requests;
  const estimated = await chat.countTokens("ultra", text);
  assert.equal(estimated, Math.ceil(text.length / 3.5));
  assert.equal((await client.status()).tiers.ultra!.requests, before, "no request reached the ultra tier");
  assert.equal((await client.status()).loaded, "fast");
});

test("a wrong key is refused with what to do, in calls and in the status bar", async () => {
  const wrong = engine("not-the-key");
  await assert.rejects(wrong.models(), (error: Error) =>
    error instanceof EngineAuthFailed && /refused the API key/.test(error.message) && /Set the engine API key/.test(error.message));
  const watch = await watched(wrong);
  try {
    await until("the feed's failure", () => watch.failures.length > 0);
    assert.ok(watch.failures[0] instanceof EngineAuthFailed);
    assert.equal(watch.board.view(now()).text, "$(key) Variet: key refused");
  } finally {
    await watch.feed.stop();
  }
});

test("an unknown model is the engine's own 404, told apart from llama-server's by its src", async () => {
  const chat = new VarietChat(() => engine());
  await assert.rejects(chat.respond("huge", ask("hi"), {}, () => {}, AbortSignal.timeout(10_000)), (error: Error) => {
    assert.ok(error instanceof EngineRefused);
    assert.equal(error.status, 404);
    assert.equal(error.code, "model_not_found");
    assert.equal(error.body?.error.src, "variet-engine");
    assert.match(error.message, /unknown model 'huge': use one of fast/);
    return true;
  });
});

test("an engine that is not there is unreachable, named by URL, in calls and in the status bar", async () => {
  const absent = new EngineClient({ url: closedUrl(), key: "k" });
  await assert.rejects(absent.status(), (error: Error) =>
    error instanceof EngineUnreachable && error.message.includes(closedUrl()) && /ECONNREFUSED/.test(error.message));
  const watch = await watched(absent);
  try {
    await until("the feed's failure", () => watch.failures.length > 0);
    assert.equal(watch.board.view(now()).text, "$(debug-disconnect) Variet: unreachable");
  } finally {
    await watch.feed.stop();
  }
});
