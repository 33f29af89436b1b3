/**
 * Opens the servient's SQLite file: WAL, busy timeout, foreign keys, and the forward-only
 * migrations under a schema version (`PRAGMA user_version`). A file that is not a database or
 * fails `PRAGMA quick_check` is moved aside and a fresh one used, so a corrupt file never makes
 * the servient crash-loop. Nothing here knows about node-wot.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type * as BetterSqlite3 from "better-sqlite3"; // in the .d.ts: needs no esModuleInterop
import { MIGRATIONS } from "./migrations";
import { VoError, errorMessage } from "../errors";
import { createLogger } from "../log";

const log = createLogger("store");

export type SqliteDatabase = BetterSqlite3.Database;

export interface OpenOptions {
  /** File path, or `:memory:`. The directory is created when missing. */
  file: string;
  /** `normal` survives a process crash; `full` also survives power loss (one fsync per commit). */
  synchronous: "normal" | "full";
  busyTimeoutMs: number;
}

/** A corrupt file found at open and renamed, so the servient started with a fresh one. */
export interface MovedAside {
  /** Where the old file now is (its `-wal` / `-shm` next to it, with the same suffixes). */
  movedTo: string;
  reason: string;
  /** Milliseconds since the epoch. */
  at: number;
}

const movedAside = new WeakMap<SqliteDatabase, MovedAside>();

/** What openDatabase moved aside before it opened `db`, if anything (for the health view). */
export function movedAsideOf(db: SqliteDatabase): MovedAside | undefined {
  return movedAside.get(db);
}

export function openDatabase(options: OpenOptions): SqliteDatabase {
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
  let moved: MovedAside | undefined;
  const problem = options.file === ":memory:" ? undefined : corruption(options.file, options.busyTimeoutMs);
  if (problem !== undefined) moved = moveAside(options.file, problem);
  const db = connect(options.file, options.busyTimeoutMs);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
  db.pragma("foreign_keys = ON");
  migrate(db);
  if (moved !== undefined) movedAside.set(db, moved);
  return db;
}

function connect(file: string, busyTimeoutMs: number): SqliteDatabase {
  try {
    return new Database(file, { timeout: busyTimeoutMs });
  } catch (err) {
    throw new VoError(
      `Cannot open the SQLite file '${file}': ${(err as Error).message}. ` +
        "Check that the directory is writable, or set sqlite.file / dataDir to another path.",
      "VO_SQLITE_OPEN",
    );
  }
}

/**
 * Why the file cannot be used as a database, or undefined when it can (or does not exist yet).
 * Checked on a read-only connection: closing a read-write one would checkpoint the -wal into the
 * corrupt file and delete it, and the -wal may hold the newest history. Only corruption counts:
 * any other failure (busy, permissions) is left to the read-write open to report, because moving
 * a healthy file aside would hide its history.
 */
function corruption(file: string, busyTimeoutMs: number): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  let db: SqliteDatabase;
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
    if (code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT"))) {
      return `${errorMessage(err)} (${code})`;
    }
    return undefined;
  } finally {
    db.close();
  }
}

/** Renames the file (and its -wal / -shm / -journal) to `<file>.corrupt-<timestamp>`. */
function moveAside(file: string, reason: string): MovedAside {
  const at = Date.now();
  const movedTo = `${file}.corrupt-${new Date(at).toISOString().replace(/[:.]/g, "-")}`;
  try {
    fs.renameSync(file, movedTo);
    for (const suffix of ["-wal", "-shm", "-journal"]) {
      if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, movedTo + suffix);
    }
  } catch (err) {
    throw new VoError(
      `The SQLite file '${file}' is corrupt (${reason}) and could not be moved aside: ${errorMessage(err)}. ` +
        "Move or delete it by hand, or set sqlite.file / dataDir to another path.",
      "VO_SQLITE_CORRUPT",
    );
  }
  log.error(
    "the SQLite file '%s' is corrupt (%s): moved it aside to '%s' and started a fresh file; " +
      "the history recorded before is in the moved file",
    file,
    reason,
    movedTo,
  );
  return { movedTo, reason, at };
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
