/**
 * The bytes a set of things' recorded history takes, for the service manager's `storageLimit`.
 *
 * Counted per record: the UTF-8 bytes of its value, output, error, op and source texts plus
 * RECORD_OVERHEAD_BYTES for its numbers (time, sub-slot, ok flag, duration, series). This is the
 * data the service caused to be stored, independent of SQLite's page layout, of other services
 * sharing the file and of free pages after retention; it is what moves when the service records.
 *
 * Kept incrementally, per series, in memory: each call counts only the records committed since the
 * last one, by id (ids only grow), in chunks with a turn of the event loop between them — so the
 * first count of a large file, or the recount after retention deleted rows (`invalidate`), never
 * blocks interactions for long. Nothing is counted until someone asks (a service with a limit).
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop

export const RECORD_OVERHEAD_BYTES = 32;

const RECORD_BYTES = `COALESCE(LENGTH(CAST(value AS BLOB)), 0) + COALESCE(LENGTH(CAST(output AS BLOB)), 0) +
  COALESCE(LENGTH(CAST(error AS BLOB)), 0) + LENGTH(CAST(op AS BLOB)) + LENGTH(CAST(source AS BLOB)) +
  ${RECORD_OVERHEAD_BYTES}`;

interface ChunkRow {
  series: number;
  bytes: number;
  rows: number;
  last: number;
}

export class HistorySize {
  private readonly bytesBySeries = new Map<number, number>();
  /** Highest history id counted. */
  private countedUpTo = 0;
  private catchingUp: Promise<void> | undefined;
  private readonly chunk: Database.Statement;
  private readonly seriesOfThings: Database.Statement;

  /** @param chunkRows records counted per turn of the event loop */
  constructor(
    db: Database.Database,
    private readonly chunkRows = 10_000,
  ) {
    // A range of the rowid, so each chunk reads only new records.
    this.chunk = db.prepare(
      `SELECT series_id AS series, SUM(${RECORD_BYTES}) AS bytes, COUNT(*) AS rows, MAX(id) AS last
       FROM (SELECT * FROM wotvo_history WHERE id > ? ORDER BY id LIMIT ?)
       GROUP BY series_id`,
    );
    // The ids travel as one JSON array so a single prepared statement serves any number of things.
    this.seriesOfThings = db
      .prepare("SELECT id FROM wotvo_series WHERE thing_id IN (SELECT value FROM json_each(?))")
      .pluck();
  }

  /** Bytes of the committed records of the things with these ids (0 for none). */
  async bytesOf(thingIds: readonly string[]): Promise<number> {
    if (thingIds.length === 0) return 0;
    this.catchingUp ??= this.catchUp().finally(() => (this.catchingUp = undefined));
    await this.catchingUp;
    let total = 0;
    for (const series of this.seriesOfThings.all(JSON.stringify(thingIds)) as number[])
      total += this.bytesBySeries.get(series) ?? 0;
    return total;
  }

  /** Rows were deleted or moved between series (retention, adopted history): count again when asked. */
  invalidate(): void {
    this.bytesBySeries.clear();
    this.countedUpTo = 0;
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      // Read and applied in one synchronous step: an invalidate() between chunks restarts from 0.
      let rows = 0;
      for (const c of this.chunk.all(this.countedUpTo, this.chunkRows) as ChunkRow[]) {
        this.bytesBySeries.set(c.series, (this.bytesBySeries.get(c.series) ?? 0) + c.bytes);
        if (c.last > this.countedUpTo) this.countedUpTo = c.last;
        rows += c.rows;
      }
      if (rows < this.chunkRows) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
