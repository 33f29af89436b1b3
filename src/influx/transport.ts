/**
 * Writing line protocol to a server, and nothing else: API v2 through the official client's
 * WriteApi (its own buffering and retries switched off — the SQLite outbox and the shipper do
 * that), API v1 through `POST /write`. Both report failures as a `WriteFailure` that says what the
 * shipper should do with the batch.
 */
import { InfluxDB, HttpError, type WriteApi } from "@influxdata/influxdb-client";
import type { InfluxOptions } from "./options";
import { errorMessage } from "../errors";

export type FailureKind = "unreachable" | "too-large" | "malformed" | "missing" | "auth" | "server";

/** A write (or bucket creation) the server did not accept. */
export class WriteFailure extends Error {
  readonly kind: FailureKind;
  constructor(
    message: string,
    /** HTTP status; undefined when no response came (refused, reset, timeout). */
    readonly status: number | undefined,
    /** Server-requested wait (Retry-After), milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "WriteFailure";
    this.kind = classify(status);
  }
}

function classify(status: number | undefined): FailureKind {
  if (status === undefined) return "unreachable";
  if (status === 413) return "too-large";
  if (status === 400 || status === 422) return "malformed";
  if (status === 404) return "missing";
  if (status === 401 || status === 403) return "auth";
  return "server";
}

/** Retry-After: delta-seconds or an HTTP date → milliseconds (undefined when absent or unusable). */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== "string" || v.trim() === "") return undefined;
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const date = Date.parse(t);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The server's reason from an error body (`{"error": …}`, `{"message": …}` or text). */
export function serverReason(body: string | undefined, fallback: string): string {
  if (!body) return fallback;
  try {
    const json = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof json.error === "string") return json.error;
    if (typeof json.message === "string") return json.message;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 2000) || fallback;
}

export interface Transport {
  /** Writes lines (ns precision) to a bucket (v2) or database (v1). Throws WriteFailure. */
  write(bucket: string, lines: string[]): Promise<void>;
  /** Creates the bucket / database when missing. Throws WriteFailure. */
  ensureBucket(bucket: string): Promise<void>;
  /** True when the server answers its health endpoint. */
  ping(): Promise<boolean>;
  /** Cancels requests in flight (shutdown). */
  abort(): void;
}

const trimSlash = (url: string) => url.replace(/\/+$/, "");

/** InfluxDB 1.x: `/write` (db, rp, precision=ns) and `/query` for CREATE DATABASE. */
export class V1Transport implements Transport {
  private controller = new AbortController();
  private readonly base: string;

  constructor(private readonly options: InfluxOptions) {
    this.base = trimSlash(options.url);
  }

  /** Basic auth header (never in the URL, so never in a log line). */
  headers(): Record<string, string> {
    const { username, password } = this.options;
    if (username === undefined && password === undefined) return {};
    const basic = Buffer.from(`${username ?? ""}:${password ?? ""}`).toString("base64");
    return { Authorization: `Basic ${basic}` };
  }

  async write(bucket: string, lines: string[]): Promise<void> {
    const params = new URLSearchParams({ db: bucket, precision: "ns" });
    if (this.options.retentionPolicy) params.set("rp", this.options.retentionPolicy);
    await this.request(`/write?${params}`, lines.join("\n"), "text/plain; charset=utf-8");
  }

  async ensureBucket(bucket: string): Promise<void> {
    const body = new URLSearchParams({ q: `CREATE DATABASE ${quoteIdentifier(bucket)}` });
    const text = await this.request("/query", body.toString(), "application/x-www-form-urlencoded");
    const json = JSON.parse(text || "{}") as { results?: { error?: string }[] };
    const error = json.results?.find((r) => r.error)?.error;
    if (error) throw new WriteFailure(`CREATE DATABASE failed: ${error}`, 400);
  }

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(`${this.base}/ping`, { signal: this.signal(), headers: this.headers() });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  abort(): void {
    this.controller.abort();
    this.controller = new AbortController();
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.options.timeoutMs)]);
  }

  private async request(path: string, body: string, contentType: string): Promise<string> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method: "POST",
        body,
        headers: { "Content-Type": contentType, ...this.headers() },
        signal: this.signal(),
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw new WriteFailure(`no answer from ${this.base}: ${errorMessage(cause ?? err)}`, undefined);
    }
    const text = await res.text().catch(() => "");
    if (res.status >= 200 && res.status < 300) return text;
    throw new WriteFailure(
      `${res.status} ${serverReason(text || res.headers.get("x-influxdb-error") || undefined, res.statusText)}`,
      res.status,
      parseRetryAfter(res.headers.get("retry-after")),
    );
  }
}

/** InfluxDB 2.x / Cloud / 3 and compatible servers: the official client. */
export class V2Transport implements Transport {
  readonly client: InfluxDB;
  private readonly apis = new Map<string, WriteApi>();

  constructor(private readonly options: InfluxOptions) {
    this.client = new InfluxDB({
      url: trimSlash(options.url),
      token: options.token,
      timeout: options.timeoutMs,
    });
  }

  private api(bucket: string): WriteApi {
    let api = this.apis.get(bucket);
    if (api === undefined) {
      api = this.client.getWriteApi(this.options.org, bucket, "ns", {
        // One flush per shipper batch, no buffering or retries of the client's own.
        batchSize: this.options.batchSize + 1,
        maxBatchBytes: Number.MAX_SAFE_INTEGER,
        flushInterval: 0,
        maxRetries: 0,
        maxBufferLines: 1,
        writeFailed: (error: Error) => Promise.reject(error),
      });
      this.apis.set(bucket, api);
    }
    return api;
  }

  async write(bucket: string, lines: string[]): Promise<void> {
    const api = this.api(bucket);
    api.writeRecords(lines);
    try {
      await api.flush();
    } catch (err) {
      throw toFailure(err, this.options.url);
    }
  }

  async ensureBucket(bucket: string): Promise<void> {
    const t = this.client.transport;
    try {
      const q = new URLSearchParams({ name: bucket, org: this.options.org });
      const found = (await t.request(`/api/v2/buckets?${q}`, null, { method: "GET" })) as {
        buckets?: unknown[];
      };
      if ((found?.buckets ?? []).length > 0) return;
      const orgs = (await t.request(`/api/v2/orgs?${new URLSearchParams({ org: this.options.org })}`, null, {
        method: "GET",
      })) as { orgs?: { id: string }[] };
      const orgID = orgs?.orgs?.[0]?.id;
      if (!orgID) throw new WriteFailure(`organization '${this.options.org}' not found`, 404);
      await t.request(
        "/api/v2/buckets",
        { orgID, name: bucket, retentionRules: [] },
        { method: "POST", headers: { "content-type": "application/json" } },
      );
    } catch (err) {
      if (err instanceof WriteFailure) throw err;
      throw toFailure(err, this.options.url);
    }
  }

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(`${trimSlash(this.options.url)}/ping`, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  abort(): void {
    for (const api of this.apis.values()) api.dispose();
    this.apis.clear();
  }
}

function toFailure(err: unknown, url: string): WriteFailure {
  if (err instanceof HttpError) {
    return new WriteFailure(
      `${err.statusCode} ${serverReason(err.body, err.message)}`,
      err.statusCode,
      parseRetryAfter(err.headers?.["retry-after"]),
    );
  }
  return new WriteFailure(`no answer from ${trimSlash(url)}: ${errorMessage(err)}`, undefined);
}

/** An InfluxQL identifier: double-quoted, `\` and `"` escaped. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** An InfluxQL string literal: single-quoted, `\` and `'` escaped. Prefer bound parameters. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
