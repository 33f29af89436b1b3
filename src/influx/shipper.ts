/**
 * The shipper: the SQLite history is the outbox. It reads committed rows after a persisted cursor,
 * turns them into points, writes them, and advances the cursor only after the server accepted them
 * (or dead-lettered the malformed ones). At-least-once from the cursor; every point has a unique
 * nanosecond timestamp in its series, so a re-sent point overwrites itself: exactly once in InfluxDB.
 *
 * It never blocks interactions: it polls an in-memory commit counter on a short timer, reads in
 * chunks with a turn of the event loop between them, and never holds more than one batch.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import type { HistoryStore } from "../store/history";
import type { HistoryRow } from "../types";
import type { InfluxOptions } from "./options";
import type { BuiltPoint, PointLayout } from "./points";
import { WriteFailure, type Transport } from "./transport";
import { errorMessage } from "../errors";
import { createLogger } from "../log";

const log = createLogger("influx");

/** Rows read from SQLite per synchronous step; the event loop gets a turn between steps. */
const READ_CHUNK = 1000;
/** Bytes counted per row on top of its JSON text (ids, timestamps, tags). */
const ROW_OVERHEAD_BYTES = 64;
/** Longest wait a server's Retry-After can impose. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;
/** Characters of a row's stored value quoted in the dead letter of a row that cannot be shipped. */
const DESCRIBE_CHARS = 200;

export type ShipperState = "starting" | "up" | "down" | "recovering";

export interface DeadLetter {
  id: number;
  historyId: number;
  bucket: string;
  line: string;
  status: number;
  reason: string;
  at: string;
}

interface PendingDead {
  point: { historyId: number; bucket: string; line: string };
  status: number;
  reason: string;
}

const META = {
  cursor: "influx.cursor",
  cursorNs: "influx.cursor_ns",
  shipped: "influx.shipped",
  dropped: "influx.dropped",
  deadLettered: "influx.dead_lettered",
} as const;

/** A batch read and built, not yet written: the rows after `after`, up to `last` (id and stamp). */
interface Prepared {
  after: number;
  rows: HistoryRow[];
  byBucket: Map<string, BuiltPoint[]>;
  /** Rows that could not be read or built: dead-lettered alone, so they never stop the queue. */
  dead: PendingDead[];
  /** Rows read, readable or not. */
  count: number;
  last: { id: number; stamp: string };
}

