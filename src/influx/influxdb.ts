/**
 * `servient.influxdb`: the InfluxDB helper of a servient. This file holds the public surface; when
 * InfluxDB is not configured every call fails with an error that says how to configure it.
 */
import type { HistoryStore } from "../store/history";
import type { SqliteDatabase } from "../store/database";
import type { InfluxOptions } from "./options";
import { VoError } from "../errors";

export class InfluxNotConfiguredError extends VoError {
  constructor(method: string) {
    super(
      `influxdb.${method}(): InfluxDB is not configured for this servient. Set "influxdb": ` +
        `{ "enabled": true, "url": "http://host:8086", "token": "…", "org": "…", "bucket": "…" } in the ` +
        `options (apiVersion 1: "database", "username", "password"), or NODE_WOT_VO_INFLUX_ENABLED=true with ` +
        "NODE_WOT_VO_INFLUX_URL / NODE_WOT_VO_INFLUX_TOKEN. See docs/influxdb.md.",
      "VO_INFLUX_NOT_CONFIGURED",
    );
    this.name = "InfluxNotConfiguredError";
  }
}

export interface InfluxStatus {
  configured: boolean;
  connected: boolean;
  queued: number;
  shipped: number;
  dropped: number;
  deadLettered: number;
  lastError?: string;
  lastErrorAt?: string;
}

export class InfluxDb {
  constructor(
    readonly options: InfluxOptions,
    private readonly history: HistoryStore,
    private readonly db: SqliteDatabase,
  ) {}

  get configured(): boolean {
    return this.options.enabled;
  }

  /** Starts shipping (called when the servient starts). */
  async start(): Promise<void> {
    if (!this.configured) return;
  }

  /** Stops shipping; flushes the outbox within `shutdownFlushMs`. */
  async stop(): Promise<void> {
    if (!this.configured) return;
  }

  /** Highest history id that is safe to delete (shipped); undefined when nothing is shipped here. */
  shippedUpTo(): number | undefined {
    return undefined;
  }

  status(): InfluxStatus {
    return {
      configured: this.configured,
      connected: false,
      queued: 0,
      shipped: 0,
      dropped: 0,
      deadLettered: 0,
    };
  }

  /** Runs a Flux query; rows as objects (vo-wot `execute_query`). */
  async executeQuery(_flux: string): Promise<Record<string, unknown>[]> {
    this.require("executeQuery");
    return [];
  }

  protected require(method: string): void {
    if (!this.configured) throw new InfluxNotConfiguredError(method);
    void this.history;
    void this.db;
  }
}
