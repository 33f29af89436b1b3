/**
 * Prometheus metrics of a VO, in a registry of their own (never prom-client's global one, so two
 * servients in one process, or an application's own metrics, never collide).
 *
 * Everything but the two commit histograms is read at scrape time (`collect()`), so nothing runs
 * per interaction on behalf of the metrics; the histograms take one observation per group commit.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { HttpCounter, HttpCountersProvider } from "./http-counters";

/** What the metrics read of the plugin (a VoPlugin fits). */
export interface MetricsHost {
  history: {
    onCommit(listener: (records: number, commitMs: number) => void): () => void;
    health(): { state: string; committed: number; failedBatches: number };
    readonly pendingCount: number;
  };
  influxdb: {
    status(): {
      configured: boolean;
      queued: number;
      shipped: number;
      dropped: number;
      deadLettered: number;
      state?: string;
    };
  };
}

export const METRIC_PREFIX = "nodewotvo_";

/** Shipper states, each a series of `nodewotvo_shipper_state` (1 for the current one). */
export const SHIPPER_STATES = ["off", "starting", "up", "down", "recovering"] as const;

export interface VoMetrics {
  readonly registry: Registry;
  /** The text exposition (`GET /metrics`). */
  metrics(): Promise<string>;
  readonly contentType: string;
  /** Stops listening to commits. */
  close(): void;
}

/** A counter whose value is a total kept elsewhere, read at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, read: () => number): Counter<string> {
  return new Counter({
    name: METRIC_PREFIX + name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

export function createMetrics(host: MetricsHost, traffic?: HttpCountersProvider): VoMetrics {
  const registry = new Registry();
  const p = METRIC_PREFIX;

  // Per commit (the only metrics that observe anything outside a scrape).
  const commitSeconds = new Histogram({
    name: p + "commit_duration_seconds",
    help: "Duration of one SQLite group commit (one transaction holding every record of an event-loop turn).",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const commitRecords = new Histogram({
    name: p + "commit_records",
    help: "Records per SQLite group commit.",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384],
    registers: [registry],
  });
  const unsubscribe = host.history.onCommit((records, commitMs) => {
    commitSeconds.observe(commitMs / 1000);
    commitRecords.observe(records);
  });

  // Recording, read at scrape time.
  totalCounter(
    registry,
    "records_committed_total",
    "Records committed to the SQLite history since the VO started.",
    () => host.history.health().committed,
  );
  totalCounter(
    registry,
    "commit_failures_total",
    "Group commits that failed (disk full, I/O error) since the VO started; their interactions were answered with an error.",
    () => host.history.health().failedBatches,
  );
  new Gauge({
    name: p + "records_pending",
    help: "Records waiting for the next group commit.",
    registers: [registry],
    collect() {
      this.set(host.history.pendingCount);
    },
  });
  new Gauge({
    name: p + "recording_up",
    help: "1 while group commits succeed, 0 while they fail.",
    registers: [registry],
    collect() {
      this.set(host.history.health().state === "committing" ? 1 : 0);
    },
  });

  // Shipping to InfluxDB, read at scrape time.
  new Gauge({
    name: p + "outbox_backlog_records",
    help: "Committed records not yet shipped to InfluxDB (0 when shipping is off).",
    registers: [registry],
    collect() {
      this.set(host.influxdb.status().queued);
    },
  });
  totalCounter(
    registry,
    "points_shipped_total",
    "Records accepted by InfluxDB (since the SQLite file was created).",
    () => host.influxdb.status().shipped,
  );
  totalCounter(
    registry,
    "points_dropped_total",
    "Unshipped records dropped because the outbox was full.",
    () => host.influxdb.status().dropped,
  );
  totalCounter(
    registry,
    "points_dead_lettered_total",
    "Records InfluxDB rejected as malformed (kept as dead letters).",
    () => host.influxdb.status().deadLettered,
  );
  new Gauge({
    name: p + "shipper_state",
    help: `State of the InfluxDB shipper: 1 for the current state (${SHIPPER_STATES.join(", ")}), 0 for the others.`,
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const s = host.influxdb.status();
      const now = s.configured ? (s.state ?? "starting") : "off";
      for (const state of SHIPPER_STATES) this.set({ state }, state === now ? 1 : 0);
    },
  });

  // HTTP traffic per thing, read at scrape time.
  if (traffic) {
    const perThing = (name: string, help: string, pick: (c: HttpCounter) => number) =>
      new Counter({
        name: p + name,
        help,
        labelNames: ["thing"],
        registers: [registry],
        collect() {
          this.reset();
          for (const c of traffic.counters()) this.inc({ thing: c.unit }, pick(c));
        },
      });
    perThing("http_requests_total", "HTTP requests to the thing.", (c) => c.requests);
    perThing(
      "http_request_bytes_total",
      "Bytes of HTTP request bodies received for the thing.",
      (c) => c.bytesIn,
    );
    perThing(
      "http_response_bytes_total",
      "Bytes of HTTP responses (status line, headers and body) sent for the thing.",
      (c) => c.bytesOut,
    );
  }

  return {
    registry,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    close: unsubscribe,
  };
}
