/**
 * The outbox cursor: how far shipping has come in the history, and how much waits behind it.
 *
 * - **Cursor.** The last history id the server accepted (or that was dead-lettered or dropped),
 *   persisted in `wotvo_meta` with the counters `shipped`, `dropped`, `dead_lettered`, in the same
 *   transaction as the dead letters of the batch. Saved before memory changes: when saving
 *   throws, memory still says what SQLite says.
 * - **Size.** Unshipped rows are `lastId − cursor` (ids above the cursor are contiguous:
 *   AUTOINCREMENT, and retention never deletes above the cursor). Their size in bytes (the
 *   characters of value, output and error, plus ROW_OVERHEAD_BYTES per row) is kept in memory and
 *   fed by every group commit of the store (`onCommit`); a shipped batch says what it carried. No
 *   row is summed in SQL on the way. What an earlier run left unshipped is counted once at start,
 *   newest first, `countChunkRows` at a time with a turn of the event loop between chunks, while
 *   shipping already runs; until it is done the byte bound waits (the row bound does not).
 * - **Bound.** Beyond `maxRows` rows or `maxBytes` bytes the cursor skips the oldest: counted in
 *   `dropped`, one warning per episode. The rows stay in the local history.
 *
 * Sizes are kept as checkpoints (id, cumulative bytes) every CHECKPOINT_ROWS rows or so, so the
 * byte bound finds where to cut with one short SQL walk inside a single checkpoint's rows.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import type { InfluxOptions } from "./options";
import { createLogger } from "../log";

const log = createLogger("influx");

/** Bytes counted per row on top of its value, output and error text (ids, timestamps, tags). */
export const ROW_OVERHEAD_BYTES = 64;
/** Rows between two size checkpoints (a commit larger than this makes one checkpoint of its own). */
const CHECKPOINT_ROWS = 1024;
/** The size of one row as SQL counts it (characters, as the store counts them at commit). */
const ROW_SIZE_SQL = `COALESCE(length(value), 0) + COALESCE(length(output), 0) + COALESCE(length(error), 0) + ${ROW_OVERHEAD_BYTES}`;
/** The same, summed over a range of rows (aggregates skip NULLs: a little faster than per-row COALESCE). */
const RANGE_SIZE_SQL = `total(length(value)) + total(length(output)) + total(length(error)) + ${ROW_OVERHEAD_BYTES} * count(*)`;

const META = {
  cursor: "influx.cursor",
  cursorNs: "influx.cursor_ns",
  shipped: "influx.shipped",
  dropped: "influx.dropped",
  deadLettered: "influx.dead_lettered",
} as const;

/** What the cursor needs of the history store. */
export interface OutboxSource {
  /** Highest committed history id (in memory). */
  readonly lastId: number;
  /** Characters of value, output and error committed since the store opened (in memory). */
  readonly committedTextChars: number;
  onCommit(listener: (records: number, commitMs: number) => void): () => void;
}

/** A batch, as the cursor sees it when it advances over it. */
export interface ShippedRange {
  /** Bytes (as the outbox counts them) of the batch's rows with ids in (after, upTo]. */
  bytesBetween(after: number, upTo: number): number;
}

/** A point (or an unreadable row) that will never be written: kept in wotvo_influx_deadletter. */
export interface PendingDead {
  historyId: number;
  bucket: string;
  line: string;
  status: number;
  reason: string;
}

export interface DeadLetter {
  id: number;
  historyId: number;
  bucket: string;
  line: string;
  status: number;
  reason: string;
  at: string;
}

export type OutboxBound = InfluxOptions["outbox"];

export class OutboxCursor {
  /** The last history id shipped, dead-lettered or dropped. */
  position = 0;
  shipped = 0;
  dropped = 0;
  deadLettered = 0;
  /** Rows dropped since the outbox was last found within its bound. */
  droppedThisEpisode = 0;

