/**
 * Opens the servient's SQLite file (sqlite-file.ts: WAL, busy timeout, foreign keys, a corrupt
 * file moved aside) with the forward-only migrations under a schema version
 * (`PRAGMA user_version`). Nothing here knows about node-wot.
 */
import type * as BetterSqlite3 from "better-sqlite3"; // in the .d.ts: needs no esModuleInterop
import { MIGRATIONS } from "./migrations";
import { createLogger } from "../log";
import { migrateTo, openSqliteFile, type MovedAside } from "../sqlite-file";

const log = createLogger("store");

export type SqliteDatabase = BetterSqlite3.Database;

export interface OpenOptions {
  /** File path, or `:memory:`. The directory is created when missing. */
  file: string;
  /** `normal` survives a process crash; `full` also survives power loss (one fsync per commit). */
  synchronous: "normal" | "full";
  busyTimeoutMs: number;
}

export type { MovedAside };

const movedAside = new WeakMap<SqliteDatabase, MovedAside>();

/** What openDatabase moved aside before it opened `db`, if anything (for the health view). */
export function movedAsideOf(db: SqliteDatabase): MovedAside | undefined {
  return movedAside.get(db);
}

export function openDatabase(options: OpenOptions): SqliteDatabase {
  const { db, moved } = openSqliteFile({
    ...options,
    label: "SQLite file",
    setting: "sqlite.file or dataDir",
    migrate,
  });
  if (moved !== undefined) {
    log.error(
      "the SQLite file '%s' is corrupt (%s): moved it aside to '%s' and started a fresh file; " +
        "the history recorded before is in the moved file",
      options.file,
      moved.reason,
      moved.movedTo,
    );
    movedAside.set(db, moved);
  }
  return db;
}

/** Runs every migration above the file's `user_version` (sqlite-file.ts). */
export function migrate(db: SqliteDatabase): number {
  return migrateTo(db, MIGRATIONS, "SQLite file");
}
