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
import { historySchema } from "./options";
import { VoInputError, errorMessage } from "../errors";
import { jsonDeeperThan, tooDeepMarker } from "../json-depth";
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
  /** How far ahead of the clock an explicit record time may be, in milliseconds. */
  maxFutureSkewMs: number;
}

/** What the store can say about its writes (the TD health view is built on it). */
export interface StoreHealth {
  state: "committing" | "failing";
  /** Records committed since open. */
  committed: number;
  /** Group commits that failed since open. */
  failedBatches: number;
  lastError?: string;
  /** Milliseconds since the epoch. */
  lastErrorAt?: number;
  lastCommitAt?: number;
  /** When the current state began (milliseconds since the epoch). */
  since: number;
}

/** Used sub-ms slots of one (series, ms) among explicit-time records: every used slot is in lo…hi. */
interface SlotRange {
  lo: number;
  hi: number;
}

interface Batch {
  records: InteractionRecord[];
  times: number[];
  subs: number[];
  /** Explicit-time slots taken in this batch, by series and ms (rare: created on first use). */
  slots: Map<string, SlotRange> | undefined;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The limits' defaults: those of the `history` options (one place for every default). */
const DEFAULT_LIMITS: HistoryLimits = (() => {
  const d = historySchema.properties;
  return {
    maxLimit: d.maxLimit.default,
    defaultLimit: d.defaultLimit.default,
    maxWindows: d.maxWindows.default,
    maxFutureSkewMs: d.maxFutureSkewMs.default,
  };
})();

const ROWS_PER_INSERT = 32;
/** Live records take sub-ms slots 0…LIVE_SLOTS-1, explicit-time records LIVE_SLOTS…MAX_SLOT. */
const LIVE_SLOTS = 500_000;
const MAX_SLOT = 999_999;
/** Largest ms whose every slot still gives a nanosecond stamp within int64: floor((2^63-1 - 999999) / 1e6). */
const MAX_TIME_MS = 9_223_372_036_853;
/** Stored values nested deeper than this are returned as a marker, never parsed. */
const READ_MAX_DEPTH = 512;

export class HistoryStore {
  readonly limits: HistoryLimits;
  private batch: Batch | undefined;
  private lastTs = 0;
  private lastSub = -1;
  /**
   * Live slots (ms → highest sub) an older version stamped beyond now + skew: the live clock steps
   * over them when it gets there, so no new stamp repeats one. Undefined when there are none.
   */
  private reserved: Map<number, number> | undefined;
  private reservedUntil = 0;
  private seriesCache: Record<string, Map<string, Map<string, { id: number; title: string }>> | undefined> =
    {};
  private committed = 0;
  private transactions = 0;
  private closed = false;
  private state: StoreHealth["state"] = "committing";
  private stateSince = Date.now();
  private failedBatches = 0;
  private failedThisEpisode = 0;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private lastCommitAt: number | undefined;
  private readonly listeners = new Set<(health: StoreHealth) => void>();
  private readonly commitListeners = new Set<(records: number, commitMs: number) => void>();
  /** Highest history id committed through this store (or found at open). */
  private lastCommittedId = 0;
  /** Characters of value, output and error text committed since open (the outbox's byte count). */
  private committedChars = 0;
  /** Characters and last id of the batch being written (counted once it commits). */
  private batchChars = 0;
  private batchLastId = 0;
  /** Bumped whenever a cached series changes (title, forgotten ids): readers drop their caches. */
  private seriesRev = 0;

  private readonly insertRow: Database.Statement;
  private readonly insertRows: Database.Statement;
  private readonly insertSeries: Database.Statement;
  private readonly selectSeries: Database.Statement;
  private readonly updateSeriesTitle: Database.Statement;
  private readonly selectSlots: Database.Statement;
  private readonly writeBatch: (batch: Batch) => void;
  private readonly stmtCache = new Map<string, Database.Statement>();
  private outboxRange: Database.Statement | undefined;
  private outboxById: Database.Statement | undefined;
  private readonly seriesInfo = new Map<number, SeriesInfo>();

