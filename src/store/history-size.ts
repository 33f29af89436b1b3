/**
 * The bytes a set of things' recorded history takes, for the service manager's `storageLimit`.
 *
 * Counted per record: the UTF-8 bytes of its value, output, error, op and source texts plus
 * RECORD_OVERHEAD_BYTES for its numbers (time, sub-slot, ok flag, duration, series). This is the
 * data the service caused to be stored, independent of SQLite's page layout, of other services
 * sharing the file and of free pages after retention; it is what moves when the service records.
 *
 * Cost: one pass over the records of those things' series through the (series_id, ts) index.
 * A service under a storageLimit has at most about that many bytes of records, so a check costs
 * in proportion to the limit it enforces, not to the file.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop

export const RECORD_OVERHEAD_BYTES = 32;

export class HistorySize {
  private readonly bytesOfThings: Database.Statement;

  constructor(db: Database.Database) {
    // The ids travel as one JSON array so a single prepared statement serves any number of things.
    this.bytesOfThings = db
      .prepare(
        `SELECT COALESCE(SUM(
           COALESCE(LENGTH(CAST(h.value AS BLOB)), 0) + COALESCE(LENGTH(CAST(h.output AS BLOB)), 0) +
           COALESCE(LENGTH(CAST(h.error AS BLOB)), 0) + LENGTH(CAST(h.op AS BLOB)) +
           LENGTH(CAST(h.source AS BLOB)) + ${RECORD_OVERHEAD_BYTES}), 0)
         FROM wotvo_series s JOIN wotvo_history h ON h.series_id = s.id
         WHERE s.thing_id IN (SELECT value FROM json_each(?))`,
      )
      .pluck();
  }

  /** Bytes of the committed records of the things with these ids (0 for none). */
  bytesOf(thingIds: readonly string[]): number {
    if (thingIds.length === 0) return 0;
    return Number(this.bytesOfThings.get(JSON.stringify(thingIds)));
  }
}
