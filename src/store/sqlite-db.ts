/**
 * `servient.sqlite_db`: the generic helpers vo-wot scripts know (insertData, executeQuery,
 * fetchAllRows, createTableIfNotExists) with names checked against the live schema and values
 * always bound, plus typed helpers for the VO state tables of the seed.
 */
import net from "node:net";
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import { VoInputError } from "../errors";

/** Column types `createTableIfNotExists` accepts (vo-wot's list). */
export const COLUMN_TYPES = ["INTEGER", "TEXT", "REAL", "BLOB", "NUMERIC", "INTEGER PRIMARY KEY"] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export type SqlValue = string | number | bigint | boolean | null | Buffer | Date;
export type SqlRow = Record<string, unknown>;

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface StatusRow {
  id: number;
  /** UTC, `YYYY-MM-DD HH:MM:SS` (SQLite CURRENT_TIMESTAMP). */
  timestamp: string;
  status: number;
}

/** Tables the plugin owns: generic helpers refuse them so scripts cannot corrupt the history. */
const INTERNAL_PREFIX = "wotvo_";
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STATEMENT_CACHE_SIZE = 200;

export class SqliteDb {
  private readonly columnsCache = new Map<string, string[]>();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** The better-sqlite3 connection, for scripts that need more than these helpers. */
  get connection(): Database.Database {
    return this.db;
  }

  // ---- generic helpers (vo-wot names, camelCase) ----

  /**
   * Inserts one row. `row` is an object of column → value, or an array of values for the table's
   * columns in order (vo-wot's tuple form). With `{ replace: true }` it is `INSERT OR REPLACE`
   * (vo-wot's semantics); otherwise a duplicate primary key is an error and nothing is written.
   */
  insertData(
    table: string,
    row: Record<string, SqlValue> | SqlValue[],
    options: { replace?: boolean } = {},
  ): RunResult {
    const columns = this.tableColumns(table, "insert into");
    let names: string[];
    let values: SqlValue[];
    if (Array.isArray(row)) {
      if (row.length !== columns.length) {
        throw new VoInputError(
          `insertData('${table}'): got ${row.length} values for ${columns.length} columns ` +
            `(${columns.join(", ")}); give one value per column, or an object of column → value`,
        );
      }
      names = columns;
      values = row;
    } else if (row !== null && typeof row === "object") {
      names = Object.keys(row);
      if (names.length === 0) throw new VoInputError(`insertData('${table}'): the row has no columns`);
      for (const name of names) {
        if (!columns.includes(name)) {
          throw new VoInputError(
            `insertData('${table}'): no column '${name}' in table '${table}'; its columns are ${columns.join(", ")}`,
          );
        }
      }
      values = names.map((n) => row[n]);
    } else {
      throw new VoInputError(`insertData('${table}'): row must be an object or an array, got ${typeof row}`);
    }
    const verb = options.replace ? "INSERT OR REPLACE" : "INSERT";
    const sql = `${verb} INTO ${quote(table)} (${names.map(quote).join(", ")}) VALUES (${names.map(() => "?").join(", ")})`;
    const info = this.statement(sql).run(...values.map(toBindable));
    return { changes: info.changes, lastInsertRowid: info.lastInsertRowid };
  }

  /**
   * Runs one SQL statement with bound parameters (`?` positional or `@name` / `:name` named).
   * A query returns its rows as objects (`{ raw: true }`: arrays, like vo-wot's tuples);
   * anything else returns `{ changes, lastInsertRowid }`. Local scripts only: never exposed over HTTP.
   */
  executeQuery(
    sql: string,
    params?: SqlValue[] | Record<string, SqlValue>,
    options: { raw?: boolean } = {},
  ): SqlRow[] | unknown[][] | RunResult {
    if (typeof sql !== "string" || sql.trim() === "")
      throw new VoInputError("executeQuery: give one SQL statement");
    let stmt: Database.Statement;
    try {
      stmt = this.statement(sql);
    } catch (err) {
      throw new VoInputError(`executeQuery: ${(err as Error).message} in: ${sql}`);
    }
    const args =
      params === undefined ? [] : Array.isArray(params) ? params.map(toBindable) : [bindNamed(params)];
    if (/^\s*(CREATE|DROP|ALTER)\b/i.test(sql)) this.columnsCache.clear();
    if (stmt.reader) {
      return options.raw
        ? (stmt.raw(true).all(...args) as unknown[][])
        : (stmt.raw(false).all(...args) as SqlRow[]);
    }
    const info = stmt.run(...args);
    return { changes: info.changes, lastInsertRowid: info.lastInsertRowid };
  }

  /** Every row of a table, as objects. */
  fetchAllRows(table: string): SqlRow[] {
    this.tableColumns(table, "read");
    return this.statement(`SELECT * FROM ${quote(table)}`).all() as SqlRow[];
  }

