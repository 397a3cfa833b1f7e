/**
 * What the status bar says about the engine: a state machine fed by `/variet/events`, status polls and
 * connection failures, read as a `StatusView` at any moment.
 *
 * Times are this machine's clock (`now`, seconds), never the engine's: the engine usually runs on another
 * box whose clock may differ, so a swap's elapsed time counts from when its event arrived here (or from
 * the `elapsed_seconds` a status reports). Nothing here does I/O.
 */

import type { EngineEvent, EngineStatus, PeerInfo, TierState } from "./contract";
import { EngineAuthFailed, type EngineError } from "./engine";

export type Severity = "normal" | "busy" | "warning" | "error";

export interface StatusView {
  /** Status-bar text, with `$(icon)` codicons. */
  text: string;
  tooltip: string;
  severity: Severity;
  /** The swap under way, for a progress indicator. */
  swap?: { tier: string; elapsed: number; expected: number };
}

type Connection =
  | { kind: "connecting" }
  | { kind: "online" }
  | { kind: "unreachable"; message: string }
  | { kind: "unauthorized"; message: string };

interface Swap {
  tier: string;
  startedAt: number;
  expected: number;
}

export class StatusBoard {
  private connection: Connection = { kind: "connecting" };
  private loaded: string | null = null;
  private state: EngineStatus["state"] = "idle";
  private queued = 0;
  private inFlight = 0;
  private tiers: Record<string, TierState> = {};
  private swap: Swap | undefined;
  /** The last swap that failed, or the loaded tier's model that exited: what (`failed`, `exited`) and why. */
  private failure: { tier: string; what: string; error: string } | undefined;
  /** Peer engines (`[[engine.peers]]`) by name: whether they answer, and their loaded tier. */
  private peers = new Map<string, { up: boolean; loaded: string | null; error?: string }>();
  private waitingHere = 0;

  constructor(public url: string) {}

  /** Forget everything: the URL or key changed. */
  reset(url: string): void {
    Object.assign(this, new StatusBoard(url));
  }

  get online(): boolean {
    return this.connection.kind === "online";
  }

  /** The loaded tier, when the engine is reachable and not swapping. */
  get readyTier(): string | null {
    return this.online && !this.swap && this.state === "ready" ? this.loaded : null;
  }

  get loadedTier(): string | null {
    return this.online ? this.loaded : null;
  }

  /** A connection attempt begins (after a failure, or a changed URL or key). */
  connecting(): void {
    if (this.connection.kind === "online") return;
    this.connection = { kind: "connecting" };
  }

  /** The event stream failed or ended: the engine is unreachable, or refused the key. */
  failed(error: EngineError): void {
    this.connection = error instanceof EngineAuthFailed
      ? { kind: "unauthorized", message: error.message }
      : { kind: "unreachable", message: error.message };
    this.swap = undefined;
  }

  /** A full status (`subscribed`, or a poll). */
  refresh(status: EngineStatus, now: number): void {
    this.connection = { kind: "online" };
    this.loaded = status.loaded;
    this.state = status.state;
    this.queued = status.queued;
    this.inFlight = status.in_flight;
    this.tiers = status.tiers;
    this.peers = new Map((status.peers ?? []).map((p: PeerInfo) => [p.name, {
      up: p.up, loaded: p.loaded ?? null, ...(p.last_error ? { error: p.last_error } : {}) }]));
    const swapping = status.swapping;
    if (!swapping) {
      this.swap = undefined;
    } else if (this.swap?.tier !== swapping.tier) {
      this.swap = { tier: swapping.tier, startedAt: now - swapping.elapsed_seconds, expected: swapping.expected_seconds };
    }
  }

  apply(event: EngineEvent, now: number): void {
    switch (event.event) {
      case "subscribed":
        this.refresh(event.status, now);
        return;
      case "swap_started":
        this.swap = { tier: event.tier, startedAt: now, expected: event.expected_seconds ?? 0 };
        this.state = "swapping";
        this.failure = undefined;
        return;
      case "swap_done":
        this.swap = undefined;
        this.loaded = event.tier;
        this.state = "ready";
        return;
      case "swap_failed":
        this.swap = undefined;
        this.failure = { tier: event.tier, what: "failed", error: event.error };
        this.loaded = null; // the previous tier was unloaded to make room; a poll corrects this if not
        this.state = "idle";
        return;
      case "unloaded":
        if (this.loaded === event.tier) {
          this.loaded = null;
          this.state = "idle";
        }
        return;
      case "backend_down":
        this.swap = undefined;
        this.loaded = null;
        this.state = "down";
        return;
      case "backend_up":
        if (this.state === "down") this.state = "idle";
        return;
      case "resident_loaded":
      case "resident_failed": {
        const tier = this.tiers[event.tier];
        if (tier) this.tiers[event.tier] = { ...tier, loaded: event.event === "resident_loaded" };
        break;
      }
      case "tier_exited":
        if (this.loaded === event.tier) {
          this.loaded = null;
          this.state = "idle";
        }
        this.failure = { tier: event.tier, what: "exited", error: `its model instance exited (code ${event.exit_code ?? "?"}); ` +
          `the next request loads it again${event.log_file ? `; log: ${event.log_file}` : ""}` };
        return;
      case "peer_up":
        this.peers.set(event.peer, { up: true, loaded: event.loaded });
        return;
      case "peer_down":
        this.peers.set(event.peer, { up: false, loaded: null, error: event.error });
        return;
      case "peer_loaded":
        this.peers.set(event.peer, { up: true, loaded: event.tier });
        return;
      case "request_done":
        return; // queues are read from the status polls
    }
  }

