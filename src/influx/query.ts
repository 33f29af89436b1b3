/**
 * Queries for Thing scripts: Flux through the official client (v2 `/api/v2/query`), InfluxQL through
 * the v1 `/query` endpoint (1.x, and 2.x / 3 through their v1 compatibility API), and helpers
 * (`meanValue`, `aggregateValue`, `recentValues`) that build their queries from names and numbers
 * with the client's Flux sanitiser or with InfluxQL bound parameters and quoted identifiers —
 * never by pasting a name into the query text.
 */
import { InfluxDB, flux, fluxExpression, type ParameterizedQuery } from "@influxdata/influxdb-client";
import type { InfluxOptions } from "./options";
import { decodeName, encodeMeasurement, encodeName, typedFieldName } from "./points";
import { quoteIdentifier, serverReason } from "./transport";
import { VoError, VoInputError, errorMessage } from "../errors";

export type Row = Record<string, unknown>;

/** A thing as helpers accept it: an id or a title (string), or an object with `id` / `title`. */
export type ThingRef = string | { id?: string; title?: string };

export const AGGREGATES = ["mean", "min", "max", "sum", "count", "first", "last"] as const;
export type Aggregate = (typeof AGGREGATES)[number];

export interface HelperOptions {
  /** Affordance kind whose value is aggregated: `property` (default) or `event`. */
  kind?: "property" | "event";
  /** For object values: dotted path of the numeric leaf (`"pm.pm25"`). */
  field?: string;
}

export interface InfluxQLOptions {
  /** Database (v1) / DBRP-mapped database (v2, 3); default: `database` (v1) or `bucket` (v2). */
  db?: string;
  rp?: string;
  /** `ns`, `u`, `ms`, `s`…: numeric times; default RFC3339 strings (exact to the nanosecond). */
  epoch?: string;
}

export class InfluxQueryError extends VoError {
  constructor(message: string) {
    super(message, "VO_INFLUX_QUERY");
    this.name = "InfluxQueryError";
  }
}

export class Queries {
  private client: InfluxDB | undefined;

  constructor(private readonly options: InfluxOptions) {}

  get language(): "flux" | "influxql" {
    const l = this.options.queryLanguage;
    if (l === "flux" || l === "influxql") return l;
    return this.options.apiVersion === 1 ? "influxql" : "flux";
  }

  private fluxClient(): InfluxDB {
    if (this.client === undefined) {
      const { apiVersion, username, password, token } = this.options;
      this.client = new InfluxDB({
        url: this.options.url.replace(/\/+$/, ""),
        // InfluxDB 1.8+ takes "user:password" as the token of its v2 compatibility API.
        token: apiVersion === 1 && (username || password) ? `${username ?? ""}:${password ?? ""}` : token,
        timeout: this.options.timeoutMs,
      });
    }
    return this.client;
  }

  /** Runs Flux; rows as objects (`_time`, `_value`, `_field`, `_measurement`, tags…). */
  async flux(query: string | ParameterizedQuery): Promise<Row[]> {
    const org = this.options.apiVersion === 1 ? "" : this.options.org;
    try {
      return await this.fluxClient().getQueryApi(org).collectRows<Row>(query);
    } catch (err) {
      const body = (err as { body?: string }).body;
      throw new InfluxQueryError(`Flux query failed: ${serverReason(body, errorMessage(err))}`);
    }
  }

