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

/** A batch read and built, not yet written: the rows after `after`. */
interface Prepared {
  after: number;
  rows: HistoryRow[];
  byBucket: Map<string, BuiltPoint[]>;
  dead: PendingDead[];
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
  private readonly commitProgress: (cursor: number, cursorNs: string, dead: PendingDead[]) => void;

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
    this.insertDead = db.prepare(
      "INSERT INTO wotvo_influx_deadletter (history_id, bucket, line, status, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.selectDead = db.prepare(
      "SELECT id, history_id AS historyId, bucket, line, status, reason, at FROM wotvo_influx_deadletter ORDER BY id DESC LIMIT ?",
    );
    this.commitProgress = db.transaction((cursor: number, cursorNs: string, dead: PendingDead[]) => {
      const now = Date.now();
      for (const d of dead) {
        this.insertDead.run(d.point.historyId, d.point.bucket, d.point.line, d.status, d.reason, now);
      }
      this.setMeta.run(META.cursor, String(cursor));
      this.setMeta.run(META.cursorNs, cursorNs);
      this.setMeta.run(META.shipped, String(this.shipped));
      this.setMeta.run(META.dropped, String(this.dropped));
      this.setMeta.run(META.deadLettered, String(this.deadLettered));
    });
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
    if (this.stopped) return;
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
      if (this.pendingSince === undefined) {
        const oldest = this.history.readAfter(this.cursor, 1)[0];
        this.pendingSince = Math.min(oldest?.time ?? now, now);
      }
      const due =
        this.flushing ||
        this.state === "down" ||
        this.state === "recovering" ||
        max - this.cursor >= this.options.batchSize ||
        now - this.pendingSince >= this.options.flushIntervalMs;
      if (!due) return;
      this.running = this.shipBatch()
        .catch((err) => log.error("shipper: unexpected error: %s", errorMessage(err)))
        .finally(() => {
          this.running = undefined;
          // Backlog: go on at once rather than waiting for the next tick.
          if (!this.stopped && this.state !== "down" && this.maxId() > this.cursor)
            setImmediate(() => this.tick());
        });
    } catch (err) {
      if (!this.stopped) log.error("shipper: %s", errorMessage(err));
    }
  }

  /** Reads and builds the batch after `after` (yielding between chunks); undefined when empty. */
  private async prepare(after: number): Promise<Prepared | undefined> {
    const rows: HistoryRow[] = [];
    let last = after;
    while (rows.length < this.options.batchSize) {
      const chunk = this.history.readAfter(last, Math.min(READ_CHUNK, this.options.batchSize - rows.length));
      if (chunk.length === 0) break;
      for (const row of chunk) rows.push(row);
      last = chunk[chunk.length - 1].id;
      if (chunk.length === READ_CHUNK) await new Promise((r) => setImmediate(r));
      if (this.stopped) return undefined;
    }
    if (rows.length === 0) return undefined;
    const dead: PendingDead[] = [];
    const byBucket = new Map<string, BuiltPoint[]>();
    for (const row of rows) {
      try {
        const p = this.layout.build(row);
        let list = byBucket.get(p.bucket);
        if (list === undefined) byBucket.set(p.bucket, (list = []));
        list.push(p);
      } catch (err) {
        dead.push({
          point: { historyId: row.id, bucket: "", line: JSON.stringify(row) },
          status: 0,
          reason: `could not build a point: ${errorMessage(err)}`,
        });
      }
    }
    return { after, rows, byBucket, dead };
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
    const { rows, byBucket, dead } = batch;
    const lastRow = rows[rows.length - 1];
    let prefetch: Promise<Prepared | undefined> | undefined;
    const startPrefetch = () => {
      if (rows.length >= this.options.batchSize) prefetch = this.prepare(lastRow.id).catch(() => undefined);
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
    const last = lastRow;
    const accepted = rows.filter((r) => r.id > this.cursor).length;
    this.deadLettered += dead.length;
    this.shipped += accepted - dead.filter((d) => d.point.historyId > this.cursor).length;
    if (last.id > this.cursor) {
      this.advanceTo(last.id);
      this.cursorNs = stampOf(last.time, last.timeSub);
    }
    this.commitProgress(this.cursor, this.cursorNs, dead);
    if (dead.length > 0) {
      log.warn(
        "InfluxDB rejected %d points as malformed; kept in wotvo_influx_deadletter (first reason: %s)",
        dead.length,
        dead[0].reason,
      );
    }
    this.lastShippedAt = Date.now();
    this.succeeded(accepted);
    this.prefetched = next;
    const oldest = next?.rows[0] ?? this.history.readAfter(this.cursor, 1)[0];
    this.pendingSince = oldest ? Math.min(oldest.time, Date.now()) : undefined;
  }

  /** Writes one request; splits on 413 and bisects on 400/422 down to single dead-lettered points. */
  private async send(bucket: string, points: BuiltPoint[], dead: PendingDead[]): Promise<void> {
    try {
      await this.transport.write(
        bucket,
        points.map((p) => p.line),
      );
    } catch (err) {
      if (!(err instanceof WriteFailure)) throw err;
      if (err.kind === "missing" && this.options.createBucket && !this.ensured.has(bucket)) {
        await this.ensureBucket(bucket);
        return this.send(bucket, points, dead);
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
      log.warn(
        "InfluxDB write failed (%s); %d records stay in the outbox, retrying with backoff (one line per state change)",
        message,
        this.queued,
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
