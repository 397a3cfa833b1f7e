/**
 * Conversion between VS Code's chat messages and OpenAI's Chat Completions, both ways, as plain data.
 *
 * The `vscode` adapter turns VS Code's message and part classes into `ChatMessage`s and turns the
 * `ResponsePart`s back into `LanguageModelTextPart`/`LanguageModelToolCallPart`; everything between is here.
 * Requests: a VS Code tool call is an assistant `tool_calls` entry, a tool result a `tool` message (placed
 * first, right after the call it answers, as OpenAI requires). Responses: text deltas go out as they arrive;
 * a tool call's name and argument pieces are gathered by `index` and go out whole once the choice finishes.
 */

export type Role = "system" | "user" | "assistant";

export interface TextPart {
  kind: "text";
  text: string;
}

export interface ToolCallPart {
  kind: "toolCall";
  callId: string;
  name: string;
  input: object;
}

export interface ToolResultPart {
  kind: "toolResult";
  callId: string;
  /** The result's text pieces (the adapter renders non-text pieces as JSON). */
  content: string[];
}

export type InputPart = TextPart | ToolCallPart | ToolResultPart;
export type ResponsePart = TextPart | ToolCallPart;

export interface ChatMessage {
  role: Role;
  content: InputPart[];
  name?: string;
}

export interface ChatTool {
  name: string;
  description: string;
  inputSchema?: object;
}

export interface ChatOptions {
  tools?: readonly ChatTool[];
  /** `required`: the model must call one of `tools`. */
  toolMode?: "auto" | "required";
  /** Passed through to the request body (temperature, max_tokens, ...), never overriding what is set here. */
  modelOptions?: Record<string, unknown>;
}

/**
 * VS Code's message parts (`LanguageModelTextPart`, `LanguageModelToolCallPart`, `LanguageModelToolResultPart`)
 * as plain parts, told apart by their fields so this works on any object of those shapes. Other parts
 * (images, data, thinking) are left out: the tiers take text. Inside a tool result, a piece that is not
 * text is sent as its JSON.
 */
export function fromParts(parts: readonly unknown[]): InputPart[] {
  const out: InputPart[] = [];
  for (const part of parts) {
    if (typeof part !== "object" || part === null) continue;
    const p = part as { value?: unknown; callId?: unknown; name?: unknown; input?: unknown; content?: unknown };
    if (typeof p.callId === "string" && typeof p.name === "string" && typeof p.input === "object" && p.input !== null) {
      out.push({ kind: "toolCall", callId: p.callId, name: p.name, input: p.input });
    } else if (typeof p.callId === "string" && Array.isArray(p.content)) {
      out.push({ kind: "toolResult", callId: p.callId, content: p.content.map(pieceText) });
    } else if (typeof p.value === "string") {
      out.push({ kind: "text", text: p.value });
    }
  }
  return out;
}

function pieceText(piece: unknown): string {
  if (typeof piece === "string") return piece;
  const value = (piece as { value?: unknown } | null)?.value;
  if (typeof value === "string") return value;
  return JSON.stringify(value ?? piece);
}

/** An OpenAI chat message as sent. */
export type OpenAIMessage = Record<string, unknown>;

export function toOpenAIMessages(messages: readonly ChatMessage[]): OpenAIMessage[] {
  const out: OpenAIMessage[] = [];
  for (const message of messages) {
    const text = message.content.filter((p): p is TextPart => p.kind === "text").map((p) => p.text).join("");
    const calls = message.content.filter((p): p is ToolCallPart => p.kind === "toolCall");
    const results = message.content.filter((p): p is ToolResultPart => p.kind === "toolResult");
    for (const result of results) {
      out.push({ role: "tool", tool_call_id: result.callId, content: result.content.join("\n") });
    }
    const name = message.name ? { name: message.name } : {};
    if (message.role === "assistant") {
      if (!text && calls.length === 0) continue;
      const toolCalls = calls.map((call) => ({
        id: call.callId, type: "function", function: { name: call.name, arguments: JSON.stringify(call.input) },
      }));
      out.push({ role: "assistant", content: text || null, ...name, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) });
    } else if (text || results.length === 0) {
      out.push({ role: message.role, content: text, ...name });
    }
  }
  return out;
}

/** The body of a chat completion request for `model` (a tier or `auto`). */
export function requestBody(model: string, messages: readonly ChatMessage[], options: ChatOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { ...(options.modelOptions ?? {}), model, messages: toOpenAIMessages(messages) };
  if (options.tools && options.tools.length > 0) {
    body.tools = options.tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.inputSchema ?? { type: "object", properties: {} } },
    }));
    body.tool_choice = options.toolMode === "required" ? "required" : "auto";
  }
  return body;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

interface PendingCall {
  id: string;
  name: string;
  arguments: string;
}

/** Turns streamed chunks into response parts; `finish()` at the end of the stream returns any calls left. */
export class ChunkReader {
  usage: Usage | undefined;
  finishReason: string | undefined;
  private calls = new Map<number, PendingCall>();

  /** The parts chunk `chunk` completes, in order. */
  push(chunk: Record<string, unknown>): ResponsePart[] {
    const parts: ResponsePart[] = [];
    const usage = chunk.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined | null;
    if (usage && typeof usage.prompt_tokens === "number") {
      this.usage = { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens ?? 0 };
    }
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Record<string, unknown>[]) : [];
    const choice = choices.find((c) => (c.index ?? 0) === 0);
    if (!choice) return parts;
    const delta = (choice.delta ?? {}) as { content?: unknown; tool_calls?: unknown };
    if (typeof delta.content === "string" && delta.content) parts.push({ kind: "text", text: delta.content });
    for (const piece of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      const index = typeof piece.index === "number" ? piece.index : this.calls.size;
      const call = this.calls.get(index) ?? { id: "", name: "", arguments: "" };
      if (typeof piece.id === "string" && piece.id) call.id = piece.id;
      if (typeof piece.function?.name === "string") call.name += piece.function.name;
      if (typeof piece.function?.arguments === "string") call.arguments += piece.function.arguments;
      this.calls.set(index, call);
    }
    if (typeof choice.finish_reason === "string") {
      this.finishReason = choice.finish_reason;
      parts.push(...this.flush());
    }
    return parts;
  }

  finish(): ResponsePart[] {
    return this.flush();
  }

  private flush(): ToolCallPart[] {
    const parts = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([index, call]) => {
      let input: unknown;
      try {
        input = call.arguments.trim() ? JSON.parse(call.arguments) : {};
      } catch {
        throw new Error(`the model called ${call.name || "a tool"} with arguments that are not JSON: ${call.arguments.slice(0, 200)}`);
      }
      if (typeof input !== "object" || input === null || Array.isArray(input)) {
        throw new Error(`the model called ${call.name} with arguments that are not a JSON object: ${call.arguments.slice(0, 200)}`);
      }
      return { kind: "toolCall" as const, callId: call.id || `call_${index}`, name: call.name, input };
    });
    this.calls.clear();
    return parts;
  }
}

/** A rough token count for text the engine cannot count now (about 3.5 characters a token for code and English). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3.5);
}

/** The text of a message, as a token count sees it. */
export function messageText(message: ChatMessage): string {
  return message.content.map((part) => {
    switch (part.kind) {
      case "text":
        return part.text;
      case "toolCall":
        return `${part.name} ${JSON.stringify(part.input)}`;
      case "toolResult":
        return part.content.join("\n");
    }
  }).join("\n");
}
