/**
 * The history of recorded interactions: group-committed appends, range queries newest first,
 * windowed aggregates, and the reads the InfluxDB shipper needs. Nothing here knows about node-wot.
 *
 * Group commit: every record appended during one turn of the event loop joins the same batch; the
 * batch is written in one transaction on `setImmediate`, and every append of that batch resolves
 * when (and only when) the transaction has committed.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import type { AffordanceKind, HistoryRow, InteractionRecord, JsonValue, RecordOp } from "../types";
import { VoInputError, errorMessage } from "../errors";
import { createLogger } from "../log";

const log = createLogger("store");

export interface HistoryQuery {
  /** Thing id; or give `thingTitle`. */
  thingId?: string;
  thingTitle?: string;
  kind?: AffordanceKind;
  /** Affordance name; all affordances of the thing (and kind) when absent. */
  name?: string;
  /** Inclusive bounds, milliseconds since the epoch. */
  from?: number;
  to?: number;
  limit?: number;
  order?: "asc" | "desc";
}

export interface AggregateQuery extends HistoryQuery {
  /** Window length in milliseconds (fixed windows aligned to the epoch). */
  windowMs: number;
  /** For object values: dotted path of the numeric leaf to aggregate (`"pm.pm25"`). */
  field?: string;
}

export interface AggregateWindow {
  /** Window start and end (exclusive), milliseconds since the epoch. */
  start: number;
  end: number;
  /** Successful records in the window. */
  count: number;
  /** Over numeric values only; null when the window had none. */
  min: number | null;
  max: number | null;
  mean: number | null;
  first: JsonValue | null;
  last: JsonValue | null;
}

export interface SeriesInfo {
  id: number;
  thingId: string;
  thingTitle: string;
  kind: AffordanceKind;
  name: string;
}

export interface HistoryLimits {
  /** Largest `limit` a query may ask for. */
  maxLimit: number;
  /** `limit` when the query gives none. */
  defaultLimit: number;
  /** Most windows an aggregate may return. */
  maxWindows: number;
}

