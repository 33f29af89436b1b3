/**
 * `servient.influxdb`: the InfluxDB helper of a servient — the durable shipper of the history, the
 * query API for Thing scripts, and its status. When InfluxDB is not configured every call fails with
 * an error that says how to configure it.
 */
import {
  flux,
  fluxDuration,
  fluxExpression,
  fluxInteger,
  fluxFloat,
  fluxString,
  type ParameterizedQuery,
} from "@influxdata/influxdb-client";
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import type { HistoryStore } from "../store/history";
import type { SqliteDatabase } from "../store/database";
import type { AffordanceKind } from "../types";
import type { InfluxOptions } from "./options";
import { VoError, VoInputError, errorMessage } from "../errors";
import { createLogger } from "../log";
import {
  PointLayout,
  SCRIPT_POINT_KIND,
  SCRIPT_POINT_THING,
  decodeName,
  typeTreeOf,
  type AffordanceTypes,
  type FieldType,
  type FieldTypeMemory,
  type SeriesKey,
} from "./points";
import { Shipper, type DeadLetter } from "./shipper";
import { V1Transport, V2Transport, type Transport } from "./transport";
import {
  Queries,
  type Aggregate,
  type HelperOptions,
  type InfluxQLOptions,
  type Row,
  type ThingRef,
} from "./query";

const log = createLogger("influx");

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
  /** The last request to the server succeeded. */
  connected: boolean;
  /** Committed records not yet shipped. */
  queued: number;
  /** Records accepted by the server (since the SQLite file was created). */
  shipped: number;
  /** Unshipped records dropped because the outbox was full. */
  dropped: number;
  /** Records the server rejected as malformed (see `deadLetters()`). */
  deadLettered: number;
  lastError?: string;
  lastErrorAt?: string;
  /** `starting`, `up`, `down` (failing, retrying with backoff), `recovering` (shipping the backlog). */
  state?: string;
  lastShippedAt?: string;
}

/** What the layout needs of a thing: its affordances' data schemas (an ExposedThing fits). */
export interface ThingSchemas {
  properties?: Record<string, unknown>;
  actions?: Record<string, { input?: unknown; output?: unknown } | undefined>;
  events?: Record<string, { data?: unknown } | undefined>;
}

/** Field values of `writePoint`: numbers are written as floats, so a field's type never flips. */
export type PointFields = Record<string, number | boolean | string>;

const SCHEMA_RETRY_MS = 5000;

function affordancesOf(thing: ThingSchemas, kind: "property" | "action" | "event"): object | undefined {
  return kind === "property" ? thing.properties : kind === "action" ? thing.actions : thing.events;
}

/** The type trees of one affordance of a thing, or undefined when its schema gives none. */
function typesIn(thing: ThingSchemas, kind: string, name: string): AffordanceTypes | undefined {
  let types: AffordanceTypes;
  if (kind === "property") types = { value: typeTreeOf(thing.properties?.[name]) };
  else if (kind === "event") types = { value: typeTreeOf(thing.events?.[name]?.data) };
  else {
    const a = thing.actions?.[name];
    types = { value: typeTreeOf(a?.input), output: typeTreeOf(a?.output) };
  }
  return types.value === undefined && types.output === undefined ? undefined : types;
}

export class InfluxDb {
  private readonly shipper: Shipper | undefined;
  private readonly queries: Queries | undefined;
  private readonly layout: PointLayout | undefined;
  private readonly transport: Transport | undefined;
  private thingLookup: ((thingId: string) => ThingSchemas | undefined) | undefined;
  private readonly schemaCache = new Map<
    string | number,
    { types: AffordanceTypes | undefined; live: boolean; at: number }
  >();
  private started = false;

  constructor(
    readonly options: InfluxOptions,
    private readonly history: HistoryStore,
    private readonly db: SqliteDatabase,
  ) {
    if (!options.enabled) return;
    const transport: Transport =
      options.apiVersion === 1 ? new V1Transport(options) : new V2Transport(options);
    this.layout = new PointLayout(options, (row) => this.typesOf(row), this.fieldMemory());
    this.transport = transport;
    this.shipper = new Shipper(db, history, this.layout, transport, options);
    this.queries = new Queries(options);
  }

  get configured(): boolean {
    return this.options.enabled;
  }