  /**
   * Runs InfluxQL through `/query`. `params` bind `$name` placeholders (values never enter the
   * query text). Rows of every series of every statement, with the series' tags and `_measurement`.
   */
  async influxql(
    query: string,
    params?: Record<string, unknown>,
    opts: InfluxQLOptions = {},
  ): Promise<Row[]> {
    if (typeof query !== "string" || query.trim() === "") {
      throw new VoInputError("influxql(query, params?): query must be a non-empty InfluxQL string");
    }
    const body = new URLSearchParams({ q: query });
    const db = opts.db ?? (this.options.apiVersion === 1 ? this.options.database : this.options.bucket);
    if (db) body.set("db", db);
    const rp = opts.rp ?? this.options.retentionPolicy;
    if (rp) body.set("rp", rp);
    if (opts.epoch) body.set("epoch", opts.epoch);
    if (params && Object.keys(params).length > 0) body.set("params", JSON.stringify(params));
    const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
    const { username, password, token } = this.options;
    if (this.options.apiVersion === 2 && token) headers.Authorization = `Token ${token}`;
    else if (username !== undefined || password !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${username ?? ""}:${password ?? ""}`).toString("base64")}`;
    }
    let res: Response;
    try {
      res = await fetch(`${this.options.url.replace(/\/+$/, "")}/query`, {
        method: "POST",
        body,
        headers,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw new InfluxQueryError(
        `InfluxQL query failed: no answer from ${this.options.url}: ${errorMessage(cause ?? err)}`,
      );
    }
    const text = await res.text();
    let json: InfluxQLResponse;
    try {
      json = JSON.parse(text) as InfluxQLResponse;
    } catch {
      throw new InfluxQueryError(`InfluxQL query failed: ${res.status} ${text.slice(0, 500)}`);
    }
    if (!res.ok || json.error) {
      throw new InfluxQueryError(`InfluxQL query failed: ${res.status} ${json.error ?? text.slice(0, 500)}`);
    }
    const rows: Row[] = [];
    for (const result of json.results ?? []) {
      if (result.error) throw new InfluxQueryError(`InfluxQL query failed: ${result.error}`);
      for (const s of result.series ?? []) {
        for (const values of s.values ?? []) {
          const row: Row = { _measurement: s.name, ...(s.tags ?? {}) };
          s.columns.forEach((c, i) => (row[c] = values[i]));
          rows.push(row);
        }
      }
    }
    return rows;
  }

  /** Mean of the numeric values of one affordance over the last `windowMs`; null when none. */
  meanValue(
    thing: ThingRef,
    property: string,
    windowMs: number,
    opts?: HelperOptions,
  ): Promise<number | null> {
    return this.aggregateValue(thing, property, "mean", windowMs, opts) as Promise<number | null>;
  }

  /** One aggregate (mean, min, max, sum, count, first, last) over the last `windowMs`. */
  async aggregateValue(
    thing: ThingRef,
    property: string,
    fn: Aggregate,
    windowMs: number,
    opts: HelperOptions = {},
  ): Promise<number | null> {
    if (!AGGREGATES.includes(fn)) {
      throw new VoInputError(`aggregate must be one of ${AGGREGATES.join(", ")}, got ${JSON.stringify(fn)}`);
    }
    const target = this.target(thing, property, windowMs, opts);
    return this.orNone(null, () => this.aggregate(target, fn));
  }

  private async aggregate(target: Target, fn: Aggregate): Promise<number | null> {
    if (this.language === "flux") {
      const tail =
        fn === "first" || fn === "last"
          ? flux`|> sort(columns: ["_time"]) |> ${fluxExpression(fn)}()`
          : flux`|> ${fluxExpression(fn)}()`;
      const rows = await this.flux(flux`${this.fluxSelect(target)} |> toFloat() |> group() ${tail}`);
      const v = rows[0]?._value;
      return typeof v === "number" ? v : null;
    }
    const where = this.influxqlWhere(target);
    const [f1, f2] = target.numericFields.map(quoteIdentifier);
    if (fn === "first" || fn === "last") {
      const order = fn === "first" ? "ASC" : "DESC";
      const rows = await this.influxql(
        `SELECT ${target.numericFields.map(quoteIdentifier).join(", ")} FROM ${target.measurementQ} WHERE ${where.text} ORDER BY time ${order} LIMIT 1`,
        where.params,
        { db: target.db },
      );
      for (const r of rows) {
        for (const f of target.numericFields) if (typeof r[f] === "number") return r[f] as number;
      }
      return null;
    }
    const select = f2
      ? `count(${f1}), sum(${f1}), min(${f1}), max(${f1}), count(${f2}), sum(${f2}), min(${f2}), max(${f2})`
      : `count(${f1}), sum(${f1}), min(${f1}), max(${f1})`;
    const rows = await this.influxql(
      `SELECT ${select} FROM ${target.measurementQ} WHERE ${where.text}`,
      where.params,
      { db: target.db, epoch: "ns" },
    );
    const r = rows[0];
    if (!r) return null;
    const num = (k: string) => (typeof r[k] === "number" ? (r[k] as number) : undefined);
    const parts = f2 ? ["", "_1"] : [""];
    let count = 0;
    let sum = 0;
    let min: number | undefined;
    let max: number | undefined;
    for (const p of parts) {
      const c = num("count" + p) ?? 0;
      if (c === 0) continue;
      count += c;
      sum += num("sum" + p) ?? 0;
      const lo = num("min" + p);
      const hi = num("max" + p);
      if (lo !== undefined) min = min === undefined ? lo : Math.min(min, lo);
      if (hi !== undefined) max = max === undefined ? hi : Math.max(max, hi);
    }
    if (fn === "count") return count;
    if (count === 0) return null;
    switch (fn) {
      case "mean":
        return sum / count;
      case "sum":
        return sum;
      case "min":
        return min ?? null;
      default:
        return max ?? null;
    }
  }

  /** The newest values of one affordance within `windowMs`, newest first: `{ time, value }`. */
  async recentValues(
    thing: ThingRef,
    property: string,
    windowMs: number,
    limit = 100,
    opts: HelperOptions = {},
  ): Promise<{ time: string; value: unknown }[]> {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) {
      throw new VoInputError(`limit must be an integer from 1 to 100000, got ${limit}`);
    }
    const target = this.target(thing, property, windowMs, opts);
    return this.orNone([], () => this.recent(target, limit));
  }

  private async recent(target: Target, limit: number): Promise<{ time: string; value: unknown }[]> {
    if (this.language === "flux") {
      const rows = await this.flux(
        flux`${this.fluxSelect(target, target.allFields)} |> group() |> sort(columns: ["_time"], desc: true) |> limit(n: ${limit})`,
      );
      return rows.map((r) => ({ time: String(r._time), value: fromField(String(r._field), r._value) }));
    }
    const where = this.influxqlWhere(target);
    const rows = await this.influxql(
      `SELECT ${target.allFields.map(quoteIdentifier).join(", ")} FROM ${target.measurementQ} WHERE ${where.text} ORDER BY time DESC LIMIT ${limit}`,
      where.params,
      { db: target.db },
    );
    return rows.map((r) => {
      const f = target.allFields.find((k) => r[k] !== null && r[k] !== undefined);
      return { time: String(r.time), value: f === undefined ? null : fromField(f, r[f]) };
    });
  }

  // -------------------------------------------------------------------------------------------

  /**
   * vo-wot layout: a property never written has no database (v1) / bucket (v2) yet, which means
   * "no values", as a property without points in the tagged layout. Elsewhere a missing database
   * is a configuration error and is reported.
   */
  private async orNone<T>(none: T, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (this.options.layout === "vo-wot" && err instanceof InfluxQueryError && MISSING.test(err.message)) {
        return none;
      }
      throw err;
    }
  }