interface Batch {
  records: InteractionRecord[];
  times: number[];
  subs: number[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

const ROWS_PER_INSERT = 16;

export class HistoryStore {
  readonly limits: HistoryLimits;
  private batch: Batch | undefined;
  private lastTs = 0;
  private lastSub = -1;
  private pastSub = 999_999;
  private readonly seriesCache: Record<
    string,
    Map<string, Map<string, { id: number; title: string }>> | undefined
  > = {};
  private committed = 0;
  private transactions = 0;
  private closed = false;

  private readonly insertRow: Database.Statement;
  private readonly insertRows: Database.Statement;
  private readonly insertSeries: Database.Statement;
  private readonly selectSeries: Database.Statement;
  private readonly updateSeriesTitle: Database.Statement;
  private readonly writeBatch: (batch: Batch) => void;
  private readonly stmtCache = new Map<string, Database.Statement>();
  private readonly seriesInfo = new Map<number, SeriesInfo>();

  constructor(
    private readonly db: Database.Database,
    limits: Partial<HistoryLimits> = {},
  ) {
    this.limits = { maxLimit: 10_000, defaultLimit: 100, maxWindows: 10_000, ...limits };
    this.insertRow = db.prepare(
      `INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, output, error, duration_ms, source)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertSeries = db.prepare(
      "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    );
    this.selectSeries = db.prepare(
      "SELECT id, thing_title FROM wotvo_series WHERE thing_id = ? AND kind = ? AND name = ?",
    );
    this.updateSeriesTitle = db.prepare("UPDATE wotvo_series SET thing_title = ? WHERE id = ?");
    // Multi-row INSERTs: one statement per ROWS_PER_INSERT records roughly doubles throughput.
    const columns = "(series_id, ts, ts_sub, op, ok, value, output, error, duration_ms, source)";
    const placeholders = (n: number) =>
      Array.from({ length: n }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
    this.insertRows = db.prepare(
      `INSERT INTO wotvo_history ${columns} VALUES ${placeholders(ROWS_PER_INSERT)}`,
    );
    this.writeBatch = db.transaction((batch: Batch) => {
      const { records, times, subs } = batch;
      const args: unknown[] = new Array(10 * ROWS_PER_INSERT);
      let i = 0;
      for (; i + ROWS_PER_INSERT <= records.length; i += ROWS_PER_INSERT) {
        for (let j = 0; j < ROWS_PER_INSERT; j++) {
          this.bindRecord(args, j * 10, records[i + j], times[i + j], subs[i + j]);
        }
        this.insertRows.run(args);
      }
      const one: unknown[] = new Array(10);
      for (; i < records.length; i++) {
        this.bindRecord(one, 0, records[i], times[i], subs[i]);
        this.insertRow.run(one);
      }
    });
    // Resume the stamp sequence where the file left it. Live records are stamped monotonically,
    // so the newest stamp is among the last rows by id (back-dated script points come after it
    // with smaller times); looking at the last 1000 rows covers that without a time index.
    const last = db
      .prepare(
        `SELECT ts, ts_sub FROM (SELECT ts, ts_sub FROM wotvo_history ORDER BY id DESC LIMIT 1000)
         ORDER BY ts DESC, ts_sub DESC LIMIT 1`,
      )
      .get() as { ts: number; ts_sub: number } | undefined;
    if (last) {
      this.lastTs = last.ts;
      this.lastSub = last.ts_sub;
    }
  }

  /**
   * Queues a record for the next group commit. The promise resolves once the record is committed
   * and rejects if the transaction failed (the record is then not stored).
   */
  append(record: InteractionRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error("node-wot-vo history store is closed"));
    let batch = this.batch;
    if (batch === undefined) {
      batch = this.batch = newBatch();
      setImmediate(() => this.commit(batch!));
    }
    batch.records.push(record);
    this.stamp(batch, record.time);
    return batch.promise;
  }

  /** Commits whatever is queued, now, synchronously (shutdown, tests). */
  flush(): void {
    const batch = this.batch;
    if (batch !== undefined) this.commit(batch);
  }

  /** Records committed since this store was opened. */
  get committedCount(): number {
    return this.committed;
  }

  /** Group-commit transactions since this store was opened (committedCount ÷ this = batch size). */
  get transactionCount(): number {
    return this.transactions;
  }

  get pendingCount(): number {
    return this.batch?.records.length ?? 0;
  }

  close(): void {
    this.flush();
    this.closed = true;
  }

  /**
   * Unique, monotonic (ms, sub-ms) stamps across the whole file, so ns timestamps never collide.
   * A record given an explicit time earlier than the clock (a back-dated script point) keeps its
   * millisecond and takes a sub-ms slot counted down from 999 999, far from the slots live
   * records use (0, 1, 2… within a millisecond).
   */
  private stamp(batch: Batch, time: number | undefined): void {
    const now = time ?? Date.now();
    if (time !== undefined && time < this.lastTs) {
      batch.times.push(time);
      batch.subs.push(this.pastSub);
      this.pastSub = this.pastSub <= 500_000 ? 999_999 : this.pastSub - 1;
      return;
    }
    if (now > this.lastTs) {
      this.lastTs = now;
      this.lastSub = 0;
    } else if (++this.lastSub > 499_999) {
      this.lastTs += 1;
      this.lastSub = 0;
    }
    batch.times.push(this.lastTs);
    batch.subs.push(this.lastSub);
  }

  private commit(batch: Batch): void {
    if (this.batch !== batch) return; // already committed by flush()
    this.batch = undefined;
    try {
      this.writeBatch(batch);
      this.committed += batch.records.length;
      this.transactions += 1;
      batch.resolve();
    } catch (err) {
      log.error("could not commit %d records: %s", batch.records.length, errorMessage(err));
      batch.reject(err instanceof Error ? err : new Error(errorMessage(err)));
    }
  }

  private bindRecord(args: unknown[], o: number, r: InteractionRecord, ts: number, sub: number): void {
    args[o] = this.seriesId(r.thingId, r.thingTitle, r.kind, r.name);
    args[o + 1] = ts;
    args[o + 2] = sub;
    args[o + 3] = r.op;
    args[o + 4] = r.ok ? 1 : 0;
    args[o + 5] = r.valueJson ?? null;
    args[o + 6] = r.outputJson ?? null;
    args[o + 7] = r.error ?? null;
    args[o + 8] = r.durationMs ?? null;
    args[o + 9] = r.source;
  }

  private seriesId(thingId: string, thingTitle: string, kind: AffordanceKind, name: string): number {
    // Two-level cache (thing → name → series), one per kind: no key strings built per record.
    let byThing = this.seriesCache[kind];
    if (byThing === undefined) byThing = this.seriesCache[kind] = new Map();
    let byName = byThing.get(thingId);
    if (byName === undefined) byThing.set(thingId, (byName = new Map()));
    let entry = byName.get(name);
    if (entry === undefined) {
      this.insertSeries.run(thingId, thingTitle, kind, name);
      const row = this.selectSeries.get(thingId, kind, name) as { id: number; thing_title: string };
      entry = { id: row.id, title: row.thing_title };
      byName.set(name, entry);
    }
    if (entry.title !== thingTitle) {
      this.updateSeriesTitle.run(thingTitle, entry.id);
      entry.title = thingTitle;
    }
    return entry.id;
  }

  /** Series (thing × kind × affordance) matching the filter. */
  series(filter: Pick<HistoryQuery, "thingId" | "thingTitle" | "kind" | "name"> = {}): SeriesInfo[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      where.push(clause);
      params.push(value);
    };
    if (filter.thingId !== undefined) add("thing_id = ?", filter.thingId);
    if (filter.thingTitle !== undefined) add("thing_title = ?", filter.thingTitle);
    if (filter.kind !== undefined) add("kind = ?", filter.kind);
    if (filter.name !== undefined) add("name = ?", filter.name);
    const sql =
      "SELECT id, thing_id AS thingId, thing_title AS thingTitle, kind, name FROM wotvo_series" +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY id";
    return this.statement(sql).all(...params) as SeriesInfo[];
  }

  /** Rows of the matching series within [from, to], newest first unless `order: "asc"`. */
  query(q: HistoryQuery): HistoryRow[] {
    const { from, to, limit, order } = this.checkRange(q);
    const series = this.series(q);
    if (series.length === 0) return [];
    const dir = order === "asc" ? "ASC" : "DESC";
    const one = series.length === 1;
    // No JOIN and raw arrays: the series is known, and row objects are built once, here.
    const sql = `SELECT ${RAW_COLUMNS} FROM wotvo_history
      WHERE ${one ? "series_id = ?" : "series_id IN (SELECT value FROM json_each(?))"} AND ts >= ? AND ts <= ?
      ORDER BY ts ${dir}, ts_sub ${dir} LIMIT ?`;
    const rows = this.statement(sql, true).all(
      one ? series[0].id : JSON.stringify(series.map((x) => x.id)),
      from,
      to,
      limit,
    ) as RawTuple[];
    const byId = new Map(series.map((x) => [x.id, x]));
    return rows.map((r) => fromTuple(r, byId.get(r[1])!));
  }

  /** The newest row of one affordance, or undefined. */
  latest(
    q: Pick<HistoryQuery, "thingId" | "thingTitle" | "kind" | "name"> & { okOnly?: boolean },
  ): HistoryRow | undefined {
    const series = this.series(q);
    if (series.length !== 1) return undefined;
    const sql = `SELECT ${RAW_COLUMNS} FROM wotvo_history
      WHERE series_id = ? ${q.okOnly ? "AND ok = 1" : ""} ORDER BY ts DESC, ts_sub DESC LIMIT 1`;
    const row = this.statement(sql, true).get(series[0].id) as RawTuple | undefined;
    return row ? fromTuple(row, series[0]) : undefined;
  }

  /** Fixed windows over [from, to] of one affordance: count, min, max, mean, first, last. */
  aggregate(q: AggregateQuery): AggregateWindow[] {
    // Without 'to', aggregate up to now (an open range would mean billions of windows).
    const { from, to } = this.checkRange({ ...q, to: q.to ?? Math.max(Date.now(), q.from ?? 0) });
    if (!Number.isInteger(q.windowMs) || q.windowMs < 1) {
      throw new VoInputError(`window must be a positive integer number of milliseconds, got ${q.windowMs}`);
    }
    if (q.from === undefined) {
      throw new VoInputError("an aggregate needs 'from' (milliseconds since the epoch)");
    }
    const path = jsonPath(q.field);
    const windows = Math.floor(to / q.windowMs) - Math.floor(from / q.windowMs) + 1;
    if (windows > this.limits.maxWindows) {
      throw new VoInputError(
        `the range and window give ${windows} windows, more than the limit of ${this.limits.maxWindows}; ` +
          "use a larger window or a shorter range",
      );
    }
    const series = this.series(q);
    if (series.length !== 1) {
      if (series.length === 0) return [];
      throw new VoInputError("an aggregate needs one affordance: give the thing, the kind and the name");
    }
    const id = series[0].id;
    const num = `CASE WHEN json_type(h.value, ?) IN ('integer', 'real') THEN json_extract(h.value, ?) END`;
    const stats = this.statement(
      `SELECT h.ts / CAST(? AS INTEGER) AS w, COUNT(*) AS count, MIN(${num}) AS min, MAX(${num}) AS max, AVG(${num}) AS mean
       FROM wotvo_history h WHERE h.series_id = ? AND h.ok = 1 AND h.ts >= ? AND h.ts <= ? GROUP BY w ORDER BY w`,
    ).all(q.windowMs, path, path, path, path, path, path, id, from, to) as {
      w: number;
      count: number;
      min: number | null;
      max: number | null;
      mean: number | null;
    }[];
    // SQLite returns the bare column of the row holding MIN()/MAX() when it is the only aggregate.
    const edge = (fn: "MIN" | "MAX") =>
      this.statement(
        `SELECT h.ts / CAST(? AS INTEGER) AS w, ${fn}(h.ts * 1000000 + h.ts_sub) AS k, json_extract(h.value, ?) AS v,
           json_type(h.value, ?) AS t
         FROM wotvo_history h WHERE h.series_id = ? AND h.ok = 1 AND h.ts >= ? AND h.ts <= ? GROUP BY w`,
      ).all(q.windowMs, path, path, id, from, to) as { w: number; v: unknown; t: string | null }[];
    const firsts = new Map(edge("MIN").map((r) => [r.w, fromJsonExtract(r.v, r.t)]));
    const lasts = new Map(edge("MAX").map((r) => [r.w, fromJsonExtract(r.v, r.t)]));
    return stats.map((s) => ({
      start: s.w * q.windowMs,
      end: (s.w + 1) * q.windowMs,
      count: s.count,
      min: s.min,
      max: s.max,
      mean: s.mean,
      first: firsts.get(s.w) ?? null,
      last: lasts.get(s.w) ?? null,
    }));
  }

  /** Rows with id > `afterId`, oldest first: the shipper's outbox read. */
  readAfter(afterId: number, limit: number): HistoryRow[] {
    const rows = this.statement(
      `SELECT ${RAW_COLUMNS} FROM wotvo_history WHERE id > ? ORDER BY id LIMIT ?`,
      true,
    ).all(afterId, limit) as RawTuple[];
    return rows.map((r) => fromTuple(r, this.seriesById(r[1])));
  }

  /** Series by id, cached (series are only ever added; a title change refreshes the entry). */
  private seriesById(id: number): SeriesInfo {
    let info = this.seriesInfo.get(id);
    if (info === undefined || this.seriesTitleChanged(info)) {
      info = this.statement(
        "SELECT id, thing_id AS thingId, thing_title AS thingTitle, kind, name FROM wotvo_series WHERE id = ?",
      ).get(id) as SeriesInfo;
      this.seriesInfo.set(id, info);
    }
    return info;
  }

  private seriesTitleChanged(info: SeriesInfo): boolean {
    const entry = this.seriesCache[info.kind]?.get(info.thingId)?.get(info.name);
    return entry !== undefined && entry.title !== info.thingTitle;
  }

  /** Highest id in the history (0 when empty). */
  maxId(): number {
    return (this.statement("SELECT COALESCE(MAX(id), 0) AS m FROM wotvo_history").get() as { m: number }).m;
  }

  /** Lowest id in the history (0 when empty). */
  minId(): number {
    return (this.statement("SELECT COALESCE(MIN(id), 0) AS m FROM wotvo_history").get() as { m: number }).m;
  }

  private checkRange(q: HistoryQuery): { from: number; to: number; limit: number; order: "asc" | "desc" } {
    const from = q.from ?? 0;
    const to = q.to ?? Number.MAX_SAFE_INTEGER;
    for (const [key, v] of [
      ["from", from],
      ["to", to],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new VoInputError(
          `'${key}' must be milliseconds since the epoch (a non-negative integer), got ${v}`,
        );
      }
    }
    if (from > to) throw new VoInputError(`'from' (${from}) is after 'to' (${to})`);
    const limit = q.limit ?? this.limits.defaultLimit;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > this.limits.maxLimit) {
      throw new VoInputError(`'limit' must be an integer from 1 to ${this.limits.maxLimit}, got ${q.limit}`);
    }
    const order = q.order ?? "desc";
    if (order !== "asc" && order !== "desc") {
      throw new VoInputError(`'order' must be "asc" or "desc", got ${JSON.stringify(order)}`);
    }
    return { from, to, limit, order };
  }

  /** Statements are prepared once per distinct SQL text and reused. */
  private statement(sql: string, raw = false): Database.Statement {
    let stmt = this.stmtCache.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (raw) stmt.raw(true);
      this.stmtCache.set(sql, stmt);
    }
    return stmt;
  }
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits (emitEvent) must not become an unhandled rejection; the error is logged.
  promise.catch(() => undefined);
  return { records: [], times: [], subs: [], promise, resolve, reject };
}

function parseJson(text: string | null): JsonValue | undefined {
  if (text === null) return undefined;
  // Numbers are the common case: skip the JSON parser for them.
  const n = Number(text);
  if (text !== "" && !Number.isNaN(n) && text.trim() === text) return n;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** json_extract returns SQL scalars, and JSON text for objects and arrays. */
function fromJsonExtract(v: unknown, type: string | null): JsonValue {
  if (type === "object" || type === "array") return JSON.parse(v as string) as JsonValue;
  if (type === "true") return true;
  if (type === "false") return false;
  return (v ?? null) as JsonValue;
}

const FIELD_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function jsonPath(field: string | undefined): string {
  if (field === undefined || field === "") return "$";
  const segments = field.split(".");
  for (const s of segments) {
    if (!FIELD_SEGMENT.test(s)) {
      throw new VoInputError(
        `field '${field}' is not a dotted path of names (letters, digits, '_' and '-', e.g. "pm.pm25")`,
      );
    }
  }
  return "$" + segments.map((s) => `."${s}"`).join("");
}

/** Columns of a raw history tuple, in this order (see fromTuple). */
const RAW_COLUMNS = "id, series_id, ts, ts_sub, op, ok, value, output, error, duration_ms, source";
type RawTuple = [
  number,
  number,
  number,
  number,
  string,
  number,
  string | null,
  string | null,
  string | null,
  number | null,
  string,
];

function fromTuple(r: RawTuple, s: SeriesInfo): HistoryRow {
  const row: HistoryRow = {
    id: r[0],
    seriesId: r[1],
    time: r[2],
    timeSub: r[3],
    thingId: s.thingId,
    thingTitle: s.thingTitle,
    kind: s.kind,
    name: s.name,
    op: r[4] as RecordOp,
    ok: r[5] === 1,
    source: r[10],
  };
  if (r[6] !== null) row.value = parseJson(r[6]);
  if (r[7] !== null) row.output = parseJson(r[7]);
  if (r[8] !== null) row.error = r[8];
  if (r[9] !== null) row.durationMs = r[9];
  return row;
}
