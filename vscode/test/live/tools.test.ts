/**
 * Tool calls both ways through the provider, against the scripted OpenAI-compatible model
 * (tests/fakes/openai_stub.py, started by tests/vscode/test_extension.py with this script):
 *
 *   0. read_notes {"path": "NOTES.md"}
 *   1. write_notes {"text": <step 0's result, upper-cased>}
 *   then the text "Done: <step 1's result>"
 *
 * The stub streams each call's arguments in two pieces. The Python side checks what the stub received.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { ChatMessage, ChatTool, ResponsePart, ToolCallPart } from "../../src/chat";
import { EngineClient } from "../../src/engine";
import { VarietChat } from "../../src/provider";
import { stubUrl } from "./env";

const TOOLS: ChatTool[] = [
  { name: "read_notes", description: "Read the notes file", inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
  { name: "write_notes", description: "Replace the notes", inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } },
];

async function turn(chat: VarietChat, messages: ChatMessage[], toolMode: "auto" | "required" = "auto"): Promise<ResponsePart[]> {
  const parts: ResponsePart[] = [];
  await chat.respond("auto", messages, { tools: TOOLS, toolMode }, (part) => parts.push(part), AbortSignal.timeout(30_000));
  return parts;
}

test("a streamed tool call reaches VS Code whole, and its result goes back to the model, twice over", async () => {
  const chat = new VarietChat(() => new EngineClient({ url: stubUrl(), key: "stub-key" }));
  const messages: ChatMessage[] = [{ role: "user", content: [{ kind: "text", text: "Tidy my notes." }] }];

  const first = await turn(chat, messages, "required");
  assert.deepEqual(first, [{ kind: "toolCall", callId: "call_variet_0", name: "read_notes", input: { path: "NOTES.md" } }]);
  const read = first[0] as ToolCallPart;
  messages.push({ role: "assistant", content: [read] });
  messages.push({ role: "user", content: [{ kind: "toolResult", callId: read.callId, content: ["todo: which tier swaps?"] }] });

  const second = await turn(chat, messages);
  assert.deepEqual(second, [{ kind: "toolCall", callId: "call_variet_1", name: "write_notes", input: { text: "TODO: WHICH TIER SWAPS?" } }]);
  const write = second[0] as ToolCallPart;
  messages.push({ role: "assistant", content: [{ kind: "text", text: "Writing." }, write] });
  messages.push({ role: "user", content: [{ kind: "toolResult", callId: write.callId, content: ["written 23 bytes"] }] });

  const last = await turn(chat, messages);
  assert.ok(last.every((part) => part.kind === "text"));
  assert.equal(last.map((part) => (part.kind === "text" ? part.text : "")).join(""), "Done: written 23 bytes");
});
