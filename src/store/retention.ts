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
  private readonly firstAtOrAfter: Database.Statement;
  private readonly deleteUpTo: Database.Statement;
  private readonly maxId: Database.Statement;

  /**
   * @param protectAfter rows with an id above this are never deleted by retention (the shipper's
   *   unshipped rows; the outbox bound decides about those). Undefined: nothing protected.
   */
  constructor(
    db: Database.Database,
    private readonly options: RetentionOptions,
    private readonly protectAfter: () => number | undefined = () => undefined,
  ) {
    this.firstAtOrAfter = db.prepare("SELECT id, ts FROM wotvo_history WHERE id >= ? ORDER BY id LIMIT 1");
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
        const cutoff = now - this.options.maxAgeMs;
        const upTo = Math.min(this.lastIdBefore(cutoff), ceiling);
        if (upTo > 0) {
          result.deletedByAge = await this.chunked(
            () => this.deleteUpTo.run(upTo, this.options.chunkRows).changes,
          );
        }
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
   * Largest id whose record is older than `cutoff`, by binary search over ids: ids and times grow
   * together (the store stamps records monotonically), so no index on time is needed. Records a
   * script back-dated with an explicit time are purged with their neighbours by id.
   */
  private lastIdBefore(cutoff: number): number {
    const first = this.firstAtOrAfter.get(0) as { id: number; ts: number } | undefined;
    if (first === undefined || first.ts >= cutoff) return 0;
    let lo = first.id; // ts < cutoff
    let hi = (this.maxId.get() as { m: number }).m + 1; // treated as ts >= cutoff
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.firstAtOrAfter.get(mid) as { id: number; ts: number } | undefined;
      if (row === undefined || row.id >= hi || row.ts >= cutoff) hi = mid;
      else lo = row.id;
    }
    return lo;
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