  /** A request from this window starts waiting for its answer (`done` false) or gets it (`done` true). */
  waiting(done: boolean): void {
    this.waitingHere = Math.max(0, this.waitingHere + (done ? -1 : 1));
  }

  /**
   * Seconds a request for `tier` waits before the tier can start on it: 0 when it is loaded and ready,
   * what is left of its swap while it loads, else the running swap's rest plus this tier's load time
   * (its last measured swap, else its expected load time). Undefined while the engine is out of reach.
   */
  expectedWait(tier: string, now: number): number | undefined {
    if (!this.online) return undefined;
    const rest = this.swap ? Math.max(0, this.swap.expected - (now - this.swap.startedAt)) : 0;
    if (this.swap?.tier === tier) return rest;
    if (this.loaded === tier && !this.swap && this.state !== "draining") return 0;
    const facts = this.tiers[tier];
    if (!facts) return undefined;
    if (facts.resident && facts.loaded) return 0; // beside any swap
    const load = facts.last_swap?.ok ? facts.last_swap.seconds : facts.expected_load_seconds;
    return rest + load;
  }

  view(now: number): StatusView {
    const head = `Variet engine at ${this.url}`;
    switch (this.connection.kind) {
      case "connecting":
        return { text: "$(loading~spin) Variet", tooltip: `${head}: connecting…`, severity: "busy" };
      case "unreachable":
        return { text: "$(debug-disconnect) Variet: unreachable", severity: "error",
                 tooltip: `${this.connection.message}\n\nClick to change the URL or key.` };
      case "unauthorized":
        return { text: "$(key) Variet: key refused", severity: "error",
                 tooltip: `${this.connection.message}\n\nClick to set the key.` };
      case "online":
        break;
    }
    // After the state: requests waiting for a tier, and peer engines that do not answer.
    const lines = [head, `State: ${this.state}`, `Loaded: ${this.loaded ?? "none"}`,
                   `Requests: ${this.inFlight} running, ${this.queued} waiting for a tier`];
    const residents = Object.entries(this.tiers).filter(([, tier]) => tier.resident);
    if (residents.length) {
      lines.push(`Resident (never swapped): ${residents.map(([name, tier]) => `${name}${tier.loaded ? "" : " (loading)"}`).join(", ")}`);
    }
    if (this.waitingHere > 0) lines.push(`From this window: ${this.waitingHere} waiting for an answer`);
    if (this.failure) lines.push(`${this.failure.tier} ${this.failure.what}: ${this.failure.error}`);
    for (const [name, peer] of this.peers) {
      lines.push(`Peer ${name}: ${peer.up ? `up, ${peer.loaded ?? "nothing"} loaded` : `down (${peer.error ?? "no answer"})`}`);
    }
    const down = [...this.peers].filter(([, peer]) => !peer.up).map(([name]) => ` · ${name} down`).join("");
    const tooltip = lines.join("\n");
    const queue = (this.queued > 0 ? ` · ${this.queued} waiting` : "") + down;
    if (this.state === "down") {
      return { text: "$(warning) Variet: llama-server down", severity: "error",
               tooltip: `${tooltip}\nThe engine restarts llama-server; its log names the cause.` };
    }
    if (this.swap) {
      const elapsed = Math.max(0, Math.floor(now - this.swap.startedAt));
      const expected = Math.round(this.swap.expected);
      const of = expected > 0 ? ` of ~${expected} s` : "";
      return {
        text: `$(sync~spin) loading ${this.swap.tier}… ${elapsed} s${expected > 0 ? ` / ~${expected} s` : ""}${queue}`,
        tooltip: `${tooltip}\nLoading ${this.swap.tier}: ${elapsed} s${of}`,
        severity: "busy",
        swap: { tier: this.swap.tier, elapsed, expected: this.swap.expected },
      };
    }
    if (this.failure) {
      return { text: `$(warning) Variet: ${this.loaded ?? "no tier"} · ${this.failure.tier} ${this.failure.what}${queue}`,
               tooltip, severity: "warning" };
    }
    if (this.state === "draining") {
      return { text: `$(sync~spin) Variet: ${this.loaded} finishing${queue}`, tooltip, severity: "busy" };
    }
    if (!this.loaded) return { text: `$(circle-outline) Variet: no tier loaded${queue}`, tooltip, severity: "normal" };
    return { text: `$(server-process) Variet: ${this.loaded}${queue}`, tooltip, severity: "normal" };
  }
}