  /**
   * Lets the layout read the TD data schemas of the things (integer → integer field, nested
   * object members…). The plugin calls it with `(id) => servient.getThing(id)`.
   */
  useThings(lookup: (thingId: string) => ThingSchemas | undefined): void {
    this.thingLookup = lookup;
    this.schemaCache.clear();
  }

  /**
   * Remembers the data schemas of a thing's affordances in SQLite, whether or not InfluxDB is
   * enabled, so a backlog shipped later — before the scripts expose their things again, or after
   * InfluxDB is switched on for an existing history — gets the same field types as a live ship.
   * The plugin calls it when a thing is added and when it is exposed. Never throws: a schema that
   * cannot be saved only means that thing's integers may ship as floats while it is not exposed.
   */
  rememberThing(thing: ThingSchemas & { id?: string; title?: string }): void {
    try {
      if (typeof thing.id !== "string" || thing.id === "") return;
      this.saveSchemas ??= this.db.transaction((t: ThingSchemas & { id: string }) => {
        const { select, upsert } = this.schemaStatements();
        for (const kind of ["property", "action", "event"] as const) {
          for (const name of Object.keys(affordancesOf(t, kind) ?? {})) {
            const types = typesIn(t, kind, name);
            if (types === undefined) continue;
            const text = JSON.stringify(types);
            const stored = select.get(t.id, kind, name) as { schema: string } | undefined;
            if (stored?.schema !== text) upsert.run(t.id, kind, name, text);
          }
        }
      });
      this.saveSchemas(thing as ThingSchemas & { id: string });
      this.schemaCache.clear();
    } catch (err) {
      log.warn(
        "could not save the data schemas of thing '%s' for InfluxDB field types: %s",
        thing.title ?? thing.id,
        errorMessage(err),
      );
    }
  }

  private saveSchemas: ((thing: ThingSchemas & { id: string }) => void) | undefined;

  /** Starts shipping (called when the servient starts); resumes from the persisted cursor. */
  async start(): Promise<void> {
    if (!this.shipper || this.started) return;
    this.started = true;
    this.shipper.start();
    const shipper = this.shipper;
    void this.transport!.ping().then((ok) => shipper.reachable(ok));
    log.info(
      "shipping the history to %s (API v%d, %s layout); %d records queued",
      this.options.url,
      this.options.apiVersion,
      this.options.layout,
      this.shipper.queued,
    );
  }

  /** Stops shipping; flushes the outbox within `shutdownFlushMs`. */
  async stop(): Promise<void> {
    if (!this.shipper) return;
    await this.shipper.stop(this.options.shutdownFlushMs);
  }

  /** Highest history id that is safe to delete (shipped); undefined when nothing is shipped here. */
  shippedUpTo(): number | undefined {
    return this.shipper?.cursor;
  }

  status(): InfluxStatus {
    const s = this.shipper;
    if (!s) {
      return { configured: false, connected: false, queued: 0, shipped: 0, dropped: 0, deadLettered: 0 };
    }
    const status: InfluxStatus = {
      configured: true,
      connected: s.state === "up" || s.state === "recovering",
      queued: s.queued,
      shipped: s.shipped,
      dropped: s.dropped,
      deadLettered: s.deadLettered,
      state: s.state,
    };
    if (s.lastError !== undefined) status.lastError = s.lastError;
    if (s.lastErrorAt !== undefined) status.lastErrorAt = new Date(s.lastErrorAt).toISOString();
    if (s.lastShippedAt !== undefined) status.lastShippedAt = new Date(s.lastShippedAt).toISOString();
    return status;
  }

