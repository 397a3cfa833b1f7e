/**
 * Inline code completion (ghost text) from the engine's fill-in-the-middle tier, without VS Code types.
 *
 * `InlineCompleter.complete` is called for each position VS Code asks about. It waits `debounceMs` first,
 * so a burst of keystrokes costs one request; a newer call, or the caller's `AbortSignal` (VS Code cancels
 * when you type on), aborts the older one, whose HTTP request is then closed (the engine stops generating).
 * Answers are cached by position (document, line, column and the text around the cursor), so moving back to
 * a spot, or VS Code asking twice, costs nothing. Requests go to `/infill` with no `model` (the tier the
 * engine marks `fim = true`, normally a resident one that answers while other tiers swap) or to the tier the
 * settings name. Its listener hears when a request starts and ends, for the status bar.
 */

import { type EngineClient, EngineError } from "./engine";

export interface CompletionSettings {
  enabled: boolean;
  /** The tier to ask; empty: the engine's FIM tier. */
  tier: string;
  debounceMs: number;
  maxTokens: number;
}

export const DEFAULT_SETTINGS: CompletionSettings = { enabled: true, tier: "", debounceMs: 150, maxTokens: 64 };

/** Characters of context sent before and after the cursor. */
const PREFIX_CHARS = 4000;
const SUFFIX_CHARS = 1500;
const CACHE_SIZE = 200;

export interface Position {
  /** Identifies the document (its URI). */
  document: string;
  line: number;
  character: number;
  /** The document's text before and after the cursor. */
  before: string;
  after: string;
}

export type CompleterState =
  | { kind: "idle" }
  | { kind: "working" }
  | { kind: "failed"; message: string };

export interface CompleterListener {
  state(state: CompleterState): void;
}

export class InlineCompleter {
  private readonly cache = new Map<string, string>();
  private current: AbortController | undefined;
  private working = 0;

  constructor(
    private readonly client: () => EngineClient,
    private readonly settings: () => CompletionSettings,
    private readonly listener: CompleterListener = { state: () => undefined },
    private readonly delay: (ms: number, signal: AbortSignal) => Promise<void> = sleep,
  ) {}

  /** Forget cached answers (the engine URL, key or tier changed). */
  reset(): void {
    this.cache.clear();
  }

  /**
   * The text to insert at `at`, or undefined when there is none (turned off, cancelled, superseded, an empty
   * answer). Failures of the engine are told to the listener, not thrown: ghost text just does not appear.
   */
  async complete(at: Position, signal?: AbortSignal): Promise<string | undefined> {
    const settings = this.settings();
    if (!settings.enabled) return undefined;
    const before = at.before.slice(-PREFIX_CHARS);
    const after = at.after.slice(0, SUFFIX_CHARS);
    const key = JSON.stringify([settings.tier, at.document, at.line, at.character, before.slice(-400), after.slice(0, 200)]);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached || undefined;
    this.current?.abort();
    const mine = new AbortController();
    this.current = mine;
    const aborted = signal ? AbortSignal.any([signal, mine.signal]) : mine.signal;
    try {
      await this.delay(settings.debounceMs, aborted);
    } catch {
      return undefined; // typed on during the pause
    }
    if (++this.working === 1) this.listener.state({ kind: "working" });
    let failure: string | undefined;
    try {
      const answer = await this.client().infill({
        input_prefix: before, input_suffix: after, n_predict: settings.maxTokens,
        ...(settings.tier ? { model: settings.tier } : {}),
        n_indent: indentOf(before), cache_prompt: true, t_max_predict_ms: 2500,
      }, aborted);
      const text = tidy(answer.content, after);
      this.remember(key, text);
      return text || undefined;
    } catch (error) {
      if (!aborted.aborted) failure = error instanceof EngineError ? error.message : String(error);
      return undefined;
    } finally {
      if (--this.working === 0) this.listener.state(failure ? { kind: "failed", message: failure } : { kind: "idle" });
      if (this.current === mine) this.current = undefined;
    }
  }

  private remember(key: string, text: string): void {
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, text);
  }
}

/** The indentation of the cursor's line, which llama-server uses to stop a block at the right depth. */
function indentOf(before: string): number {
  const line = before.slice(before.lastIndexOf("\n") + 1);
  return line.length - line.trimStart().length;
}

/**
 * The answer as ghost text: trailing blank lines dropped, and cut where it starts repeating the text after
 * the cursor (models often run on into the suffix).
 */
export function tidy(content: string, after: string): string {
  let text = content.replace(/\s+$/u, "");
  const next = after.split("\n").find((line) => line.trim() !== "")?.trim();
  if (next && next.length >= 3) {
    const at = text.split("\n").findIndex((line, i) => i > 0 && line.trim() === next);
    if (at > 0) text = text.split("\n").slice(0, at).join("\n").replace(/\s+$/u, "");
  }
  return text;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => (signal.removeEventListener("abort", stop), resolve()), ms);
    const stop = (): void => (clearTimeout(timer), reject(signal.reason));
    signal.addEventListener("abort", stop, { once: true });
  });
}