  private target(thing: ThingRef, property: string, windowMs: number, opts: HelperOptions): Target {
    if (typeof property !== "string" || property === "") {
      throw new VoInputError("the property (affordance name) must be a non-empty string");
    }
    if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
      throw new VoInputError(`the window must be a positive number of milliseconds, got ${windowMs}`);
    }
    const kind = opts.kind ?? "property";
    if (kind !== "property" && kind !== "event") {
      throw new VoInputError(`kind must be "property" or "event", got ${JSON.stringify(kind)}`);
    }
    const from = Date.now() - Math.floor(windowMs);
    const path = opts.field;
    if (path !== undefined && (typeof path !== "string" || path === "")) {
      throw new VoInputError("field must be a non-empty dotted path");
    }
    if (this.options.layout === "vo-wot") {
      const base = path ?? "value";
      return {
        db: encodeName(property),
        bucket: encodeName(property),
        measurement: encodeMeasurement(property),
        measurementQ: quoteIdentifier(encodeMeasurement(property)),
        numericFields: [encodeName(base)],
        allFields: [encodeName(base)],
        from,
      };
    }
    const base = path === undefined ? (kind === "property" ? "value" : "value") : `value.${path}`;
    const ref = thingRef(thing);
    const measurement = encodeMeasurement(this.options.measurementPrefix + kind);
    return {
      db: this.options.apiVersion === 1 ? this.options.database : this.options.bucket,
      bucket: this.options.bucket,
      measurement,
      measurementQ: quoteIdentifier(measurement),
      numericFields: [typedFieldName(base, "float"), typedFieldName(base, "int")].map(encodeName),
      allFields: [
        typedFieldName(base, "float"),
        typedFieldName(base, "int"),
        typedFieldName(base, "bool"),
        typedFieldName(base, "str"),
        typedFieldName(base, "json"),
      ].map(encodeName),
      name: encodeName(property),
      thing: ref,
      from,
    };
  }

  private influxqlWhere(t: Target): { text: string; params: Record<string, string> } {
    const clauses: string[] = [];
    const params: Record<string, string> = {};
    if (t.name !== undefined) {
      clauses.push(`"name" = $name`);
      params.name = t.name;
    }
    if (t.thing?.id !== undefined) {
      clauses.push(`"thing_id" = $thing`);
      params.thing = t.thing.id;
    } else if (t.thing?.either !== undefined) {
      clauses.push(`("thing_id" = $thing OR "thing" = $thing)`);
      params.thing = t.thing.either;
    } else if (t.thing?.title !== undefined) {
      clauses.push(`"thing" = $thing`);
      params.thing = t.thing.title;
    }
    // Refused writes are not readings. Points of this version keep them out of the value fields;
    // this also skips those of earlier versions, which wrote them there with ok = false.
    if (t.name !== undefined) clauses.push(`"ok" = true`);
    clauses.push(`time >= ${BigInt(t.from) * 1_000_000n}`);
    return { text: clauses.join(" AND "), params };
  }

  private fluxSelect(t: Target, fields = t.numericFields): ParameterizedQuery {
    const start = new Date(t.from);
    let q = flux`from(bucket: ${t.bucket}) |> range(start: ${start}) |> filter(fn: (r) => r._measurement == ${t.measurement})`;
    if (t.name !== undefined) q = flux`${q} |> filter(fn: (r) => r.name == ${t.name})`;
    if (t.thing?.id !== undefined) q = flux`${q} |> filter(fn: (r) => r.thing_id == ${t.thing.id})`;
    else if (t.thing?.either !== undefined) {
      q = flux`${q} |> filter(fn: (r) => r.thing_id == ${t.thing.either} or r.thing == ${t.thing.either})`;
    } else if (t.thing?.title !== undefined) q = flux`${q} |> filter(fn: (r) => r.thing == ${t.thing.title})`;
    const [first, ...rest] = fields;
    let cond = flux`r._field == ${first}`;
    for (const f of rest) cond = flux`${cond} or r._field == ${f}`;
    return flux`${q} |> filter(fn: (r) => ${cond})`;
  }
}

