import assert from "node:assert/strict";
import { test } from "node:test";

import { type ChatMessage, ChunkReader, fromParts, requestBody, type ResponsePart, toOpenAIMessages } from "../../src/chat";

test("a tool round trip becomes an assistant tool_calls entry followed at once by its tool message", () => {
  const messages: ChatMessage[] = [
    { role: "system", content: [{ kind: "text", text: "Be brief." }] },
    { role: "user", content: [{ kind: "text", text: "Which tier?" }] },
    { role: "assistant", content: [
      { kind: "text", text: "Let me check." },
      { kind: "toolCall", callId: "c1", name: "route_task", input: { task: "swap" } },
      { kind: "toolCall", callId: "c2", name: "engine_status", input: {} },
    ] },
    { role: "user", content: [
      { kind: "toolResult", callId: "c1", content: ['{"tier": "fast"}'] },
      { kind: "toolResult", callId: "c2", content: ["ready", "fast"] },
      { kind: "text", text: "Thanks." },
    ] },
  ];
  assert.deepEqual(toOpenAIMessages(messages), [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Which tier?" },
    { role: "assistant", content: "Let me check.", tool_calls: [
      { id: "c1", type: "function", function: { name: "route_task", arguments: '{"task":"swap"}' } },
      { id: "c2", type: "function", function: { name: "engine_status", arguments: "{}" } },
    ] },
    { role: "tool", tool_call_id: "c1", content: '{"tier": "fast"}' },
    { role: "tool", tool_call_id: "c2", content: "ready\nfast" },
    { role: "user", content: "Thanks." },
  ]);
});

test("an assistant turn that only called a tool has null content, and a user turn of only results adds no user message", () => {
  const out = toOpenAIMessages([
    { role: "assistant", content: [{ kind: "toolCall", callId: "c", name: "t", input: { a: 1 } }] },
    { role: "user", content: [{ kind: "toolResult", callId: "c", content: ["r"] }] },
    { role: "assistant", content: [] },
  ]);
  assert.deepEqual(out.map((m) => [m.role, m.content]), [["assistant", null], ["tool", "r"]]);
});

test("VS Code's parts are recognised by shape, and non-text pieces of a result are sent as JSON", () => {
  const parts = fromParts([
    { value: "hello" },
    { callId: "c", name: "t", input: { x: 1 } },
    { callId: "c", content: [{ value: "text piece" }, { value: { tsx: true } }, 42] },
    { mimeType: "image/png", data: new Uint8Array(1) },
    null,
  ]);
  assert.deepEqual(parts, [
    { kind: "text", text: "hello" },
    { kind: "toolCall", callId: "c", name: "t", input: { x: 1 } },
    { kind: "toolResult", callId: "c", content: ["text piece", '{"tsx":true}', "42"] },
  ]);
});

test("the request offers tools as functions, honours required mode and keeps model options", () => {
  const body = requestBody("deep-coder", [{ role: "user", content: [{ kind: "text", text: "hi" }] }], {
    tools: [{ name: "read", description: "Read a file", inputSchema: { type: "object", properties: { path: { type: "string" } } } },
            { name: "noop", description: "No input" }],
    toolMode: "required",
    modelOptions: { temperature: 0.2, model: "ignored" },
  });
  assert.equal(body.model, "deep-coder");
  assert.equal(body.temperature, 0.2);
  assert.equal(body.tool_choice, "required");
  assert.deepEqual(body.tools, [
    { type: "function", function: { name: "read", description: "Read a file", parameters: { type: "object", properties: { path: { type: "string" } } } } },
    { type: "function", function: { name: "noop", description: "No input", parameters: { type: "object", properties: {} } } },
  ]);
  assert.equal("tools" in requestBody("fast", [], {}), false);
});

function chunk(delta: object, finish: string | null = null): Record<string, unknown> {
  return { choices: [{ index: 0, delta, finish_reason: finish }] };
}

test("text goes out delta by delta; tool calls go out whole, in index order, when the choice finishes", () => {
  const reader = new ChunkReader();
  const seen: ResponsePart[][] = [
    chunk({ role: "assistant", content: "" }),
    chunk({ content: "Checking" }),
    chunk({ tool_calls: [{ index: 1, id: "b", type: "function", function: { name: "second", arguments: "" } }] }),
    chunk({ tool_calls: [{ index: 0, id: "a", type: "function", function: { name: "first", arguments: '{"pa' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: 'th": "x"}' } }] }),
    chunk({}, "tool_calls"),
    { choices: [], usage: { prompt_tokens: 12, completion_tokens: 3 } },
  ].map((c) => reader.push(c));
  assert.deepEqual(seen, [[], [{ kind: "text", text: "Checking" }], [], [], [], [
    { kind: "toolCall", callId: "a", name: "first", input: { path: "x" } },
    { kind: "toolCall", callId: "b", name: "second", input: {} },
  ], []]);
  assert.deepEqual(reader.usage, { promptTokens: 12, completionTokens: 3 });
  assert.equal(reader.finishReason, "tool_calls");
  assert.deepEqual(reader.finish(), []);
});

test("a stream that ends without finish_reason still hands over its tool calls", () => {
  const reader = new ChunkReader();
  reader.push(chunk({ tool_calls: [{ index: 0, id: "a", function: { name: "t", arguments: "{}" } }] }));
  assert.deepEqual(reader.finish(), [{ kind: "toolCall", callId: "a", name: "t", input: {} }]);
});

test("tool arguments that are not a JSON object fail with the tool's name and the text", () => {
  const reader = new ChunkReader();
  reader.push(chunk({ tool_calls: [{ index: 0, id: "a", function: { name: "read", arguments: '{"path": ' } }] }));
  assert.throws(() => reader.push(chunk({}, "tool_calls")), /read with arguments that are not JSON: \{"path": /);
  const array = new ChunkReader();
  array.push(chunk({ tool_calls: [{ index: 0, id: "a", function: { name: "read", arguments: "[1]" } }] }));
  assert.throws(() => array.finish(), /not a JSON object/);
});
