/**
 * Retention of the history by age and by row count, in the background: deletes go in small
 * chunks with a yield to the event loop between them, so interactions never wait behind a purge.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import { createLogger } from "../log";
import { errorMessage } from "../errors";

const log = createLogger("retention");

export interface RetentionOptions {
  /** Delete records older than this many milliseconds (0 = keep forever). */
  maxAgeMs: number;
  /** Keep at most this many records (0 = no limit). */
  maxRows: number;
  /** How often to purge. */
  intervalMs: number;
  /** Rows deleted per transaction. */
  chunkRows: number;
}

export interface RetentionResult {
  deletedByAge: number;
  deletedByCount: number;
}

export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionResult> | undefined;
  private readonly seriesIds: Database.Statement;
  private readonly deleteOlder: Database.Statement;
  private readonly deleteUpTo: Database.Statement;
  private readonly maxId: Database.Statement;

  /**
   * @param protectAfter rows with an id above this are never deleted by retention (the shipper's
   *   unshipped rows; the outbox bound decides about those). Undefined: nothing protected.
   * @param onDeleted runs after a purge that deleted rows.
   */
  constructor(
    db: Database.Database,
    private readonly options: RetentionOptions,
    private readonly protectAfter: () => number | undefined = () => undefined,
    /** Called after a purge that deleted rows (counts kept elsewhere are stale then). */
    private readonly onDeleted: () => void = () => undefined,
  ) {
    this.seriesIds = db.prepare("SELECT id FROM wotvo_series ORDER BY id").pluck();
    // Oldest first through the index (series_id, ts, ts_sub); RETURNING gives the chunk's newest
    // ts, where the next chunk starts, so protected rows below it are not scanned again.
    this.deleteOlder = db
      .prepare(
        `DELETE FROM wotvo_history WHERE id IN (
           SELECT id FROM wotvo_history WHERE series_id = ? AND ts >= ? AND ts < ? AND id <= ?
           ORDER BY ts, ts_sub LIMIT ?)
         RETURNING ts`,
      )
      .pluck();
    this.deleteUpTo = db.prepare(
      "DELETE FROM wotvo_history WHERE id IN (SELECT id FROM wotvo_history WHERE id <= ? ORDER BY id LIMIT ?)",
    );
    this.maxId = db.prepare("SELECT COALESCE(MAX(id), 0) AS m FROM wotvo_history");
  }

  get enabled(): boolean {
    return this.options.maxAgeMs > 0 || this.options.maxRows > 0;
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => void this.run(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One purge; concurrent calls share the running one. */
  run(now = Date.now()): Promise<RetentionResult> {
    this.running ??= this.purge(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async purge(now: number): Promise<RetentionResult> {
    const result: RetentionResult = { deletedByAge: 0, deletedByCount: 0 };
    const ceiling = this.protectAfter() ?? Number.MAX_SAFE_INTEGER;
    try {
      if (this.options.maxAgeMs > 0) {
        result.deletedByAge = await this.deleteByAge(now - this.options.maxAgeMs, ceiling);
      }
      if (this.options.maxRows > 0) {
        // ids only grow, so deleting every id <= max - maxRows leaves at most maxRows rows.
        const max = (this.maxId.get() as { m: number }).m;
        const upTo = Math.min(max - this.options.maxRows, ceiling);
        if (upTo > 0) {
          result.deletedByCount = await this.chunked(
            () => this.deleteUpTo.run(upTo, this.options.chunkRows).changes,
          );
        }
      }
      if (result.deletedByAge + result.deletedByCount > 0) {
        this.onDeleted();
        log.info(
          "retention deleted %d rows by age and %d by count",
          result.deletedByAge,
          result.deletedByCount,
        );
      }
    } catch (err) {
      log.error("retention failed: %s", errorMessage(err));
    }
    return result;
  }

  /**
   * Deletes the rows older than `cutoff` (and not above `ceiling`), series by series through the
   * index: times do not grow with ids (a script may back-date a point), so no id range stands for
   * an age. One chunk per transaction, a turn of the event loop after each.
   */
  private async deleteByAge(cutoff: number, ceiling: number): Promise<number> {
    let total = 0;
    for (const series of this.seriesIds.all() as number[]) {
      let from = 0;
      for (;;) {
        const times = this.deleteOlder.all(series, from, cutoff, ceiling, this.options.chunkRows) as number[];
        total += times.length;
        if (times.length > 0) await new Promise((resolve) => setImmediate(resolve));
        if (times.length < this.options.chunkRows) break;
        // Rows still below this ts are protected ones; equal ts may hold more to delete.
        for (const ts of times) if (ts > from) from = ts;
      }
    }
    return total;
  }

  private async chunked(deleteChunk: () => number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = deleteChunk();
      total += n;
      if (n < this.options.chunkRows) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