  private stamp = "0";
  private dropping = false;
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private seenId = 0;
  private seenChars = 0;
  /** Cumulative bytes of every counted row up to the newest committed one. */
  private total = 0;
  /**
   * Checkpoints, ascending: `ends[k]` is a history id, `cums[k]` the cumulative bytes up to it.
   * The first is the lowest id whose position is known: the cursor, or, while an earlier run's
   * outbox is being counted, where counting has got to (rows between the cursor and it are not
   * counted yet).
   */
  private ends: number[] = [0];
  private cums: number[] = [0];
  private countDone: Promise<void> = Promise.resolve();
  /**
   * What is known of the rows not counted yet: at most this many bytes (their text is part of the
   * file, so the file's size bounds it). While that bound keeps the outbox within maxBytes they
   * need not be counted at all; `undefined` once counting has started.
   */
  private uncountedAtMost: number | undefined;
  private readonly fileBytes: () => number;

  private readonly getMeta: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly insertDead: Database.Statement;
  private readonly selectDead: Database.Statement;
  private readonly rowStamp: Database.Statement;
  private readonly sizeBetween: Database.Statement;
  private readonly sizesBetween: Database.Statement;
  private readonly persist: (
    cursor: number,
    stamp: string,
    shipped: number,
    dropped: number,
    deadLettered: number,
    dead: readonly PendingDead[],
  ) => void;

  constructor(
    db: Database.Database,
    private readonly source: OutboxSource,
    private readonly bound: OutboxBound,
  ) {
    this.getMeta = db.prepare("SELECT value FROM wotvo_meta WHERE key = ?").pluck();
    this.setMeta = db.prepare(
      "INSERT INTO wotvo_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    this.insertDead = db.prepare(
      "INSERT INTO wotvo_influx_deadletter (history_id, bucket, line, status, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.selectDead = db.prepare(
      "SELECT id, history_id AS historyId, bucket, line, status, reason, at FROM wotvo_influx_deadletter ORDER BY id DESC LIMIT ?",
    );
    this.rowStamp = db.prepare("SELECT ts, ts_sub FROM wotvo_history WHERE id = ?").raw();
    const pageCount = db.prepare("PRAGMA page_count").pluck();
    const pageSize = db.prepare("PRAGMA page_size").pluck();
    this.fileBytes = () => (pageCount.get() as number) * (pageSize.get() as number);
    this.sizeBetween = db
      .prepare(`SELECT ${RANGE_SIZE_SQL} FROM wotvo_history WHERE id > ? AND id <= ?`)
      .pluck();
    this.sizesBetween = db
      .prepare(`SELECT id, ${ROW_SIZE_SQL} FROM wotvo_history WHERE id > ? AND id <= ? ORDER BY id`)
      .raw();
    this.persist = db.transaction(
      (
        cursor: number,
        stamp: string,
        shipped: number,
        dropped: number,
        deadLettered: number,
        dead: readonly PendingDead[],
      ) => {
        const now = Date.now();
        for (const d of dead) this.insertDead.run(d.historyId, d.bucket, d.line, d.status, d.reason, now);
        this.setMeta.run(META.cursor, String(cursor));
        // Read by versions before 0.2, which checked it against the row at the cursor.
        this.setMeta.run(META.cursorNs, stamp);
        this.setMeta.run(META.shipped, String(shipped));
        this.setMeta.run(META.dropped, String(dropped));
        this.setMeta.run(META.deadLettered, String(deadLettered));
      },
    );
    const meta = (key: string) => this.getMeta.get(key) as string | undefined;
    this.position = Number(meta(META.cursor) ?? 0);
    this.stamp = meta(META.cursorNs) ?? "0";
    this.shipped = Number(meta(META.shipped) ?? 0);
    this.dropped = Number(meta(META.dropped) ?? 0);
    this.deadLettered = Number(meta(META.deadLettered) ?? 0);
  }

