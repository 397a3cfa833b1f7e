/**
 * The chat model provider's logic, apart from VS Code: list the engine's models, answer a chat request
 * (streaming text and tool calls as parts), count tokens.
 *
 * Token counts come from the engine (the tier's own tokenizer) only for the tier that is loaded and ready:
 * a count is a request on the tier, and for another tier it would wait for a swap, so those are estimated
 * here. Counts are remembered, since VS Code asks for the same messages again on every turn.
 */

import {
  type ChatMessage, type ChatOptions, ChunkReader, estimateTokens, messageText, requestBody, type ResponsePart,
  type Usage,
} from "./chat";
import type { EngineClient } from "./engine";
import { AUTO, type ModelInfo, modelInfos } from "./models";
import type { StatusBoard } from "./status";

export interface Answer {
  /** The tier that served the request (what `auto` chose). */
  tier: string | undefined;
  usage: Usage | undefined;
  finishReason: string | undefined;
}

export interface ProviderHooks {
  /** Says something about a request to the user (that it waits for a swap), outside the answer. */
  notice?(text: string): void;
  /** Seconds since the epoch; tests can pin it. */
  now?(): number;
}

const COUNT_TIMEOUT_MS = 2000;
const COUNT_CACHE = 2000;

export class VarietChat {
  private infos = new Map<string, ModelInfo>();
  private counts = new Map<string, number>();

  constructor(
    private readonly client: () => EngineClient,
    private readonly board?: StatusBoard,
    private readonly hooks: ProviderHooks = {},
  ) {}

  private now(): number {
    return this.hooks.now?.() ?? Date.now() / 1000;
  }

  async models(signal?: AbortSignal): Promise<ModelInfo[]> {
    const list = await this.client().models(signal);
    const loaded = this.board?.loadedTier ?? list.data.find((entry) => entry.loaded && entry.tier)?.id ?? null;
    const infos = modelInfos(list, loaded);
    this.infos = new Map(infos.map((info) => [info.id, info]));
    return infos;
  }

  /** Stream the answer of `model` (a tier or `auto`) to `emit`; aborting `signal` ends the engine's request. */
  async respond(
    model: string, messages: readonly ChatMessage[], options: ChatOptions,
    emit: (part: ResponsePart) => void, signal: AbortSignal,
  ): Promise<Answer> {
    const info = this.infos.get(model);
    if (options.tools?.length && info && !info.capabilities.toolCalling) {
      throw new Error(`Variet ${model} does not call tools (tool_calling = false in the engine's tiers.toml): ` +
        "pick a tier that does, or ask without tools");
    }
    const wait = model === AUTO ? undefined : this.board?.expectedWait(model, this.now());
    if (wait !== undefined && wait >= 1) {
      this.hooks.notice?.(`Variet: ${model} is not loaded; this request waits ~${Math.round(wait)} s for the swap`);
    }
    this.board?.waiting(false);
    try {
      const stream = await this.client().chat(requestBody(model, messages, options), signal);
      const reader = new ChunkReader();
      for await (const chunk of stream.chunks) {
        for (const part of reader.push(chunk)) emit(part);
      }
      for (const part of reader.finish()) emit(part);
      return { tier: stream.tier, usage: reader.usage, finishReason: reader.finishReason };
    } finally {
      this.board?.waiting(true);
    }
  }

  /** Tokens in `text` (a string or a message) for `model`: the engine's count when it is cheap, else an estimate. */
  async countTokens(model: string, text: string | ChatMessage, signal?: AbortSignal): Promise<number> {
    const plain = typeof text === "string" ? text : messageText(text);
    if (!plain) return 0;
    const ready = this.board?.readyTier;
    const tier = ready && (model === AUTO || model === ready) ? ready : undefined;
    if (!tier) return estimateTokens(plain);
    const key = `${tier}\u0000${plain}`;
    const known = this.counts.get(key);
    if (known !== undefined) return known;
    const bounded = AbortSignal.timeout(COUNT_TIMEOUT_MS);
    try {
      const count = await this.client().countTokens(tier, plain, signal ? AbortSignal.any([signal, bounded]) : bounded);
      if (this.counts.size >= COUNT_CACHE) this.counts.delete(this.counts.keys().next().value!);
      this.counts.set(key, count);
      return count;
    } catch {
      return estimateTokens(plain);
    }
  }
}