  /** Ships what is committed now, without waiting for the flush interval. True when all arrived. */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    const shipper = this.require("flush");
    this.history.flush();
    return shipper.flush(timeoutMs);
  }

  /** The newest dead letters: points the server rejected as malformed, with its reason. */
  deadLetters(limit = 100): DeadLetter[] {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new VoInputError("limit must be a positive integer");
    return this.require("deadLetters").deadLetters(limit);
  }

  // ------------------------------------------------------------------------------------------
  // Queries

  /** Runs a Flux query; rows as objects (vo-wot `execute_query`). */
  async executeQuery(query: string | ParameterizedQuery): Promise<Row[]> {
    this.require("executeQuery");
    return this.queries!.flux(query);
  }

  /**
   * Flux with the client's sanitiser, as a tagged template:
   * ``await influxdb.query`from(bucket: ${bucket}) |> range(start: ${since})` `` — every
   * interpolated value is escaped. Also takes a ParameterizedQuery built with `influxdb.flux`.
   */
  async query(strings: TemplateStringsArray | ParameterizedQuery, ...values: unknown[]): Promise<Row[]> {
    this.require("query");
    if (Array.isArray(strings) && "raw" in strings) {
      return this.queries!.flux(flux(strings as TemplateStringsArray, ...values));
    }
    if (typeof strings === "string") {
      throw new VoInputError(
        "influxdb.query takes a tagged template (influxdb.query`…${value}…`) or influxdb.flux`…`; " +
          "use executeQuery(text) for a finished Flux string",
      );
    }
    return this.queries!.flux(strings as ParameterizedQuery);
  }

  /** The client's Flux tag and sanitisers, for scripts that build queries in steps. */
  get flux(): {
    flux: typeof flux;
    fluxString: typeof fluxString;
    fluxInteger: typeof fluxInteger;
    fluxFloat: typeof fluxFloat;
    fluxDuration: typeof fluxDuration;
    fluxExpression: typeof fluxExpression;
  } {
    return { flux, fluxString, fluxInteger, fluxFloat, fluxDuration, fluxExpression };
  }

  /** InfluxQL through the v1 `/query` endpoint; `$name` placeholders bound from `params`. */
  async influxql(query: string, params?: Record<string, unknown>, opts?: InfluxQLOptions): Promise<Row[]> {
    this.require("influxql");
    return this.queries!.influxql(query, params, opts);
  }

  /** Mean of an affordance's numeric values over the last `windowMs` (vo-wot `mean_value`). */
  async meanValue(
    thing: ThingRef,
    property: string,
    windowMs: number,
    opts?: HelperOptions,
  ): Promise<number | null> {
    this.require("meanValue");
    return this.queries!.meanValue(thing, property, windowMs, opts);
  }

  /** mean, min, max, sum, count, first or last of an affordance's values over the last `windowMs`. */
  async aggregateValue(
    thing: ThingRef,
    property: string,
    fn: Aggregate,
    windowMs: number,
    opts?: HelperOptions,
  ): Promise<number | null> {
    this.require("aggregateValue");
    return this.queries!.aggregateValue(thing, property, fn, windowMs, opts);
  }

  /** The newest values of an affordance within `windowMs`, newest first. */
  async recentValues(
    thing: ThingRef,
    property: string,
    windowMs: number,
    limit?: number,
    opts?: HelperOptions,
  ): Promise<{ time: string; value: unknown }[]> {
    this.require("recentValues");
    return this.queries!.recentValues(thing, property, windowMs, limit, opts);
  }

  /** Names in InfluxDB are percent-encoded for `%`, `\`, CR, LF, TAB: this gives back the original. */
  decodeName(encoded: string): string {
    return decodeName(encoded);
  }

  // ------------------------------------------------------------------------------------------
  // Writes

  /**
   * Writes a script's own measurement through the same durable path (SQLite outbox, then InfluxDB).
   * `fields` is an object of numbers (written as floats), booleans and strings, or one value (field
   * `value`, as vo-wot's `write_point(key, value)`). Resolves once the point is committed locally.
   */
  async writePoint(
    measurement: string,
    fields: PointFields | number | boolean | string,
    tags: Record<string, string> = {},
    time?: Date | number,
  ): Promise<void> {
    this.require("writePoint");
    if (typeof measurement !== "string" || measurement === "") {
      throw new VoInputError(
        "writePoint(measurement, fields, tags?): measurement must be a non-empty string",
      );
    }
    const f: PointFields = typeof fields === "object" && fields !== null ? { ...fields } : { value: fields };
    const keys = Object.keys(f);
    if (keys.length === 0) throw new VoInputError("writePoint: at least one field is needed");
    for (const k of keys) {
      const v = f[k];
      const ok =
        (typeof v === "number" && Number.isFinite(v)) || typeof v === "boolean" || typeof v === "string";
      if (!ok || k === "") {
        throw new VoInputError(
          `writePoint: field '${k}' must have a finite number, a boolean or a string value, got ${typeof v}`,
        );
      }
    }
    if (tags === null || typeof tags !== "object")
      throw new VoInputError("writePoint: tags must be an object");
    for (const [k, v] of Object.entries(tags)) {
      if (typeof v !== "string") throw new VoInputError(`writePoint: tag '${k}' must be a string`);
    }
    const ms = time === undefined ? undefined : time instanceof Date ? time.getTime() : time;
    if (ms !== undefined && (!Number.isSafeInteger(ms) || ms < 0)) {
      throw new VoInputError("writePoint: time must be a Date or milliseconds since the epoch");
    }
    await this.history.append({
      thingId: SCRIPT_POINT_THING,
      thingTitle: "",
      kind: SCRIPT_POINT_KIND as AffordanceKind,
      name: measurement,
      op: "point",
      ok: true,
      valueJson: JSON.stringify({ fields: f, tags }),
      source: "local",
      time: ms,
    });
  }

  protected require(method: string): Shipper {
    if (!this.shipper) throw new InfluxNotConfiguredError(method);
    return this.shipper;
  }

  // ------------------------------------------------------------------------------------------
  // Schemas and field types (persisted, so the layout is stable across restarts)

  private typesOf(row: SeriesKey): AffordanceTypes | undefined {
    const kind = row.kind as string;
    if (kind !== "property" && kind !== "action" && kind !== "event") return undefined;
    const key = row.seriesId ?? `${kind}\u0000${row.thingId}\u0000${row.name}`;
    const now = Date.now();
    const cached = this.schemaCache.get(key);
    if (cached && (cached.live || now - cached.at < SCHEMA_RETRY_MS)) return cached.types;
    const live = this.fromThing(row.thingId, kind, row.name);
    const stored = this.schemaStatements().select.get(row.thingId, kind, row.name) as
      { schema: string } | undefined;
    if (live !== undefined) {
      const text = JSON.stringify(live);
      if (stored?.schema !== text) this.schemaStatements().upsert.run(row.thingId, kind, row.name, text);
      this.schemaCache.set(key, { types: live, live: true, at: now });
      return live;
    }
    // A thing not (yet) exposed (a backlog shipped at start-up): the schema stored when it was.
    const types = stored ? (JSON.parse(stored.schema) as AffordanceTypes) : undefined;
    this.schemaCache.set(key, { types, live: false, at: now });
    return types;
  }

  private schemaStmts: { select: Database.Statement; upsert: Database.Statement } | undefined;

  private schemaStatements(): { select: Database.Statement; upsert: Database.Statement } {
    this.schemaStmts ??= {
      select: this.db.prepare(
        "SELECT schema FROM wotvo_influx_schema WHERE thing_id = ? AND kind = ? AND name = ?",
      ),
      upsert: this.db.prepare(
        "INSERT INTO wotvo_influx_schema (thing_id, kind, name, schema) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (thing_id, kind, name) DO UPDATE SET schema = excluded.schema",
      ),
    };
    return this.schemaStmts;
  }

  private fromThing(thingId: string, kind: string, name: string): AffordanceTypes | undefined {
    if (!this.thingLookup) return undefined;
    let thing: ThingSchemas | undefined;
    try {
      thing = this.thingLookup(thingId);
    } catch {
      return undefined;
    }
    if (!thing) return undefined;
    return typesIn(thing, kind, name);
  }

  private fieldMemory(): FieldTypeMemory {
    const cache = new Map<string, FieldType>();
    const select = this.db.prepare(
      "SELECT type FROM wotvo_influx_field WHERE bucket = ? AND measurement = ? AND field = ?",
    );
    const insert = this.db.prepare(
      "INSERT INTO wotvo_influx_field (bucket, measurement, field, type) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    );
    return {
      get(bucket, measurement, field) {
        const key = `${bucket}\u0000${measurement}\u0000${field}`;
        let t = cache.get(key);
        if (t === undefined) {
          t = (select.get(bucket, measurement, field) as { type: FieldType } | undefined)?.type;
          if (t !== undefined) cache.set(key, t);
        }
        return t;
      },
      set(bucket, measurement, field, type) {
        insert.run(bucket, measurement, field, type);
        cache.set(`${bucket}\u0000${measurement}\u0000${field}`, type);
      },
    };
  }
}