  constructor(
    private readonly db: Database.Database,
    limits: Partial<HistoryLimits> = {},
  ) {
    this.limits = {
      maxLimit: limits.maxLimit ?? DEFAULT_LIMITS.maxLimit,
      defaultLimit: limits.defaultLimit ?? DEFAULT_LIMITS.defaultLimit,
      maxWindows: limits.maxWindows ?? DEFAULT_LIMITS.maxWindows,
      maxFutureSkewMs: limits.maxFutureSkewMs ?? DEFAULT_LIMITS.maxFutureSkewMs,
    };
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
    this.selectSlots = db.prepare(
      `SELECT MIN(ts_sub) AS lo, MAX(ts_sub) AS hi FROM wotvo_history
       WHERE series_id = ? AND ts = ? AND ts_sub >= ${LIVE_SLOTS}`,
    );
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
      this.batchChars = 0;
      let last: Database.RunResult | undefined;
      let i = 0;
      for (; i + ROWS_PER_INSERT <= records.length; i += ROWS_PER_INSERT) {
        for (let j = 0; j < ROWS_PER_INSERT; j++) {
          this.bindRecord(args, j * 10, records[i + j], times[i + j], subs[i + j]);
        }
        last = this.insertRows.run(args);
      }
      const one: unknown[] = new Array(10);
      for (; i < records.length; i++) {
        this.bindRecord(one, 0, records[i], times[i], subs[i]);
        last = this.insertRow.run(one);
      }
      this.batchLastId = last === undefined ? this.lastCommittedId : Number(last.lastInsertRowid);
    });
    this.lastCommittedId = this.maxId();
    this.resumeClock();
  }

  /**
   * Resumes the live stamp sequence after the newest live stamp of the file. Only live slots
   * count (an explicit time never moves the clock), and only up to now + skew: an older version
   * let a future explicit time move the clock, and those stamps must not hold it in the future.
   * One index seek per series.
   */
  private resumeClock(): void {
    const horizon = Date.now() + this.limits.maxFutureSkewMs;
    const last = this.db
      .prepare(
        `SELECT h.ts, h.ts_sub FROM wotvo_series s JOIN wotvo_history h ON h.id = (
           SELECT id FROM wotvo_history WHERE series_id = s.id AND ts <= ? AND ts_sub < ${LIVE_SLOTS}
           ORDER BY ts DESC, ts_sub DESC LIMIT 1)
         ORDER BY h.ts DESC, h.ts_sub DESC LIMIT 1`,
      )
      .get(horizon) as { ts: number; ts_sub: number } | undefined;
    if (last) {
      this.lastTs = last.ts;
      this.lastSub = last.ts_sub;
    }
    const ahead = this.db
      .prepare(
        `SELECT ts, MAX(ts_sub) AS sub, COUNT(*) AS n FROM wotvo_history
         WHERE series_id IN (SELECT id FROM wotvo_series) AND ts > ? AND ts_sub < ${LIVE_SLOTS} GROUP BY ts`,
      )
      .all(horizon) as { ts: number; sub: number; n: number }[];
    if (ahead.length > 0) {
      this.reserved = new Map(ahead.map((r) => [r.ts, r.sub]));
      for (const r of ahead) if (r.ts > this.reservedUntil) this.reservedUntil = r.ts;
      log.warn(
        "%d history rows are stamped up to %s, beyond now + history.maxFutureSkewMs (%d ms): an older " +
          "version let an explicit future time move the clock. The live clock ignores them and steps over their stamps.",
        ahead.reduce((sum, r) => sum + r.n, 0),
        new Date(this.reservedUntil).toISOString(),
        this.limits.maxFutureSkewMs,
      );
    }
  }

  /**
   * Queues a record for the next group commit. The promise resolves once the record is committed
   * and rejects if the transaction failed (the record is then not stored). A record with an
   * explicit `time` outside 0 … now + maxFutureSkewMs is refused (VoInputError) and not queued.
   */
  append(record: InteractionRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error("node-wot-vo history store is closed"));
    if (record.time !== undefined) return this.appendExplicit(record, record.time);
    const batch = this.batch ?? this.openBatch();
    batch.records.push(record);
    this.stampLive(batch);
    return batch.promise;
  }

  private openBatch(): Batch {
    const batch = (this.batch = newBatch());
    setImmediate(() => this.commit(batch));
    return batch;
  }

  /** A record with its own time (a script's point): checked, and given a slot of its own (rare). */
  private appendExplicit(record: InteractionRecord, time: number): Promise<void> {
    let key: string;
    let taken: { sub: number; range: SlotRange };
    try {
      this.checkExplicitTime(time);
      key = `${record.kind}\u0000${record.thingId}\u0000${record.name}\u0000${time}`;
      taken = this.nextSlot(record, time, this.batch?.slots?.get(key));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(errorMessage(err)));
    }
    const batch = this.batch ?? this.openBatch();
    (batch.slots ??= new Map()).set(key, taken.range);
    batch.records.push(record);
    batch.times.push(time);
    batch.subs.push(taken.sub);
    return batch.promise;
  }

  /** Throws a VoInputError unless `time` is a whole ms from 0 to now + maxFutureSkewMs (within int64 as ns). */
  private checkExplicitTime(time: unknown): void {
    const skew = this.limits.maxFutureSkewMs;
    const now = Date.now();
    const latest = Math.min(now + skew, MAX_TIME_MS);
    let why: string | undefined;
    if (typeof time !== "number" || !Number.isInteger(time)) {
      why = "it is not a whole number of milliseconds";
    } else if (time < 0) {
      why = "times before 1970 cannot be stored";
    } else if (time > latest) {
      why =
        latest === MAX_TIME_MS
          ? "its nanosecond timestamp would not fit in a signed 64-bit integer"
          : `it is ${time - now} ms ahead of this machine's clock, more than history.maxFutureSkewMs (${skew} ms); ` +
            "check the unit (milliseconds, not microseconds or nanoseconds) or raise history.maxFutureSkewMs";
    }
    if (why !== undefined) {
      throw new VoInputError(
        `an explicit record time must be an integer number of milliseconds since the epoch from 0 to ${latest} ` +
          `(now + ${skew} ms); got ${typeof time === "number" ? String(time) : typeof time}: ${why}. Nothing was recorded.`,
        "VO_BAD_TIME",
      );
    }
  }

  /**
   * A sub-ms slot for an explicit-time record, unique for its (series, ms) for the life of the
   * file: after the highest explicit slot stored or queued for it (below the lowest when the top
   * is taken: an older version counted down from 999 999). The index (series_id, ts, ts_sub)
   * makes the stored range one seek.
   */
  private nextSlot(
    r: InteractionRecord,
    time: number,
    queued: SlotRange | undefined,
  ): { sub: number; range: SlotRange } {
    let used = queued;
    if (used === undefined) {
      const id = this.knownSeriesId(r.thingId, r.kind, r.name);
      if (id !== undefined) {
        const row = this.selectSlots.get(id, time) as { lo: number | null; hi: number | null };
        if (row.lo !== null && row.hi !== null) used = { lo: row.lo, hi: row.hi };
      }
    }
    if (used === undefined) return { sub: LIVE_SLOTS, range: { lo: LIVE_SLOTS, hi: LIVE_SLOTS } };
    if (used.hi < MAX_SLOT) return { sub: used.hi + 1, range: { lo: used.lo, hi: used.hi + 1 } };
    if (used.lo > LIVE_SLOTS) return { sub: used.lo - 1, range: { lo: used.lo - 1, hi: used.hi } };
    throw new VoInputError(
      `'${r.name}' of '${r.thingId}' already has ${MAX_SLOT - LIVE_SLOTS + 1} records at ${time} ms, ` +
        "the most one millisecond of one series can hold; spread the times over more milliseconds",
      "VO_BAD_TIME",
    );
  }

  /** The series id if the series exists (cache, then file), without creating it. */
  private knownSeriesId(thingId: string, kind: AffordanceKind, name: string): number | undefined {
    const cached = this.seriesCache[kind]?.get(thingId)?.get(name);
    if (cached !== undefined) return cached.id;
    const row = this.selectSeries.get(thingId, kind, name) as { id: number } | undefined;
    return row?.id;
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

  /**
   * Highest history id committed, kept in memory (no SQL): the id of the newest row this store
   * wrote, or the largest id found at open. Ids only grow (AUTOINCREMENT).
   */
  get lastId(): number {
    return this.lastCommittedId;
  }

  /**
   * Characters of value, output and error text committed since open: what the outbox bound counts,
   * fed by every commit so the shipper never sums rows in SQL to know its size.
   */
  get committedTextChars(): number {
    return this.committedChars;
  }

  /** Changes whenever a cached series' title changes or the series cache is reset. */
  get seriesRevision(): number {
    return this.seriesRev;
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

  /** Records committed since this store was opened, failures, and whether writes succeed now. */
  health(): StoreHealth {
    const h: StoreHealth = {
      state: this.state,
      committed: this.committed,
      failedBatches: this.failedBatches,
      since: this.stateSince,
    };
    if (this.lastError !== undefined) h.lastError = this.lastError;
    if (this.lastErrorAt !== undefined) h.lastErrorAt = this.lastErrorAt;
    if (this.lastCommitAt !== undefined) h.lastCommitAt = this.lastCommitAt;
    return h;
  }

  /**
   * Calls `listener(records, commitMs)` after each group commit that succeeded: the number of
   * records it committed and how long the transaction took, in milliseconds. Returns the
   * unsubscribe. Without listeners a commit is not even timed.
   */
  onCommit(listener: (records: number, commitMs: number) => void): () => void {
    this.commitListeners.add(listener);
    return () => {
      this.commitListeners.delete(listener);
    };
  }

  /** Calls `listener` on each change of state (failing ↔ committing). Returns the unsubscribe. */
  onStateChange(listener: (health: StoreHealth) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Unique, monotonic (ms, sub-ms) stamps for live records across the whole file, so ns
   * timestamps never collide: slots 0…499 999 of each millisecond. Explicit-time records never
   * touch this clock (see nextSlot).
   */
  private stampLive(batch: Batch): void {
    const now = Date.now();
    if (now > this.lastTs) {
      this.lastTs = now;
      this.lastSub = 0;
      if (this.reserved !== undefined) this.stepOverReserved();
    } else if (++this.lastSub >= LIVE_SLOTS) {
      this.lastTs += 1;
      this.lastSub = 0;
      if (this.reserved !== undefined) this.stepOverReserved();
    }
    batch.times.push(this.lastTs);
    batch.subs.push(this.lastSub);
  }

  /** On entering a new millisecond: skip the live slots an older version used there. */
  private stepOverReserved(): void {
    const reserved = this.reserved!;
    for (let used = reserved.get(this.lastTs); used !== undefined; used = reserved.get(this.lastTs)) {
      if (used + 1 < LIVE_SLOTS) {
        this.lastSub = used + 1;
        break;
      }
      this.lastTs += 1;
      this.lastSub = 0;
    }
    if (this.lastTs > this.reservedUntil) this.reserved = undefined;
  }

  private commit(batch: Batch): void {
    if (this.batch !== batch) return; // already committed by flush()
    this.batch = undefined;
    const timed = this.commitListeners.size > 0;
    const started = timed ? performance.now() : 0;
    try {
      this.writeBatch(batch);
    } catch (err) {
      this.failed(batch, err);
      return;
    }
    const now = Date.now();
    this.committed += batch.records.length;
    this.committedChars += this.batchChars;
    if (this.batchLastId > this.lastCommittedId) this.lastCommittedId = this.batchLastId;
    this.transactions += 1;
    this.lastCommitAt = now;
    if (timed) this.committedListeners(batch.records.length, performance.now() - started);
    if (this.state === "failing") {
      log.warn(
        "recording resumed: %d records committed after %d failed group commits since %s",
        batch.records.length,
        this.failedThisEpisode,
        new Date(this.stateSince).toISOString(),
      );
      this.failedThisEpisode = 0;
      this.changeState("committing", now);
    }
    batch.resolve();
  }

  private committedListeners(records: number, ms: number): void {
    for (const listener of this.commitListeners) {
      try {
        listener(records, ms);
      } catch (err) {
        log.error("a commit listener failed: %s", errorMessage(err));
      }
    }
  }

  private failed(batch: Batch, err: unknown): void {
    // Series inserted by the rolled-back transaction are gone, and SQLite hands their ids out
    // again: forget every cached id (and title) rather than attribute later records to another series.
    this.seriesCache = {};
    this.seriesInfo.clear();
    this.seriesRev++;
    const now = Date.now();
    const message = errorMessage(err);
    this.failedBatches += 1;
    this.failedThisEpisode += 1;
    this.lastError = message;
    this.lastErrorAt = now;
    if (this.state === "committing") {
      // Once per episode: under a full disk every request fails, and the log must not fill too.
      log.error(
        "could not commit %d records: %s. Interactions are answered with an error and not recorded " +
          "until the file can be written again (see health(); a line is logged when recording resumes)",
        batch.records.length,
        message,
      );
      this.changeState("failing", now);
    } else {
      log.debug("could not commit %d records: %s", batch.records.length, message);
    }
    batch.reject(err instanceof Error ? err : new Error(message));
  }

  private changeState(state: StoreHealth["state"], at: number): void {
    this.state = state;
    this.stateSince = at;
    if (this.listeners.size === 0) return;
    const health = this.health();
    for (const listener of [...this.listeners]) {
      try {
        const result: unknown = listener(health);
        if (result instanceof Promise) {
          result.catch((err) => log.error("a store health listener failed: %s", errorMessage(err)));
        }
      } catch (err) {
        log.error("a store health listener failed: %s", errorMessage(err));
      }
    }
  }

  private bindRecord(args: unknown[], o: number, r: InteractionRecord, ts: number, sub: number): void {
    args[o] = this.seriesId(r.thingId, r.thingTitle, r.kind, r.name);
    args[o + 1] = ts;
    args[o + 2] = sub;
    args[o + 3] = r.op;
    args[o + 4] = r.ok ? 1 : 0;
    const value = r.valueJson;
    const output = r.outputJson;
    const error = r.error;
    args[o + 5] = value ?? null;
    args[o + 6] = output ?? null;
    args[o + 7] = error ?? null;
    this.batchChars += (value?.length ?? 0) + (output?.length ?? 0) + (error?.length ?? 0);
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
      this.seriesRev++;
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
    // SQLite's JSON functions fail the whole statement ("malformed JSON") on text they cannot
    // parse, e.g. a value nested deeper than 1,000 stored before the depth cap: such a row counts,
    // as a non-numeric one.
    const value = "CASE WHEN json_valid(h.value) THEN h.value END";
    const num = `CASE WHEN json_type(${value}, ?) IN ('integer', 'real') THEN json_extract(${value}, ?) END`;
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
        `SELECT h.ts / CAST(? AS INTEGER) AS w, ${fn}(h.ts * 1000000 + h.ts_sub) AS k, json_extract(${value}, ?) AS v,
           json_type(${value}, ?) AS t, CASE WHEN json_valid(h.value) THEN NULL ELSE h.value END AS raw
         FROM wotvo_history h WHERE h.series_id = ? AND h.ok = 1 AND h.ts >= ? AND h.ts <= ? GROUP BY w`,
      ).all(q.windowMs, path, path, id, from, to) as {
        w: number;
        v: unknown;
        t: string | null;
        raw: string | null;
      }[];
    // A value SQLite cannot read is returned as read() returns it (marker or text), or as null for a field.
    const edgeValue = (r: { v: unknown; t: string | null; raw: string | null }): JsonValue =>
      r.raw === null ? fromJsonExtract(r.v, r.t) : path === "$" ? (parseStoredJson(r.raw) ?? null) : null;
    const firsts = new Map(edge("MIN").map((r) => [r.w, edgeValue(r)]));
    const lasts = new Map(edge("MAX").map((r) => [r.w, edgeValue(r)]));
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

  /**
   * The outbox read of the shipper: up to `limit` rows with id > `afterId`, oldest first, each as
   * one text (see OutboxChunk). Every value a row hands to JavaScript costs more than SQLite's own
   * work on it, so a row comes as one string: its series id packed with op, source, ok and whether
   * it has more (output, error, duration), its nanosecond stamp, and its value; `outboxExtras`
   * reads the rest of the rows that need it. Ids are not read while they are contiguous (the
   * usual case: AUTOINCREMENT, and retention never deletes above the shipper's cursor).
   */
  readOutbox(afterId: number, limit: number): OutboxChunk {
    const upTo = Math.min(afterId + limit, this.lastCommittedId);
    if (upTo > afterId) {
      this.outboxRange ??= this.db.prepare(`${OUTBOX_SELECT} WHERE id > ? AND id <= ? ORDER BY id`).pluck();
      const rows = this.outboxRange.all(afterId, upTo) as string[];
      if (rows.length === upTo - afterId) return { rows, ids: undefined, last: upTo };
    }
    // Ids with gaps (rows written with ids of their own), or rows beyond lastId (another writer).
    this.outboxById ??= this.db
      .prepare(`SELECT id, ${OUTBOX_TEXT} FROM wotvo_history WHERE id > ? ORDER BY id LIMIT ?`)
      .raw();
    const tuples = this.outboxById.all(afterId, limit) as [number, string][];
    return {
      rows: tuples.map((t) => t[1]),
      ids: tuples.map((t) => t[0]),
      last: tuples.length === 0 ? afterId : tuples[tuples.length - 1][0],
    };
  }

  /**
   * Op, source, output, error and duration of the rows `ids` (those whose outbox key does not tell
   * all: it has more, or an op or source without a code), in one statement for a whole chunk:
   * every statement costs more than the rows it returns.
   */
  outboxExtras(ids: readonly number[]): OutboxExtras[] {
    return this.statement(
      `SELECT id, op, source, output, error, duration_ms FROM wotvo_history
       WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`,
      true,
    ).all(JSON.stringify(ids)) as OutboxExtras[];
  }

  /** A series by id (cached; undefined when there is no such series). */
  seriesOf(id: number): SeriesInfo | undefined {
    const info = this.seriesInfo.get(id);
    if (info !== undefined && !this.seriesTitleChanged(info)) return info;
    const row = this.statement(
      "SELECT id, thing_id AS thingId, thing_title AS thingTitle, kind, name FROM wotvo_series WHERE id = ?",
    ).get(id) as SeriesInfo | undefined;
    if (row === undefined) this.seriesInfo.delete(id);
    else this.seriesInfo.set(id, row);
    return row;
  }

  /** Series by id; throws when the series row is gone (the row cannot be read). */
  private seriesById(id: number): SeriesInfo {
    const info = this.seriesOf(id);
    if (info === undefined) throw new Error(`its series ${id} is missing from wotvo_series`);
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
  return { records: [], times: [], subs: [], slots: undefined, promise, resolve, reject };
}

/**
 * A stored JSON text as readers see it: numbers without the JSON parser, a value nested deeper
 * than 512 as the `$tooDeep` marker (never parsed), text that does not parse as the string itself.
 */
export function parseStoredJson(text: string | null): JsonValue | undefined {
  if (text === null) return undefined;
  // Numbers are the common case: skip the JSON parser for them.
  const n = Number(text);
  if (text !== "" && !Number.isNaN(n) && text.trim() === text) return n;
  // A row stored before the depth cap existed: described, never parsed (nor later stringified).
  if (jsonDeeperThan(text, READ_MAX_DEPTH)) {
    return JSON.parse(tooDeepMarker(READ_MAX_DEPTH, Buffer.byteLength(text))) as JsonValue;
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** json_extract returns SQL scalars, and JSON text for objects and arrays. */
function fromJsonExtract(v: unknown, type: string | null): JsonValue {
  if (type === "object" || type === "array") return parseStoredJson(v as string) ?? null;
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

/** Ops and sources an outbox key can carry (index = code; 0: not packed, read it with outboxExtras). */
export const OUTBOX_OPS: readonly (RecordOp | "")[] = ["", "write", "change", "invoke", "emit", "point"];
export const OUTBOX_SOURCES: readonly string[] = [
  "",
  "http",
  "local",
  "https",
  "coap",
  "coaps",
  "mqtt",
  "mqtts",
  "ws",
  "wss",
];

/**
 * A chunk of the outbox. Each row is one text, `<key> <stamp>` or `<key> <stamp> <value>` (no third
 * part: the value is NULL): `key = series_id * 512 + flags`, flags = ok (256) + has output, error or
 * duration (128) + op code × 16 (OUTBOX_OPS) + source code (OUTBOX_SOURCES); `stamp` is the
 * nanosecond timestamp in decimal, or `=<ts>.<ts_sub>` when it is not `ts × 10⁶ + ts_sub` with
 * ts ≥ 1 (see `outboxStamp`). `outboxSeries(key)` gives the series id, `key % 512` the flags.
 */
export interface OutboxChunk {
  rows: string[];
  /** The rows' ids; undefined when they are after + 1, after + 2, … (no gaps: the usual case). */
  ids: number[] | undefined;
  /** The id the chunk ends at: the next chunk starts after it. */
  last: number;
}
/** `[id, op, source, output, error, duration_ms]` of one row. */
export type OutboxExtras = [number, string, string, string | null, string | null, number | null];

export const OUTBOX_OK = 256;
export const OUTBOX_MORE = 128;

/** The series id of an outbox key (its flags are `key % 512`). */
export function outboxSeries(key: number): number {
  return Math.floor(key / 512);
}

const codeOf = (column: string, values: readonly string[]) =>
  `CASE ${column} ${values
    .map((v, i) => (i === 0 ? "" : `WHEN '${v}' THEN ${i}`))
    .join(" ")
    .trim()} ELSE 0 END`;

const OUTBOX_TEXT = `(series_id * 512 + ok * ${OUTBOX_OK}
      + CASE WHEN output IS NULL AND error IS NULL AND duration_ms IS NULL THEN 0 ELSE ${OUTBOX_MORE} END
      + ${codeOf("op", OUTBOX_OPS)} * 16 + ${codeOf("source", OUTBOX_SOURCES)}) || ' '
    || CASE WHEN ts >= 1 AND ts_sub BETWEEN 0 AND 999999 THEN ts || substr('00000' || ts_sub, -6)
       ELSE '=' || ts || '.' || ts_sub END
    || ifnull(' ' || value, '')`;
const OUTBOX_SELECT = `SELECT ${OUTBOX_TEXT} FROM wotvo_history`;

/** `[ts, ts_sub]` of an outbox row's stamp (the text between its first and second space). */
export function outboxStamp(stamp: string): [number, number] {
  if (stamp.charCodeAt(0) === 61) {
    // "=<ts>.<ts_sub>"
    const dot = stamp.indexOf(".");
    return [Number(stamp.slice(1, dot)), Number(stamp.slice(dot + 1))];
  }
  return [Number(stamp.slice(0, -6)), Number(stamp.slice(-6))];
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
  if (r[6] !== null) row.value = parseStoredJson(r[6]);
  if (r[7] !== null) row.output = parseStoredJson(r[7]);
  if (r[8] !== null) row.error = r[8];
  if (r[9] !== null) row.durationMs = r[9];
  return row;
}