  /** Creates a table if it does not exist; column names are identifiers, types from COLUMN_TYPES. */
  createTableIfNotExists(table: string, columns: Record<string, ColumnType>): void {
    checkIdentifier(table, "table");
    if (table.toLowerCase().startsWith(INTERNAL_PREFIX) || table.toLowerCase().startsWith("sqlite_")) {
      throw new VoInputError(
        `createTableIfNotExists: table names starting with '${INTERNAL_PREFIX}' or 'sqlite_' are reserved`,
      );
    }
    const entries = Object.entries(columns ?? {});
    if (entries.length === 0)
      throw new VoInputError(`createTableIfNotExists('${table}'): give at least one column`);
    const defs = entries.map(([name, type]) => {
      checkIdentifier(name, "column");
      const normalised = String(type).trim().toUpperCase().replace(/\s+/g, " ");
      if (!(COLUMN_TYPES as readonly string[]).includes(normalised)) {
        throw new VoInputError(
          `createTableIfNotExists('${table}'): column '${name}' has type '${type}'; expected one of ${COLUMN_TYPES.join(", ")}`,
        );
      }
      return `${quote(name)} ${normalised}`;
    });
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${quote(table)} (${defs.join(", ")})`);
    this.columnsCache.delete(table);
  }

  /** Column names of a user or VO table, in order. */
  columns(table: string): string[] {
    return [...this.tableColumns(table, "read")];
  }

  // ---- VO state (seed tables). Every status check appends a row: the tables are a history. ----

  recordVoStatus(status: boolean | number): StatusRow {
    return this.appendStatus("vo_status", status);
  }

  recordDeviceStatus(status: boolean | number): StatusRow {
    return this.appendStatus("device_status", status);
  }

  latestVoStatus(): StatusRow | undefined {
    return this.statement("SELECT id, timestamp, status FROM vo_status ORDER BY id DESC LIMIT 1").get() as
      StatusRow | undefined;
  }

  latestDeviceStatus(): StatusRow | undefined {
    return this.statement(
      "SELECT id, timestamp, status FROM device_status ORDER BY id DESC LIMIT 1",
    ).get() as StatusRow | undefined;
  }

  /** Newest first. */
  voStatusHistory(limit = 100): StatusRow[] {
    return this.statement("SELECT id, timestamp, status FROM vo_status ORDER BY id DESC LIMIT ?").all(
      checkLimit(limit),
    ) as StatusRow[];
  }

  deviceStatusHistory(limit = 100): StatusRow[] {
    return this.statement("SELECT id, timestamp, status FROM device_status ORDER BY id DESC LIMIT ?").all(
      checkLimit(limit),
    ) as StatusRow[];
  }

  addObserver(address: string): string {
    return this.addAddress("observer", address);
  }

  removeObserver(address: string): boolean {
    return this.removeAddress("observer", address);
  }

  listObservers(): string[] {
    return this.listAddresses("observer");
  }

  addRedirectIp(address: string): string {
    return this.addAddress("redirect_ip", address);
  }

  removeRedirectIp(address: string): boolean {
    return this.removeAddress("redirect_ip", address);
  }

  listRedirectIps(): string[] {
    return this.listAddresses("redirect_ip");
  }

  /** The device IP (seed table `info`, one row with id 1), or undefined when never set. */
  getDeviceIp(): string | undefined {
    const row = this.statement("SELECT device_ip FROM info WHERE id = 1").get() as
      { device_ip: string | null } | undefined;
    return row?.device_ip ?? undefined;
  }

  setDeviceIp(address: string): string {
    const normalised = normaliseAddress(address);
    this.statement(
      "INSERT INTO info (id, device_ip) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET device_ip = excluded.device_ip",
    ).run(normalised);
    return normalised;
  }

  private appendStatus(table: "vo_status" | "device_status", status: boolean | number): StatusRow {
    const value = typeof status === "boolean" ? (status ? 1 : 0) : status;
    if (value !== 0 && value !== 1) {
      throw new VoInputError(`${table}: status must be true/false or 1/0, got ${JSON.stringify(status)}`);
    }
    return this.statement(`INSERT INTO ${table} (status) VALUES (?) RETURNING id, timestamp, status`).get(
      value,
    ) as StatusRow;
  }

  private addAddress(table: "observer" | "redirect_ip", address: string): string {
    const normalised = normaliseAddress(address);
    const add = this.db.transaction(() => {
      if (this.statement(`SELECT 1 FROM ${table} WHERE ip = ?`).get(normalised) !== undefined) {
        throw new VoInputError(`${label(table)} ${normalised} is already in the list`, "VO_DUPLICATE");
      }
      this.statement(`INSERT INTO ${table} (ip) VALUES (?)`).run(normalised);
    });
    add();
    return normalised;
  }

  private removeAddress(table: "observer" | "redirect_ip", address: string): boolean {
    const normalised = normaliseAddress(address);
    return this.statement(`DELETE FROM ${table} WHERE ip = ?`).run(normalised).changes > 0;
  }

  private listAddresses(table: "observer" | "redirect_ip"): string[] {
    return (this.statement(`SELECT ip FROM ${table} ORDER BY id`).all() as { ip: string }[]).map((r) => r.ip);
  }

  private tableColumns(table: string, what: string): string[] {
    checkIdentifier(table, "table");
    if (table.toLowerCase().startsWith(INTERNAL_PREFIX)) {
      throw new VoInputError(
        `cannot ${what} '${table}': tables starting with '${INTERNAL_PREFIX}' belong to node-wot-vo; ` +
          "read the history through the history API instead",
      );
    }
    let columns = this.columnsCache.get(table);
    if (columns === undefined) {
      const info = this.db.prepare("SELECT name FROM pragma_table_info(?)").all(table) as { name: string }[];
      if (info.length === 0) {
        const tables = (
          this.db
            .prepare(
              "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'wotvo_%' ORDER BY name",
            )
            .all() as { name: string }[]
        ).map((t) => t.name);
        throw new VoInputError(
          `no table '${table}'; the tables are ${tables.join(", ")}`,
          "VO_UNKNOWN_TABLE",
        );
      }
      columns = info.map((c) => c.name);
      this.columnsCache.set(table, columns);
    }
    return columns;
  }

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        this.statements.delete(this.statements.keys().next().value as string);
      }
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}

/**
 * Validates an IPv4 / IPv6 address with an optional port (`10.0.0.2`, `10.0.0.2:8080`, `::1`,
 * `[::1]:8080`) and returns its canonical text. Throws VoInputError otherwise.
 *
 * IPv6 may carry a zone id (`fe80::1%eth0`, `[fe80::1%eth0]:8080`); `%25` before the zone is
 * RFC 6874's URI spelling of `%` and means the same. The address part is canonicalised, the zone
 * kept as written (interface names are case-sensitive): `FE80::0:1%25eth0` → `fe80::1%eth0`.
 */
export function normaliseAddress(address: unknown): string {
  if (typeof address !== "string")
    throw new VoInputError(`expected an IP address as a string, got ${typeof address}`);
  const text = address.trim();
  let host = text;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    port = bracketed[2];
    if (net.isIPv6(host) === false) throw invalidAddress(address);
  } else if (net.isIP(text) === 0) {
    const m = /^([^:]+):(\d+)$/.exec(text);
    if (!m || net.isIPv4(m[1]) === false) throw invalidAddress(address);
    host = m[1];
    port = m[2];
  }
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535 || String(n) !== port) throw invalidAddress(address);
  }
  const canonicalHost = net.isIPv6(host) ? canonicalIPv6(host, address) : host;
  if (port === undefined) return canonicalHost;
  return net.isIPv6(canonicalHost) ? `[${canonicalHost}]:${port}` : `${canonicalHost}:${port}`;
}

/** A zone id: an interface name or index (no `%`, `/`, brackets, spaces or control characters). */
const ZONE = /^[A-Za-z0-9_.-]{1,64}$/;

function canonicalIPv6(host: string, address: string): string {
  const percent = host.indexOf("%");
  // WHATWG URL refuses zone ids ("Invalid URL"): canonicalise the address part alone.
  const canonical = (ip: string) => new URL(`http://[${ip}]`).hostname.slice(1, -1);
  if (percent < 0) return canonical(host);
  let zone = host.slice(percent + 1);
  if (zone.startsWith("25") && zone.length > 2) zone = zone.slice(2);
  const ip = host.slice(0, percent);
  if (!ZONE.test(zone) || !net.isIPv6(ip)) {
    throw new VoInputError(
      `${JSON.stringify(clip(address))} has an invalid IPv6 zone id; expected e.g. fe80::1%eth0 or [fe80::1%eth0]:8080 ` +
        "(an interface name or index of letters, digits, '_', '.' and '-')",
      "VO_BAD_ADDRESS",
    );
  }
  return `${canonical(ip)}%${zone}`;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function invalidAddress(address: string): VoInputError {
  return new VoInputError(
    `${JSON.stringify(clip(address))} is not an IP address; expected IPv4 or IPv6 with an optional port, ` +
      "e.g. 192.168.1.20, 192.168.1.20:8080, fd00::2 or [fd00::2]:8080",
    "VO_BAD_ADDRESS",
  );
}

function label(table: string): string {
  return table === "observer" ? "observer" : "redirect IP";
}

function checkIdentifier(name: unknown, what: string): asserts name is string {
  if (typeof name !== "string" || !IDENTIFIER.test(name)) {
    throw new VoInputError(
      `invalid ${what} name ${JSON.stringify(name)}: use letters, digits and '_' (not starting with a digit)`,
      "VO_BAD_NAME",
    );
  }
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) {
    throw new VoInputError(`limit must be an integer from 1 to 100000, got ${limit}`);
  }
  return limit;
}

function toBindable(v: unknown): unknown {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof Date) return v.toISOString();
  if (v === undefined) return null;
  return v;
}

function bindNamed(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = toBindable(v);
  return out;
}
