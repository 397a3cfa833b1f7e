/**
 * Keeps one subscription to the engine's `/variet/events` open, reconnecting after failures, and polls
 * `/variet/status` while connected (the engine publishes swaps as events, but not every change of its
 * queues, which the status bar shows).
 *
 * Handlers run on each event, poll and failure; a failure is reported once per attempt, then the feed
 * waits (1, 2, 4 … up to 30 s; 30 s after a refused key, which only the user can fix) and tries again.
 * `stop()` ends it for good; make a new feed for a new URL or key.
 */

import type { EngineEvent, EngineStatus } from "./contract";
import { EngineAuthFailed, type EngineClient, EngineError, EngineUnreachable } from "./engine";

export interface FeedHandlers {
  event(event: EngineEvent): void;
  status(status: EngineStatus): void;
  failed(error: EngineError): void;
  /** A new attempt to connect begins. */
  connecting?(): void;
}

export interface FeedOptions {
  /** Seconds between status polls while connected. Default: 5. */
  pollSeconds?: number;
  /** Longest wait between attempts, in seconds. Default: 30. */
  maxRetrySeconds?: number;
}

export class EventFeed {
  private readonly stopper = new AbortController();
  private connected = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: EngineClient,
    private readonly handlers: FeedHandlers,
    private readonly options: FeedOptions = {},
  ) {}

  start(): void {
    this.running ??= Promise.all([this.subscribe(), this.poll()]).then(() => undefined);
  }

  /** Stop for good; resolves once both loops have ended. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.running;
  }

  private get signal(): AbortSignal {
    return this.stopper.signal;
  }

  private async subscribe(): Promise<void> {
    const maxRetry = this.options.maxRetrySeconds ?? 30;
    for (let attempt = 0; !this.signal.aborted; attempt++) {
      this.handlers.connecting?.();
      let failure: EngineError;
      try {
        for await (const event of this.client.events(this.signal)) {
          this.connected = true;
          attempt = 0;
          this.handlers.event(event);
        }
        failure = new EngineUnreachable(`the Variet engine at ${this.client.url} closed its event stream`);
      } catch (error) {
        if (this.signal.aborted) break;
        failure = error instanceof EngineError ? error : new EngineUnreachable(`the event stream from ${this.client.url} broke: ${String(error)}`);
      }
      this.connected = false;
      this.handlers.failed(failure);
      const seconds = failure instanceof EngineAuthFailed ? maxRetry : Math.min(maxRetry, 2 ** attempt);
      await pause(seconds, this.signal);
    }
  }

  private async poll(): Promise<void> {
    const seconds = this.options.pollSeconds ?? 5;
    while (!this.signal.aborted) {
      await pause(seconds, this.signal);
      if (!this.connected || this.signal.aborted) continue;
      try {
        this.handlers.status(await this.client.status(this.signal));
      } catch {
        // The event stream notices a lost engine and reports it; a failed poll adds nothing.
      }
    }
  }
}

function pause(seconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, seconds * 1000);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