/** An error of SQLite itself (busy, I/O, closed): the store, not one row, is at fault. */
function isSqliteError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Shipper {
  cursor = 0;
  private cursorNs = "0";
  shipped = 0;
  dropped = 0;
  deadLettered = 0;
  state: ShipperState = "starting";
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  lastShippedAt: number | undefined;

  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private flushing = false;
  private seenCommits = -1;
  private pendingSince: number | undefined;
  private retryAt = 0;
  private attempt = 0;
  private queuedBytes = 0;
  private bytesCountedTo = 0;
  private dropping = false;
  private droppedThisEpisode = 0;
  private outageShipped = 0;
  /** A tick that threw before reaching the batch waits for the backoff too (no per-poll retry). */
  private tickBlockedUntil = 0;
  private readonly ensured = new Set<string>();
  private prefetched: Prepared | undefined;

  private readonly getMeta: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly bytesBetween: Database.Statement;
  private readonly countBetween: Database.Statement;
  private readonly rowStamp: Database.Statement;
  private readonly firstAfterStamp: Database.Statement;
  private readonly insertDead: Database.Statement;
  private readonly selectDead: Database.Statement;
  private readonly maxIdStmt: Database.Statement;
  private readonly nextRow: Database.Statement;
  private readonly describeRow: Database.Statement;
  private readonly commitProgress: (
    cursor: number,
    cursorNs: string,
    dead: PendingDead[],
    shipped?: number,
    deadLettered?: number,
  ) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly history: HistoryStore,
    private readonly layout: PointLayout,
    private readonly transport: Transport,
    private readonly options: InfluxOptions,
  ) {
    this.getMeta = db.prepare("SELECT value FROM wotvo_meta WHERE key = ?");
    this.setMeta = db.prepare(
      "INSERT INTO wotvo_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    this.bytesBetween = db.prepare(
      `SELECT COALESCE(SUM(COALESCE(length(value), 0) + COALESCE(length(output), 0) + COALESCE(length(error), 0)
         + ${ROW_OVERHEAD_BYTES}), 0) AS b FROM wotvo_history WHERE id > ? AND id <= ?`,
    );
    this.countBetween = db.prepare("SELECT COUNT(*) AS n FROM wotvo_history WHERE id > ? AND id <= ?");
    this.rowStamp = db.prepare("SELECT ts, ts_sub FROM wotvo_history WHERE id = ?");
    this.firstAfterStamp = db.prepare(
      "SELECT MIN(id) AS id FROM wotvo_history WHERE ts > ? OR (ts = ? AND ts_sub > ?)",
    );
    this.maxIdStmt = db.prepare("SELECT COALESCE(MAX(id), 0) AS m FROM wotvo_history");
    this.nextRow = db.prepare("SELECT id, ts, ts_sub FROM wotvo_history WHERE id > ? ORDER BY id LIMIT 1");
    this.describeRow = db.prepare(
      `SELECT h.series_id AS seriesId, s.thing_id AS thingId, s.kind, s.name,
         substr(h.value, 1, ${DESCRIBE_CHARS}) AS head, length(h.value) AS chars
       FROM wotvo_history h LEFT JOIN wotvo_series s ON s.id = h.series_id WHERE h.id = ?`,
    );
    this.insertDead = db.prepare(
      "INSERT INTO wotvo_influx_deadletter (history_id, bucket, line, status, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.selectDead = db.prepare(
      "SELECT id, history_id AS historyId, bucket, line, status, reason, at FROM wotvo_influx_deadletter ORDER BY id DESC LIMIT ?",
    );
    this.commitProgress = db.transaction(
      (
        cursor: number,
        cursorNs: string,
        dead: PendingDead[],
        shipped = this.shipped,
        deadLettered = this.deadLettered,
      ) => {
        const now = Date.now();
        for (const d of dead) {
          this.insertDead.run(d.point.historyId, d.point.bucket, d.point.line, d.status, d.reason, now);
        }
        this.setMeta.run(META.cursor, String(cursor));
        this.setMeta.run(META.cursorNs, cursorNs);
        this.setMeta.run(META.shipped, String(shipped));
        this.setMeta.run(META.dropped, String(this.dropped));
        this.setMeta.run(META.deadLettered, String(deadLettered));
      },
    );
    this.load();
  }

  private meta(key: string): string | undefined {
    return (this.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  private load(): void {
    this.cursor = Number(this.meta(META.cursor) ?? 0);
    this.cursorNs = this.meta(META.cursorNs) ?? "0";
    this.shipped = Number(this.meta(META.shipped) ?? 0);
    this.dropped = Number(this.meta(META.dropped) ?? 0);
    this.deadLettered = Number(this.meta(META.deadLettered) ?? 0);
  }

  /** Starts the timer: resumes from the persisted cursor. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.rebaseIfIdsReused(this.maxId());
    this.bytesCountedTo = this.cursor;
    this.queuedBytes = 0;
    this.timer = setInterval(() => this.tick(), this.options.pollIntervalMs);
    this.timer.unref();
    this.tick();
  }

  /** Result of a health check at start-up: sets `connected` before the first write. */
  reachable(ok: boolean, why?: string): void {
    if (this.state !== "starting") return;
    if (ok) this.state = "up";
    else {
      this.lastError = why ?? `no answer from ${this.options.url}`;
      this.lastErrorAt = Date.now();
    }
  }

  /** Unshipped rows (ids above the cursor are contiguous: retention never deletes them). */
  get queued(): number {
    if (this.stopped) return 0;
    return Math.max(0, this.maxId() - this.cursor);
  }

  deadLetters(limit: number): DeadLetter[] {
    return (this.selectDead.all(limit) as (Omit<DeadLetter, "at"> & { at: number })[]).map((d) => ({
      ...d,
      at: new Date(d.at).toISOString(),
    }));
  }

  /** Ships everything committed so far, for at most `ms`; then stops. True when all was shipped. */
  async stop(ms: number): Promise<boolean> {
    if (this.stopped) return true;
    this.flushing = true;
    const deadline = Date.now() + ms;
    this.rebaseIfIdsReused(this.maxId());
    const target = this.maxId();
    while (this.cursor < target && Date.now() < deadline) {
      this.seenCommits = -1;
      this.tick();
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (this.running) await Promise.race([this.running, sleep(left)]);
      else await sleep(Math.min(this.options.pollIntervalMs, left));
    }
    const left = target - this.cursor;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.transport.abort();
    if (left > 0) {
      log.warn(
        "shutdown: %d records not yet shipped to InfluxDB within %d ms; they ship on the next start",
        left,
        ms,
      );
    }
    return left <= 0;
  }

  /** Ships now, regardless of the flush interval (tests, scripts). Resolves when caught up or failing. */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.rebaseIfIdsReused(this.maxId());
    const target = this.maxId();
    this.flushing = true;
    try {
      while (!this.stopped && this.cursor < target && Date.now() < deadline) {
        this.seenCommits = -1;
        this.tick();
        if (this.running) await this.running;
        else await sleep(this.options.pollIntervalMs);
      }
    } finally {
      this.flushing = false;
    }
    return this.cursor >= target;
  }

  private maxId(): number {
    return (this.maxIdStmt.get() as { m: number }).m;
  }

  /** One look at the outbox: bound, wake-up, and (when due) one batch. Never throws. */
  private tick(): void {
    if (this.stopped || Date.now() < this.tickBlockedUntil) return;
    try {
      const commits = this.history.committedCount;
      const quiet = commits === this.seenCommits && this.pendingSince === undefined;
      if (quiet && !this.running) return;
      this.seenCommits = commits;
      const max = this.maxId();
      this.rebaseIfIdsReused(max);
      this.enforceBounds(max);
      if (this.running) return;
      if (max <= this.cursor) {
        this.pendingSince = undefined;
        this.caughtUp();
        return;
      }
      const now = Date.now();
      if (now < this.retryAt) return;
      if (this.pendingSince === undefined) this.pendingSince = Math.min(this.oldestTime() ?? now, now);
      const due =
        this.flushing ||
        this.state === "down" ||
        this.state === "recovering" ||
        max - this.cursor >= this.options.batchSize ||
        now - this.pendingSince >= this.options.flushIntervalMs;
      if (!due) return;
      this.running = this.shipBatch()
        // Whatever threw (SQLite, a bug, a row nobody foresaw) backs off like a failed write.
        .catch((err) => {
          if (!this.stopped) this.failed(err);
        })
        .finally(() => {
          this.running = undefined;
          // Backlog: go on at once rather than waiting for the next tick (which sees if there is one).
          if (!this.stopped && this.state !== "down") setImmediate(() => this.tick());
        });
    } catch (err) {
      if (this.stopped) return;
      this.failed(err);
      this.tickBlockedUntil = this.retryAt;
    }
  }

  /** Time of the oldest unshipped row (raw: no row is parsed for it). */
  private oldestTime(): number | undefined {
    return (this.nextRow.get(this.cursor) as { ts: number } | undefined)?.ts;
  }

  /** Reads and builds the batch after `after` (yielding between chunks); undefined when empty. */
  private async prepare(after: number): Promise<Prepared | undefined> {
    const rows: HistoryRow[] = [];
    const dead: PendingDead[] = [];
    let count = 0;
    let last = { id: after, stamp: "" };
    while (count < this.options.batchSize) {
      const limit = Math.min(READ_CHUNK, this.options.batchSize - count);
      const read = this.read(last.id, limit, dead);
      if (read === undefined) break;
      for (const row of read.rows) rows.push(row);
      count += read.count;
      last = read.last;
      if (read.count === READ_CHUNK) await new Promise((r) => setImmediate(r));
      if (this.stopped) return undefined;
    }
    if (count === 0) return undefined;
    const byBucket = new Map<string, BuiltPoint[]>();
    for (const row of rows) {
      let p: BuiltPoint;
      try {
        p = this.layout.build(row);
      } catch (err) {
        dead.push(this.unshippable(row.id, `could not build a point: ${errorMessage(err)}`));
        continue;
      }
      let list = byBucket.get(p.bucket);
      if (list === undefined) byBucket.set(p.bucket, (list = []));
      list.push(p);
    }
    return { after, rows, byBucket, dead, count, last };
  }

  /**
   * Up to `limit` rows after `after`. When the chunk cannot be read (a row whose series is gone,
   * a value the parser chokes on), rows are read one at a time and the unreadable ones are
   * dead-lettered; an error of SQLite itself is thrown (the shipper backs off and retries).
   */
  private read(
    after: number,
    limit: number,
    dead: PendingDead[],
  ): { rows: HistoryRow[]; count: number; last: { id: number; stamp: string } } | undefined {
    try {
      const rows = this.history.readAfter(after, limit);
      if (rows.length === 0) return undefined;
      const l = rows[rows.length - 1];
      return { rows, count: rows.length, last: { id: l.id, stamp: stampOf(l.time, l.timeSub) } };
    } catch (err) {
      if (isSqliteError(err)) throw err;
    }
    const rows: HistoryRow[] = [];
    let count = 0;
    let last = { id: after, stamp: "" };
    while (count < limit) {
      const next = this.nextRow.get(last.id) as { id: number; ts: number; ts_sub: number } | undefined;
      if (next === undefined) break;
      try {
        rows.push(...this.history.readAfter(next.id - 1, 1));
      } catch (err) {
        if (isSqliteError(err)) throw err;
        dead.push(this.unshippable(next.id, `could not read the history row: ${errorMessage(err)}`));
      }
      count++;
      last = { id: next.id, stamp: stampOf(next.ts, next.ts_sub) };
    }
    return count === 0 ? undefined : { rows, count, last };
  }

  /** The dead letter of a row that cannot become a point: its reason and a bounded description. */
  private unshippable(historyId: number, reason: string): PendingDead {
    const d = this.describeRow.get(historyId) as
      | {
          seriesId: number;
          thingId: string | null;
          kind: string | null;
          name: string | null;
          head: string | null;
          chars: number | null;
        }
      | undefined;
    const cut = (text: string) => (text.length > DESCRIBE_CHARS ? `${text.slice(0, DESCRIBE_CHARS)}…` : text);
    let line = `history row ${historyId}`;
    if (d !== undefined) {
      line +=
        d.thingId === null
          ? ` (series ${d.seriesId}: missing)`
          : ` (thing ${JSON.stringify(cut(d.thingId))}, ${d.kind} ${JSON.stringify(cut(d.name ?? ""))})`;
      if (d.head !== null) {
        line += `: value (${d.chars} characters) ${d.head}${(d.chars ?? 0) > DESCRIBE_CHARS ? "…" : ""}`;
      }
    }
    return { point: { historyId, bucket: "", line }, status: 0, reason };
  }

  /**
   * Writes one batch and advances the cursor when every point is accepted or dead. While the batch
   * is in flight the next one is read and built, so SQLite reads and point building overlap the
   * server's work; the prepared batch is used only if the cursor ends where it starts.
   */
  private async shipBatch(): Promise<void> {
    const ready = this.prefetched?.after === this.cursor ? this.prefetched : undefined;
    this.prefetched = undefined;
    const batch = ready ?? (await this.prepare(this.cursor));
    if (batch === undefined || this.stopped) return;
    const { rows, byBucket, dead, last } = batch;
    let prefetch: Promise<Prepared | undefined> | undefined;
    const startPrefetch = () => {
      if (batch.count >= this.options.batchSize) prefetch = this.prepare(last.id).catch(() => undefined);
    };
    try {
      let first = true;
      for (const [bucket, points] of byBucket) {
        try {
          await this.ensureBucket(bucket);
        } catch (err) {
          // A bucket / database that cannot be created (an invalid name): those points can go nowhere.
          if (!(err instanceof WriteFailure) || err.kind !== "malformed") throw err;
          for (const point of points) dead.push({ point, status: err.status ?? 0, reason: err.message });
          continue;
        }
        for (const chunk of splitByBytes(points, this.options.maxBatchBytes)) {
          const sending = this.send(bucket, chunk, dead);
          if (first) {
            first = false;
            startPrefetch();
          }
          await sending;
        }
      }
    } catch (err) {
      if (this.stopped) return;
      this.failed(err);
      return;
    }
    if (this.stopped) return;
    const next = prefetch === undefined ? undefined : await prefetch;
    // Rows below the cursor were dropped by the outbox bound while the batch was in flight.
    const deadIds = dead.length === 0 ? undefined : new Set(dead.map((d) => d.point.historyId));
    const accepted = rows.filter((r) => r.id > this.cursor && !deadIds?.has(r.id)).length;
    // Persisted first: when the commit throws, memory still says what SQLite says, and the batch is
    // sent again after the backoff (it overwrites itself).
    const advances = last.id > this.cursor;
    const cursorNs = advances ? last.stamp : this.cursorNs;
    const shipped = this.shipped + accepted;
    const deadLettered = this.deadLettered + dead.length;
    this.commitProgress(advances ? last.id : this.cursor, cursorNs, dead, shipped, deadLettered);
    this.shipped = shipped;
    this.deadLettered = deadLettered;
    if (advances) {
      this.advanceTo(last.id);
      this.cursorNs = cursorNs;
    }
    if (dead.length > 0) {
      log.warn(
        "%d records could not be shipped (malformed or rejected); kept in wotvo_influx_deadletter " +
          "(influxdb.deadLetters()), the queue goes on (first reason: %s)",
        dead.length,
        dead[0].reason,
      );
    }
    this.lastShippedAt = Date.now();
    this.succeeded(accepted);
    this.prefetched = next;
    const oldest = next?.rows[0]?.time ?? this.oldestTime();
    this.pendingSince = oldest === undefined ? undefined : Math.min(oldest, Date.now());
  }

  /** Writes one request; splits on 413 and bisects on 400/422 down to single dead-lettered points. */
  private async send(
    bucket: string,
    points: BuiltPoint[],
    dead: PendingDead[],
    created = false,
  ): Promise<void> {
    try {
      await this.transport.write(
        bucket,
        points.map((p) => p.line),
      );
    } catch (err) {
      if (!(err instanceof WriteFailure)) throw err;
      if (err.kind === "missing") {
        // Created once, then dropped (a wiped or restored server): create it again, once per request.
        if (!this.options.createBucket || created) throw this.missing(bucket, err);
        this.ensured.delete(bucket);
        await this.ensureBucket(bucket);
        log.warn(
          "%s was missing on %s (dropped?): created it again",
          this.bucketName(bucket),
          this.options.url,
        );
        return this.send(bucket, points, dead, true);
      }
      if (err.kind !== "too-large" && err.kind !== "malformed") throw err;
      if (points.length === 1) {
        dead.push({ point: points[0], status: err.status ?? 0, reason: err.message });
        return;
      }
      const half = Math.ceil(points.length / 2);
      await this.send(bucket, points.slice(0, half), dead);
      await this.send(bucket, points.slice(half), dead);
    }
  }

  private bucketName(bucket: string): string {
    return this.options.apiVersion === 1
      ? `database ${JSON.stringify(bucket)}`
      : `bucket ${JSON.stringify(bucket)} (org ${JSON.stringify(this.options.org)})`;
  }

  /** A 404 on write, said so that status().lastError tells the operator what to do. */
  private missing(bucket: string, err: WriteFailure): WriteFailure {
    const create =
      this.options.apiVersion === 1
        ? `create it (InfluxQL: CREATE DATABASE ${JSON.stringify(bucket)})`
        : `create it (influx bucket create --name ${JSON.stringify(bucket)} --org ${JSON.stringify(this.options.org)})`;
    const what = this.options.createBucket
      ? "it was created again but the server still does not find it; check the server and the token's rights"
      : `${create}, or set influxdb.createBucket: true to let the shipper create it`;
    return new WriteFailure(
      `${this.bucketName(bucket)} not found on ${this.options.url} (${err.message}): ${what}`,
      err.status,
      err.retryAfterMs,
    );
  }

  private async ensureBucket(bucket: string): Promise<void> {
    if (!this.options.createBucket || this.ensured.has(bucket)) return;
    await this.transport.ensureBucket(bucket);
    this.ensured.add(bucket);
  }

  private succeeded(n: number): void {
    this.attempt = 0;
    this.retryAt = 0;
    if (this.state === "down") {
      this.state = "recovering";
      log.info(
        "InfluxDB at %s accepts writes again; shipping the %d queued records",
        this.options.url,
        this.queued,
      );
    } else if (this.state === "starting") {
      this.state = "up";
    }
    if (this.state === "recovering") this.outageShipped += n;
    if (this.state === "recovering" && this.maxId() <= this.cursor) this.caughtUp();
  }

  private caughtUp(): void {
    if (this.state === "recovering") {
      log.warn(
        "InfluxDB caught up: shipped %d records queued during the outage%s",
        this.outageShipped,
        this.droppedThisEpisode > 0 ? `; ${this.droppedThisEpisode} oldest were dropped (outbox full)` : "",
      );
      this.outageShipped = 0;
    }
    if (this.state === "recovering") this.state = "up";
    if (this.dropping) {
      this.dropping = false;
      this.droppedThisEpisode = 0;
    }
  }

  private failed(err: unknown): void {
    const failure = err instanceof WriteFailure ? err : undefined;
    const message = errorMessage(err);
    this.lastError = message;
    this.lastErrorAt = Date.now();
    this.attempt++;
    const base = Math.min(
      this.options.maxRetryDelayMs,
      this.options.retryDelayMs * 2 ** Math.min(this.attempt - 1, 30),
    );
    const jitter = this.options.retryJitter;
    let delay = base * (1 - jitter + 2 * jitter * Math.random());
    if (failure?.retryAfterMs !== undefined) delay = Math.min(MAX_RETRY_AFTER_MS, failure.retryAfterMs);
    this.retryAt = Date.now() + delay;
    if (this.state !== "down") {
      this.state = "down";
      this.outageShipped = 0;
      let queued: number | string = "the unshipped";
      try {
        queued = this.queued;
      } catch {
        // SQLite itself failing: the message says why
      }
      log.warn(
        "%s (%s); %s records stay in the outbox, retrying with backoff (one line per state change)",
        failure ? "InfluxDB write failed" : "InfluxDB shipping failed",
        message,
        queued,
      );
    } else {
      log.debug("still failing (attempt %d, next in %d ms): %s", this.attempt, Math.round(delay), message);
    }
  }

  /** Moves the cursor up to `id`, keeping the byte count of the queue in step. */
  private advanceTo(id: number): void {
    this.queuedBytes = Math.max(
      0,
      this.queuedBytes - this.bytes(this.cursor, Math.min(id, this.bytesCountedTo)),
    );
    if (id > this.bytesCountedTo) this.bytesCountedTo = id;
    this.cursor = id;
  }

  private bytes(after: number, upTo: number): number {
    if (upTo <= after) return 0;
    return (this.bytesBetween.get(after, upTo) as { b: number }).b;
  }

  /** Keeps the unshipped rows within outbox.maxRows / maxBytes by skipping the oldest. */
  private enforceBounds(max: number): void {
    if (max > this.bytesCountedTo) {
      this.queuedBytes += this.bytes(Math.max(this.bytesCountedTo, this.cursor), max);
      this.bytesCountedTo = max;
    }
    const { maxRows, maxBytes } = this.options.outbox;
    const rows = max - this.cursor;
    if (rows <= maxRows && this.queuedBytes <= maxBytes) return;
    let dropTo = this.cursor;
    let bytes = this.queuedBytes;
    if (rows > maxRows) {
      dropTo = max - maxRows;
      bytes -= this.bytes(this.cursor, dropTo);
    }
    while (bytes > maxBytes && dropTo < max) {
      const step = Math.min(READ_CHUNK, max - dropTo);
      const chunk = this.bytes(dropTo, dropTo + step);
      if (bytes - chunk > maxBytes && step > 1) {
        bytes -= chunk;
        dropTo += step;
        continue;
      }
      // The cut is inside this chunk: walk it row by row (at most READ_CHUNK rows).
      for (let id = dropTo + 1; id <= dropTo + step && bytes > maxBytes; id++) {
        bytes -= this.bytes(id - 1, id);
        dropTo = id;
      }
    }
    const n = (this.countBetween.get(this.cursor, dropTo) as { n: number }).n;
    const stamp = this.rowStamp.get(dropTo) as { ts: number; ts_sub: number } | undefined;
    this.queuedBytes = bytes;
    this.cursor = dropTo;
    if (stamp) this.cursorNs = stampOf(stamp.ts, stamp.ts_sub);
    this.dropped += n;
    this.droppedThisEpisode += n;
    this.commitProgress(this.cursor, this.cursorNs, []);
    if (!this.dropping) {
      this.dropping = true;
      log.warn(
        "InfluxDB outbox full (maxRows %d, maxBytes %d): dropping the oldest unshipped records; " +
          "see influxdb.status().dropped (the rows stay in the local history)",
        maxRows,
        maxBytes,
      );
    }
    this.pendingSince = undefined;
  }

  /**
   * History ids are SQLite rowids: when retention has emptied the table, new rows may reuse ids at or
   * below the cursor. The cursor's (ts, ts_sub) stamp tells them apart; rebase on the first newer row.
   */
  private rebaseIfIdsReused(max: number): void {
    if (this.cursor === 0 || this.cursorNs === "0") return;
    let reused = max < this.cursor;
    if (!reused) {
      const at = this.rowStamp.get(this.cursor) as { ts: number; ts_sub: number } | undefined;
      reused = at !== undefined && stampOf(at.ts, at.ts_sub) !== this.cursorNs;
    }
    if (!reused) return;
    const [ts, sub] = this.cursorNs.split(".").map(Number);
    const first = (this.firstAfterStamp.get(ts, ts, sub) as { id: number | null }).id;
    const cursor = first === null ? max : first - 1;
    log.warn(
      "history ids were reused after the table was emptied; outbox cursor rebased %d → %d",
      this.cursor,
      cursor,
    );
    const at = this.rowStamp.get(cursor) as { ts: number; ts_sub: number } | undefined;
    this.cursor = cursor;
    if (at) this.cursorNs = stampOf(at.ts, at.ts_sub);
    this.bytesCountedTo = cursor;
    this.queuedBytes = 0;
    this.commitProgress(this.cursor, this.cursorNs, []);
  }
}

/** The (ts, ts_sub) stamp of a row as stored in the meta table. */
function stampOf(ts: number, sub: number): string {
  return `${ts}.${sub}`;
}

function* splitByBytes(points: BuiltPoint[], maxBytes: number): Generator<BuiltPoint[]> {
  let chunk: BuiltPoint[] = [];
  let bytes = 0;
  for (const p of points) {
    const size = Buffer.byteLength(p.line) + 1;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(p);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
