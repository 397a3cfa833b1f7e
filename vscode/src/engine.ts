/**
 * The engine's HTTP API over `fetch`: models, status, loads, the event stream, chat completions, token counts.
 *
 * Failures are one tree, each message saying what to do:
 *
 *     EngineError
 *     ├── EngineUnreachable   no answer from the URL (refused, DNS, timeout): check the URL and that it runs
 *     ├── EngineAuthFailed    401: the key is missing or wrong
 *     └── EngineRefused       any other error status, with the engine's `ErrorBody` when it sent one
 *
 * A request cancelled through its `AbortSignal` rejects with the signal's reason (an `AbortError`), not
 * with an `EngineError`: nobody needs to be told about a cancellation they asked for.
 */

import type { EngineEvent, EngineStatus, ErrorBody, LoadAnswer, ModelList, UnloadAnswer } from "./contract";
import { readEvents } from "./sse";

export class EngineError extends Error {
  override name = "EngineError";
}

export class EngineUnreachable extends EngineError {
  override name = "EngineUnreachable";
}

export class EngineAuthFailed extends EngineError {
  override name = "EngineAuthFailed";
}

export class EngineRefused extends EngineError {
  override name = "EngineRefused";
  constructor(
    message: string,
    readonly status: number,
    /** The engine's error body; absent when something else (a proxy) answered. */
    readonly body?: ErrorBody,
  ) {
    super(message);
  }

  /** The engine's stable error code (`model_not_found`, `tier_load_failed`, ...), when it sent one. */
  get code(): string | undefined {
    return this.body?.error.code ?? undefined;
  }
}

export interface EngineOptions {
  /** Base URL without `/v1`, such as `http://192.168.1.10:8000`. */
  url: string;
  /** The API key, or undefined for an engine without one. */
  key?: string;
  /** How long to wait for the answer's headers on a control call. Default: 10 s. */
  timeoutMs?: number;
  /** The `fetch` to use; the global one by default (the seam tests could use). */
  fetch?: typeof fetch;
}

/** A streamed chat completion: the tier the engine chose and the OpenAI chunks as they arrive. */
export interface ChatStream {
  /** The tier serving the request (`x-variet-tier`), which `auto` picks. */
  tier: string | undefined;
  chunks: AsyncIterable<Record<string, unknown>>;
}

export class EngineClient {
  readonly url: string;
  private readonly key: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: EngineOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.key = options.key || undefined;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  models(signal?: AbortSignal): Promise<ModelList> {
    return this.json("GET", "/v1/models", undefined, signal);
  }

  status(signal?: AbortSignal): Promise<EngineStatus> {
    return this.json("GET", "/variet/status", undefined, signal);
  }

  /** Start a swap to `tier` and return at once; follow it with `events`. */
  load(tier: string, signal?: AbortSignal): Promise<LoadAnswer> {
    return this.json("POST", `/variet/tiers/${encodeURIComponent(tier)}/load`, undefined, signal);
  }

  unload(signal?: AbortSignal): Promise<UnloadAnswer> {
    return this.json("POST", "/variet/unload", undefined, signal);
  }

  /**
   * The event stream: `subscribed` (the whole status) first, then one event per change, until `signal`
   * aborts or the connection ends (the iterator then returns). Events of kinds this client does not know
   * are passed on as they are: check `event` before use.
   */
  async *events(signal: AbortSignal): AsyncGenerator<EngineEvent> {
    const response = await this.send("GET", "/variet/events", undefined, signal, { accept: "text/event-stream" });
    for await (const message of readEvents(response.body!)) {
      yield parse<EngineEvent>(message.data, "/variet/events");
    }
  }

  /**
   * POST `/v1/chat/completions` with `stream: true`; resolves once the engine answers, which is after any
   * swap the request waits for. Aborting `signal` closes the connection, which ends the generation.
   */
  async chat(body: Record<string, unknown>, signal: AbortSignal): Promise<ChatStream> {
    const request = { ...body, stream: true, stream_options: { include_usage: true } };
    const response = await this.send("POST", "/v1/chat/completions", request, signal, {}, false);
    return { tier: response.headers.get("x-variet-tier") ?? undefined, chunks: completionChunks(response) };
  }