  /**
   * Starts following the store's commits. What an earlier run left unshipped is counted in the
   * background (`counted` resolves when done) — unless the file is too small for it to matter:
   * the rows' text is part of the file, so file size + ROW_OVERHEAD_BYTES per row bounds their
   * size; they are counted only once that bound no longer keeps the outbox within maxBytes.
   * Idempotent.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.seenId = this.source.lastId;
    this.seenChars = this.source.committedTextChars;
    this.total = 0;
    // Position 0 (bytes) is the newest row now; the rows from the cursor up to it are not counted.
    this.ends = [Math.max(this.position, this.seenId)];
    this.cums = [0];
    this.unsubscribe = this.source.onCommit((records) => this.committed(records));
    this.uncountedAtMost = this.counting
      ? this.fileBytes() + ROW_OVERHEAD_BYTES * (this.ends[0] - this.position)
      : 0;
    this.countIfNeeded();
  }

  /** Starts counting the rows an earlier run left when their bound no longer keeps the outbox in. */
  private countIfNeeded(): void {
    if (this.uncountedAtMost === undefined || !this.counting) return;
    if (this.uncountedAtMost + (this.total - this.cums[0]) <= this.bound.maxBytes) return;
    this.uncountedAtMost = undefined;
    this.countDone = this.countBacklog();
  }

