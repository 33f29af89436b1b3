/**
 * Opening one of our SQLite files, the same way for the servient's history file (store/) and the
 * service manager's file (service-manager/): the directory created, a corrupt file moved aside
 * (with its -wal / -shm / -journal) so the servient never crash-loops on it, WAL, busy timeout,
 * synchronous level, foreign keys, then the caller's forward-only migrations (migrateTo) under a
 * schema version (`PRAGMA user_version`). A shared leaf: it knows no room.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type * as BetterSqlite3 from "better-sqlite3"; // in the .d.ts: needs no esModuleInterop
import { VoError, errorMessage } from "./errors";

/** A corrupt file found at open and renamed, so the servient started with a fresh one. */
export interface MovedAside {
  /** Where the old file now is (its `-wal` / `-shm` next to it, with the same suffixes). */
  movedTo: string;
  reason: string;
  /** Milliseconds since the epoch. */
  at: number;
}

export interface SqliteFileOptions {
  /** File path, or `:memory:`. The directory is created when missing. */
  file: string;
  /** `normal` survives a process crash; `full` also survives power loss (one fsync per commit). */
  synchronous: "normal" | "full";
  busyTimeoutMs: number;
  /** What the file is, in messages: "SQLite file", "service-manager file". */
  label: string;
  /** The setting that moves it, in messages: "sqlite.file or dataDir", "dataDir". */
  setting: string;
  /** Brings the schema up to date (the caller's forward-only migrations). */
  migrate(db: BetterSqlite3.Database): void;
}

export interface OpenedSqliteFile {
  db: BetterSqlite3.Database;
  /** What was moved aside before the fresh file was opened, if anything: the caller logs it. */
  moved: MovedAside | undefined;
}

export function openSqliteFile(o: SqliteFileOptions): OpenedSqliteFile {
  let moved: MovedAside | undefined;
  if (o.file !== ":memory:") {
    try {
      fs.mkdirSync(path.dirname(path.resolve(o.file)), { recursive: true });
    } catch (err) {
      throw new VoError(
        `Cannot open the ${o.label} '${o.file}': its directory cannot be created ` +
          `(${errorMessage(err)}). Point ${o.setting} to a writable directory.`,
        "VO_SQLITE_OPEN",
      );
    }
    const problem = corruption(o.file, o.busyTimeoutMs);
    if (problem !== undefined) moved = moveAside(o, problem);
  }
  let db: BetterSqlite3.Database;
  try {
    db = new Database(o.file, { timeout: o.busyTimeoutMs });
  } catch (err) {
    throw new VoError(
      `Cannot open the ${o.label} '${o.file}': ${errorMessage(err)}. ` +
        `Check that the directory is writable, or point ${o.setting} to another directory.`,
      "VO_SQLITE_OPEN",
    );
  }
  try {
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${o.synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.pragma("foreign_keys = ON");
    o.migrate(db);
    return { db, moved };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Runs every migration above the file's `user_version`, each in its own IMMEDIATE transaction (the
 * write lock taken up front: two processes opening one file never deadlock upgrading a read lock).
 * A file newer than `migrations` is refused. Returns the version the file is at.
 */
export function migrateTo(db: BetterSqlite3.Database, migrations: readonly string[], label: string): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) {
    throw new VoError(
      `The ${label} has schema version ${current}, newer than this node-wot-vo knows ` +
        `(${migrations.length}). Upgrade node-wot-vo or use another data directory.`,
      "VO_SCHEMA_NEWER",
    );
  }
  for (let version = current + 1; version <= migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version - 1]);
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
  return migrations.length;
}

/**
 * Why the file cannot be used as a database, or undefined when it can (or does not exist yet).
 * Checked on a read-only connection: closing a read-write one would checkpoint the -wal into the
 * corrupt file and delete it, and the -wal may hold the newest rows. Only corruption counts:
 * any other failure (busy, permissions) is left to the read-write open to report, because moving
 * a healthy file aside would hide what it holds.
 */
function corruption(file: string, busyTimeoutMs: number): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  let db: BetterSqlite3.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  } catch {
    return undefined;
  }
  try {
    const rows = db.pragma("quick_check") as { quick_check: string }[];
    if (rows.length === 1 && rows[0].quick_check === "ok") return undefined;
    // Its report can run to many lines: one line, and short, for the log and the health view.
    const found = rows.map((r) => r.quick_check.replace(/\s*\n\s*/g, "; ")).join("; ");
    return `PRAGMA quick_check found: ${found.length > 300 ? `${found.slice(0, 300)}…` : found}`;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT")))
      return `${errorMessage(err)} (${code})`;
    return undefined;
  } finally {
    db.close();
  }
}

/** Renames the file (and its -wal / -shm / -journal) to `<file>.corrupt-<timestamp>`. */
function moveAside(o: SqliteFileOptions, reason: string): MovedAside {
  const at = Date.now();
  const movedTo = `${o.file}.corrupt-${new Date(at).toISOString().replace(/[:.]/g, "-")}`;
  try {
    fs.renameSync(o.file, movedTo);
    for (const suffix of ["-wal", "-shm", "-journal"])
      if (fs.existsSync(o.file + suffix)) fs.renameSync(o.file + suffix, movedTo + suffix);
  } catch (err) {
    throw new VoError(
      `The ${o.label} '${o.file}' is corrupt (${reason}) and could not be moved aside: ${errorMessage(err)}. ` +
        `Move or delete it by hand, or point ${o.setting} to another directory.`,
      "VO_SQLITE_CORRUPT",
    );
  }
  return { movedTo, reason, at };
}