  /**
   * The prompt tokens of one user message holding `text`, counted by the tier's own tokenizer through the
   * engine (Anthropic's `count_tokens`, which the engine relays to llama-server). It runs on the tier, so
   * call it only for the loaded one: for another it would wait for a swap.
   */
  async countTokens(tier: string, text: string, signal?: AbortSignal): Promise<number> {
    const body = { model: tier, messages: [{ role: "user", content: text }] };
    const answer = await this.json<{ input_tokens?: unknown }>("POST", "/v1/messages/count_tokens", body, signal);
    if (typeof answer.input_tokens !== "number") {
      throw new EngineError(`the engine's token count for ${tier} has no input_tokens: ${JSON.stringify(answer)}`);
    }
    return answer.input_tokens;
  }

  /**
   * Fill in the middle: POST `/infill` (llama.cpp's shape: `input_prefix`, `input_suffix`, `n_predict`, ...),
   * answered by the tier `body.model` names or, without one, by the engine's FIM tier. Resolves with the text
   * to insert and the tier that wrote it. Aborting `signal` closes the connection, which ends the generation.
   */
  async infill(body: Record<string, unknown>, signal?: AbortSignal): Promise<{ content: string; tier: string | undefined }> {
    const response = await this.send("POST", "/infill", { ...body, stream: false }, signal, {}, false);
    const answer = parse<{ content?: unknown }>(await response.text(), "/infill");
    if (typeof answer.content !== "string") {
      throw new EngineError(`the engine's answer to /infill has no content: ${JSON.stringify(answer).slice(0, 200)}`);
    }
    return { content: answer.content, tier: response.headers.get("x-variet-tier") ?? undefined };
  }

  private async json<T>(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    const response = await this.send(method, path, body, signal);
    return parse<T>(await response.text(), path);
  }

  /**
   * One request; resolves with a 2xx response, rejects with an `EngineError` otherwise. `timed` bounds the
   * wait for the status line and headers (control calls and the event stream, which the engine answers at
   * once); completions wait as long as the swap they queue behind takes. The body is not bounded.
   */
  private async send(
    method: string, path: string, body: unknown, signal: AbortSignal | undefined,
    headers: Record<string, string> = {}, timed = true,
  ): Promise<Response> {
    const slow = new AbortController();
    const timer = timed ? setTimeout(() => slow.abort(new Error("no answer in time")), this.timeoutMs) : undefined;
    const all: Record<string, string> = { ...headers };
    if (this.key) all.authorization = `Bearer ${this.key}`;
    if (body !== undefined) all["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetch(`${this.url}${path}`, {
        method, headers: all, body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, slow.signal]) : slow.signal,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const why = slow.signal.aborted ? `no answer within ${this.timeoutMs / 1000} s` : describe(error);
      throw new EngineUnreachable(`cannot reach the Variet engine at ${this.url}: ${why}; check the engine URL ` +
        "setting (variet.engineUrl) and that `variet engine serve` runs there");
    } finally {
      clearTimeout(timer);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => "");
    const error = errorBody(text);
    const said = error?.error.message ?? (text.slice(0, 300) || response.statusText);
    if (response.status === 401) {
      throw new EngineAuthFailed(`the Variet engine at ${this.url} refused the API key (${said}); set the key ` +
        "with 'Variet: Set the engine API key' (the engine's [engine] api_key_file or VARIET_ENGINE_API_KEY)");
    }
    throw new EngineRefused(`the Variet engine answered ${response.status} to ${method} ${path}: ${said}`,
      response.status, error);
  }
}

async function* completionChunks(response: Response): AsyncGenerator<Record<string, unknown>> {
  for await (const message of readEvents(response.body!)) {
    if (message.data === "[DONE]") return;
    const chunk = parse<Record<string, unknown>>(message.data, "/v1/chat/completions");
    if (message.event === "error" || (chunk.error && !chunk.choices)) {
      const body = errorBody(message.data);
      throw new EngineRefused(`the engine's stream ended with an error: ${body?.error.message ?? message.data}`,
        response.status, body);
    }
    yield chunk;
  }
}

function parse<T>(text: string, path: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new EngineError(`the engine's answer to ${path} is not JSON: ${text.slice(0, 200)}`);
  }
}

function errorBody(text: string): ErrorBody | undefined {
  try {
    const body = JSON.parse(text) as ErrorBody;
    return typeof body?.error?.message === "string" ? body : undefined;
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? error.message;
  }
  return String(error);
}