  stop(): void {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /**
   * Resolves when the rows an earlier run left are counted, or (while they cannot exceed the
   * bound) need not be.
   */
  get counted(): Promise<void> {
    return this.countDone;
  }

  /** Committed rows not shipped yet. */
  get queued(): number {
    return Math.max(0, this.source.lastId - this.position);
  }

  /** Bytes of the unshipped rows; undefined while an earlier run's outbox is still being counted. */
  get queuedBytes(): number | undefined {
    return this.counting ? undefined : this.total - this.cums[0];
  }

  private get counting(): boolean {
    return this.position < this.ends[0];
  }

  /**
   * The server accepted (or dead-lettered) the batch up to `to`: `accepted` more records shipped,
   * `dead` dead-lettered. Persisted first; memory follows only when SQLite took it.
   */
  advance(
    to: number,
    stamp: string,
    accepted: number,
    dead: readonly PendingDead[],
    range: ShippedRange,
  ): void {
    const moves = to > this.position;
    const shipped = this.shipped + accepted;
    const deadLettered = this.deadLettered + dead.length;
    this.persist(
      moves ? to : this.position,
      moves ? stamp : this.stamp,
      shipped,
      this.dropped,
      deadLettered,
      dead,
    );
    this.shipped = shipped;
    this.deadLettered = deadLettered;
    if (moves) {
      if (this.uncountedAtMost !== undefined && this.counting) {
        this.uncountedAtMost -= range.bytesBetween(this.position, Math.min(to, this.ends[0]));
      }
      this.moveTo(to, () => this.cums[0] + range.bytesBetween(this.ends[0], to));
      this.stamp = stamp;
    }
  }

  /**
   * Keeps the unshipped rows within the bound by skipping the oldest. Returns how many were
   * dropped now (0 when within the bound).
   */
  enforceBound(): number {
    this.countIfNeeded();
    const last = this.source.lastId;
    const { maxRows, maxBytes } = this.bound;
    let dropTo = this.position;
    if (last - dropTo > maxRows) dropTo = last - maxRows;
    let cum: number | undefined;
    if (!this.counting && this.total - this.cums[0] > maxBytes) {
      const at = dropTo === this.position ? this.cums[0] : this.cumAt(dropTo);
      [dropTo, cum] = this.cutFor(this.total - maxBytes, dropTo, at);
    }
    if (dropTo <= this.position) return 0;
    const n = dropTo - this.position;
    const row = this.rowStamp.get(dropTo) as [number, number] | undefined;
    const stamp = row === undefined ? this.stamp : `${row[0]}.${row[1]}`;
    this.persist(dropTo, stamp, this.shipped, this.dropped + n, this.deadLettered, []);
    this.dropped += n;
    this.droppedThisEpisode += n;
    this.stamp = stamp;
    this.moveTo(dropTo, () => cum ?? this.cumAt(dropTo));
    if (!this.dropping) {
      this.dropping = true;
      log.warn(
        "InfluxDB outbox full (maxRows %d, maxBytes %d): dropping the oldest unshipped records; " +
          "see influxdb.status().dropped (the rows stay in the local history)",
        maxRows,
        maxBytes,
      );
    }
    return n;
  }

  /** Ends a dropping episode (the outbox is empty again): the next overflow logs again. */
  endEpisode(): void {
    this.dropping = false;
    this.droppedThisEpisode = 0;
  }

  deadLetters(limit: number): DeadLetter[] {
    return (this.selectDead.all(limit) as (Omit<DeadLetter, "at"> & { at: number })[]).map((d) => ({
      ...d,
      at: new Date(d.at).toISOString(),
    }));
  }

  /** A group commit of the store: its rows and text join the counted size. */
  private committed(records: number): void {
    const lastId = this.source.lastId;
    const chars = this.source.committedTextChars;
    this.total += chars - this.seenChars + records * ROW_OVERHEAD_BYTES;
    this.seenChars = chars;
    if (lastId <= this.seenId) return;
    this.seenId = lastId;
    const n = this.ends.length;
    if (n >= 2 && this.ends[n - 1] - this.ends[n - 2] < CHECKPOINT_ROWS) {
      this.ends[n - 1] = lastId;
      this.cums[n - 1] = this.total;
    } else {
      this.ends.push(lastId);
      this.cums.push(this.total);
    }
  }

  /**
   * Moves the cursor to `to`. Past the first checkpoint the cursor's cumulative size becomes
   * `cumAtTo()`, and the checkpoints below it are let go.
   */
  private moveTo(to: number, cumAtTo: () => number): void {
    if (to > this.ends[0]) {
      const at = cumAtTo();
      while (this.ends.length > 1 && this.ends[1] <= to) {
        this.ends.shift();
        this.cums.shift();
      }
      const ceiling = this.ends.length > 1 ? this.cums[1] : this.total;
      this.ends[0] = to;
      this.cums[0] = Math.min(at, ceiling);
    }
    this.position = to;
  }

  /** Cumulative bytes up to `id` (at or above the first checkpoint): checkpoints, then one SQL sum. */
  private cumAt(id: number): number {
    const k = this.checkpointAtOrAbove(id);
    if (k === this.ends.length) return this.total;
    if (this.ends[k] === id || k === 0) return this.cums[k];
    const sum = this.sizeBetween.get(this.ends[k - 1], id) as number;
    return Math.min(this.cums[k - 1] + sum, this.cums[k]);
  }

  /**
   * The lowest id at or above `from` (cumulative `fromCum`) whose cumulative bytes reach `target`:
   * a checkpoint, then one SQL walk over that checkpoint's rows.
   */
  private cutFor(target: number, from: number, fromCum: number): [number, number] {
    if (fromCum >= target) return [from, fromCum];
    let k = this.checkpointAtOrAbove(from);
    while (k < this.ends.length && this.cums[k] < target) k++;
    if (k === this.ends.length) return [this.source.lastId, this.total];
    let id = k > 0 && this.ends[k - 1] > from ? this.ends[k - 1] : from;
    let cum = k > 0 && this.ends[k - 1] > from ? this.cums[k - 1] : fromCum;
    for (const [rowId, size] of this.sizesBetween.iterate(id, this.ends[k]) as Iterable<[number, number]>) {
      id = rowId;
      cum += size;
      if (cum >= target) return [id, Math.min(cum, this.cums[k])];
    }
    return [this.ends[k], this.cums[k]];
  }

  /** Index of the first checkpoint at or above `id` (binary search; ends.length when none). */
  private checkpointAtOrAbove(id: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Counts the rows an earlier run left between the cursor and the newest row, newest first,
   * `countChunkRows` per step with a turn of the event loop after each. Shipping meanwhile moves
   * the cursor up; the two meet and counting ends.
   */
  private async countBacklog(): Promise<void> {
    while (this.running && this.counting) {
      // One step: up to countChunkRows rows below the counted part, a checkpoint every CHECKPOINT_ROWS.
      const floor = Math.max(this.position, this.ends[0] - this.bound.countChunkRows);
      while (this.ends[0] > floor) {
        const hi = this.ends[0];
        const lo = Math.max(floor, hi - CHECKPOINT_ROWS);
        const bytes = this.sizeBetween.get(lo, hi) as number;
        this.ends.unshift(lo);
        this.cums.unshift(this.cums[0] - bytes);
      }
      if (this.counting) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
