// The probe: VS Code's language model API, used as any extension would, against the Variet chat models.
// Every step's outcome goes into one JSON file ($VARIET_PROBE_OUT) for the Python test to check.
"use strict";
const fs = require("node:fs");
const vscode = require("vscode");

const TOOL = {
  name: "list_tiers",
  description: "List the engine's model tiers with their strengths.",
  inputSchema: { type: "object", properties: {} },
};

async function collect(response) {
  const parts = [];
  for await (const part of response.stream) {
    if (part instanceof vscode.LanguageModelTextPart) parts.push({ kind: "text", text: part.value });
    else if (part instanceof vscode.LanguageModelToolCallPart) parts.push({ kind: "toolCall", callId: part.callId, name: part.name, input: part.input });
    else parts.push({ kind: "other", value: String(part) });
  }
  return parts;
}

const text = (parts) => parts.filter((p) => p.kind === "text").map((p) => p.text).join("");

async function probe() {
  const out = {};
  const models = await vscode.lm.selectChatModels({ vendor: "variet" });
  out.models = models.map((m) => ({ id: m.id, name: m.name, family: m.family, version: m.version, maxInputTokens: m.maxInputTokens }));
  const fast = models.find((m) => m.id === "fast");
  const none = new vscode.CancellationTokenSource().token;
  const User = vscode.LanguageModelChatMessage.User;
  const Assistant = vscode.LanguageModelChatMessage.Assistant;

  const hello = await collect(await fast.sendRequest([User("Say hello.")], {
    justification: "Variet's tests", modelOptions: { max_tokens: 16, temperature: 0 } }, none));
  out.hello = { parts: hello.length, text: text(hello) };

  const ask = [User("Use list_tiers to list the tiers.")];
  const first = await collect(await fast.sendRequest(ask, {
    tools: [TOOL], toolMode: vscode.LanguageModelChatToolMode.Required,
    modelOptions: { max_tokens: 64, temperature: 0, seed: 1 } }, none));
  const call = first.find((p) => p.kind === "toolCall");
  out.toolCall = call ?? null;
  if (call) {
    const result = new vscode.LanguageModelToolResultPart(call.callId, [new vscode.LanguageModelTextPart(
      JSON.stringify({ tiers: out.models.map((m) => ({ name: m.id })) }))]);
    const answer = await collect(await fast.sendRequest([...ask,
      Assistant([new vscode.LanguageModelToolCallPart(call.callId, call.name, call.input)]),
      User([result])], { modelOptions: { max_tokens: 32, temperature: 0, seed: 1 } }, none));
    out.afterTool = { kinds: answer.map((p) => p.kind), text: text(answer) };
  }

  out.tokens = await fast.countTokens("def add(a, b):\n    return a + b\n");

  const source = new vscode.CancellationTokenSource();
  const long = await fast.sendRequest([User("Write a long story.")], {
    modelOptions: { max_tokens: 4000, ignore_eos: true } }, source.token);
  let seen = 0;
  try {
    for await (const _ of long.stream) {
      if (++seen === 3) source.cancel();
    }
    out.cancelled = { parts: seen, ended: "the stream ended" };
  } catch (error) {
    out.cancelled = { parts: seen, error: `${error && error.name}: ${error && error.message}` };
  }
  return out;
}

exports.activate = (context) => {
  context.subscriptions.push(vscode.commands.registerCommand("varietProbe.run", async () => {
    let result;
    try {
      result = await probe();
    } catch (error) {
      result = { error: String((error && error.stack) || error) };
    }
    fs.writeFileSync(process.env.VARIET_PROBE_OUT, JSON.stringify(result, null, 2));
  }));
};