/** A query on a database (1.x) or bucket (2.x) that does not exist. */
const MISSING = /database not found|could not find bucket|bucket "[^"]*" not found/i;

interface Target {
  db: string;
  bucket: string;
  measurement: string;
  measurementQ: string;
  numericFields: string[];
  allFields: string[];
  name?: string;
  thing?: { id?: string; title?: string; either?: string };
  from: number;
}

interface InfluxQLResponse {
  error?: string;
  results?: {
    error?: string;
    series?: { name: string; tags?: Record<string, string>; columns: string[]; values?: unknown[][] }[];
  }[];
}

function thingRef(thing: ThingRef): { id?: string; title?: string; either?: string } {
  if (typeof thing === "string" && thing !== "") return { either: encodeName(thing) };
  if (thing !== null && typeof thing === "object") {
    if (typeof thing.id === "string" && thing.id !== "") return { id: encodeName(thing.id) };
    if (typeof thing.title === "string" && thing.title !== "") return { title: encodeName(thing.title) };
  }
  throw new VoInputError(
    "the thing must be its id or title (a non-empty string), or an object with id or title",
  );
}

/** A typed field's value back as the interaction's value (`*_json` is parsed). */
function fromField(field: string, value: unknown): unknown {
  if (decodeName(field).endsWith("_json") && typeof value === "string") {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}
