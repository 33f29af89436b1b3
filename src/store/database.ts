/**
 * Opens the servient's SQLite file: WAL, busy timeout, foreign keys, and the forward-only
 * migrations under a schema version (`PRAGMA user_version`). Nothing here knows about node-wot.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type * as BetterSqlite3 from "better-sqlite3"; // in the .d.ts: needs no esModuleInterop
import { MIGRATIONS } from "./migrations";
import { VoError } from "../errors";

export type SqliteDatabase = BetterSqlite3.Database;

export interface OpenOptions {
  /** File path, or `:memory:`. The directory is created when missing. */
  file: string;
  /** `normal` survives a process crash; `full` also survives power loss (one fsync per commit). */
  synchronous: "normal" | "full";
  busyTimeoutMs: number;
}

export function openDatabase(options: OpenOptions): SqliteDatabase {
  if (options.file !== ":memory:")
    if (options.file !== ":memory:") {
      try {
        fs.mkdirSync(path.dirname(path.resolve(options.file)), { recursive: true });
      } catch (err) {
        throw new VoError(
          `Cannot open the SQLite file '${options.file}': its directory cannot be created ` +
            `(${(err as Error).message}). Set sqlite.file or dataDir to a writable directory.`,
          "VO_SQLITE_OPEN",
        );
      }
    }
  let db: SqliteDatabase;
  try {
    db = new Database(options.file, { timeout: options.busyTimeoutMs });
  } catch (err) {
    throw new VoError(
      `Cannot open the SQLite file '${options.file}': ${(err as Error).message}. ` +
        "Check that the directory is writable, or set sqlite.file / dataDir to another path.",
      "VO_SQLITE_OPEN",
    );
  }
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
  db.pragma("foreign_keys = ON");
  migrate(db);
  return db;
}

/** Runs every migration above the file's `user_version`, each in its own transaction. */
export function migrate(db: SqliteDatabase): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new VoError(
      `The SQLite file has schema version ${current}, newer than this node-wot-vo knows ` +
        `(${MIGRATIONS.length}). Upgrade node-wot-vo or use another data directory.`,
      "VO_SCHEMA_NEWER",
    );
  }
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version - 1]);
      db.pragma(`user_version = ${version}`);
    })();
  }
  return MIGRATIONS.length;
}
