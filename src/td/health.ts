/**
 * Stopping is never silent: a `voHealth` property on every TD says whether recording commits or
 * fails (and why, since when), how the InfluxDB outbox stands (backlog, shipped, dropped, dead
 * letters, last error), and whether the SQLite file was found corrupt at start and moved aside;
 * a `voHealthChanged` event fires when recording or shipping stops and when it resumes.
 *
 * The room needs only the small `HealthHost` below; the composition root passes the plugin's parts.
 */
import path from "node:path";
import type { ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import type { StoreHealth } from "../store/history";
import { PLUGIN_ANNOTATION } from "../types";
import { createLogger } from "../log";
import { errorMessage } from "../errors";
import { guarded } from "../node-wot/request-context";

const log = createLogger("health");

export const VO_HEALTH = "voHealth";
export const VO_HEALTH_CHANGED = "voHealthChanged";

/** What the health view reads; every field is a plain snapshot. */
export interface HealthHost {
  recorder(): StoreHealth;
  /** Records waiting for the next group commit. */
  pending(): number;
  shipping(): {
    configured: boolean;
    state?: string;
    queued: number;
    shipped: number;
    dropped: number;
    deadLettered: number;
    lastError?: string;
    lastErrorAt?: string;
    lastShippedAt?: string;
  };
  /** Set when the SQLite file failed its check at start and was replaced by a fresh one. */
  movedAside(): { movedTo: string; reason: string; at: number } | undefined;
  /** Subscribes to recorder state changes; returns the unsubscribe function. */
  onRecorderChange(listener: () => void): () => void;
}

export type HealthComponent = "recording" | "shipping";

export interface HealthChange {
  component: HealthComponent;
  state: "stopped" | "resumed";
  at: string;
  error?: string;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const nullableString = { oneOf: [{ type: "string" }, { type: "null" }] };

export function healthAffordances(): {
  properties: Record<string, unknown>;
  events: Record<string, unknown>;
} {
  return {
    properties: {
      [VO_HEALTH]: {
        title: "VO health",
        description:
          "Whether recording commits or fails, the InfluxDB outbox (backlog, shipped, dropped, dead letters, last error) and whether the SQLite file was moved aside at start. Added by node-wot-vo.",
        type: "object",
        properties: {
          ok: {
            type: "boolean",
            description: "recording commits and shipping (when configured) is not down",
          },
          recorder: {
            type: "object",
            properties: {
              state: { type: "string", enum: ["committing", "failing"] },
              since: { type: "string", format: "date-time" },
              committed: { type: "integer", description: "records committed since start" },
              pending: { type: "integer" },
              failedBatches: { type: "integer" },
              lastCommitAt: nullableString,
              lastError: nullableString,
              lastErrorAt: nullableString,
            },
          },
          shipping: {
            type: "object",
            properties: {
              configured: { type: "boolean" },
              state: { type: "string", description: "off, starting, up, down, recovering" },
              queued: { type: "integer" },
              shipped: { type: "integer" },
              dropped: { type: "integer" },
              deadLettered: { type: "integer" },
              lastShippedAt: nullableString,
              lastError: nullableString,
              lastErrorAt: nullableString,
            },
          },
          store: {
            type: "object",
            properties: {
              movedAside: {
                oneOf: [
                  { type: "null" },
                  {
                    type: "object",
                    properties: {
                      file: { type: "string" },
                      reason: { type: "string" },
                      at: { type: "string" },
                    },
                  },
                ],
                description: "the SQLite file failed its check at start and was moved aside",
              },
            },
          },
        },
        readOnly: true,
        writeOnly: false,
        observable: false,
        [PLUGIN_ANNOTATION]: true,
        forms: [],
      },
    },
    events: {
      [VO_HEALTH_CHANGED]: {
        title: "VO health changed",
        description:
          "Emitted when recording or shipping to InfluxDB stops, and when it resumes (state changes only). Added by node-wot-vo.",
        data: {
          type: "object",
          properties: {
            component: { type: "string", enum: ["recording", "shipping"] },
            state: { type: "string", enum: ["stopped", "resumed"] },
            at: { type: "string", format: "date-time" },
            error: { type: "string" },
          },
          required: ["component", "state", "at"],
        },
        [PLUGIN_ANNOTATION]: true,
        forms: [],
      },
    },
  };
}

/** The health view as the property returns it. */
export function healthView(host: HealthHost): Record<string, unknown> {
  const r = host.recorder();
  const s = host.shipping();
  const moved = host.movedAside();
  const shippingState = s.configured ? (s.state ?? "starting") : "off";
  return {
    ok: r.state === "committing" && shippingState !== "down",
    recorder: {
      state: r.state,
      since: iso(r.since),
      committed: r.committed,
      pending: host.pending(),
      failedBatches: r.failedBatches,
      lastCommitAt: iso(r.lastCommitAt),
      lastError: r.lastError ?? null,
      lastErrorAt: iso(r.lastErrorAt),
    },
    shipping: {
      configured: s.configured,
      state: shippingState,
      queued: s.queued,
      shipped: s.shipped,
      dropped: s.dropped,
      deadLettered: s.deadLettered,
      lastShippedAt: s.lastShippedAt ?? null,
      lastError: s.lastError ?? null,
      lastErrorAt: s.lastErrorAt ?? null,
    },
    store: {
      movedAside: moved
        ? // The name only: the host's directory layout is none of a remote client's business.
          { file: path.basename(moved.movedTo), reason: moved.reason, at: new Date(moved.at).toISOString() }
        : null,
    },
  };
}

/**
 * Watches recording (pushed by the store) and shipping (polled: the shipper's state is a field)
 * and emits `voHealthChanged` on every thing that has the event, once per change.
 */
export class HealthMonitor {
  private readonly things = new Set<ExposedThing>();
  private recording: "committing" | "failing";
  private shippingDown: boolean;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly host: HealthHost,
    private readonly pollMs = 1000,
  ) {
    this.recording = host.recorder().state;
    this.shippingDown = host.shipping().state === "down";
  }

  /** Gives the thing the health property's handler and the event (when it has them). */
  attach(thing: ExposedThing): void {
    const props = thing.properties as Record<string, Record<string, unknown> | undefined>;
    if (props[VO_HEALTH]?.[PLUGIN_ANNOTATION] === true)
      thing.setPropertyReadHandler(VO_HEALTH, () =>
        guarded(() => healthView(this.host) as unknown as WoT.InteractionInput),
      );
    const events = thing.events as Record<string, Record<string, unknown> | undefined>;
    if (events[VO_HEALTH_CHANGED]?.[PLUGIN_ANNOTATION] === true) this.things.add(thing);
  }

  /** Forgets a thing (destroyed). */
  detach(thing: ExposedThing): void {
    this.things.delete(thing);
  }

  start(): void {
    this.unsubscribe ??= this.host.onRecorderChange(() => this.check());
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Compares the current states with the last seen ones; emits on a change. */
  check(): void {
    const r = this.host.recorder();
    if (r.state !== this.recording) {
      this.recording = r.state;
      this.emit({
        component: "recording",
        state: r.state === "failing" ? "stopped" : "resumed",
        at: new Date().toISOString(),
        ...(r.state === "failing" && r.lastError ? { error: r.lastError } : {}),
      });
    }
    const s = this.host.shipping();
    const down = s.configured && s.state === "down";
    if (down !== this.shippingDown) {
      this.shippingDown = down;
      this.emit({
        component: "shipping",
        state: down ? "stopped" : "resumed",
        at: new Date().toISOString(),
        ...(down && s.lastError ? { error: s.lastError } : {}),
      });
    }
  }

  private emit(change: HealthChange): void {
    log.info("%s %s%s", change.component, change.state, change.error ? `: ${change.error}` : "");
    for (const thing of this.things) {
      try {
        thing.emitEvent(VO_HEALTH_CHANGED, change as unknown as WoT.InteractionInput);
      } catch (err) {
        log.warn("could not emit %s on '%s': %s", VO_HEALTH_CHANGED, thing.title, errorMessage(err));
      }
    }
  }
}
