/**
 * Writing line protocol to a server, and nothing else: API v2 through the official client's
 * transport (`POST /api/v2/write`, as its WriteApi sends a batch — its buffering and retries are
 * the outbox's and the shipper's job here), API v1 through `POST /write`. Bodies above
 * `gzipThreshold` bytes are gzipped (0: never). Both report failures as a `WriteFailure` that
 * says what the shipper should do with the batch.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import { InfluxDB, HttpError, type SendOptions } from "@influxdata/influxdb-client";
import type { InfluxOptions } from "./options";
import { errorMessage } from "../errors";

const gzip = promisify(zlib.gzip);

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
  /** Writes line protocol (lines separated by "\n", ns precision) to a bucket (v2) or database (v1). Throws WriteFailure. */
  write(bucket: string, body: string): Promise<void>;
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

  async write(bucket: string, text: string): Promise<void> {
    const params = new URLSearchParams({ db: bucket, precision: "ns" });
    if (this.options.retentionPolicy) params.set("rp", this.options.retentionPolicy);
    const threshold = this.options.gzipThreshold;
    if (threshold > 0 && text.length > threshold / 3) {
      const body = Buffer.from(text);
      if (body.length > threshold) {
        await this.request(`/write?${params}`, await gzip(body), "text/plain; charset=utf-8", "gzip");
        return;
      }
    }
    await this.request(`/write?${params}`, text, "text/plain; charset=utf-8");
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

  private async request(
    path: string,
    body: string | Uint8Array,
    contentType: string,
    encoding?: "gzip",
  ): Promise<string> {
    let res: Response;
    const headers: Record<string, string> = { "Content-Type": contentType, ...this.headers() };
    if (encoding) headers["Content-Encoding"] = encoding;
    try {
      res = await fetch(this.base + path, { method: "POST", body, headers, signal: this.signal() });
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
  private readonly sendOptions: SendOptions;
  /** Requests in flight: abort() cancels them, and they fail (a cancelled request completes silently). */
  private inFlight = new Set<() => void>();

  constructor(private readonly options: InfluxOptions) {
    this.client = new InfluxDB({
      url: trimSlash(options.url),
      token: options.token,
      timeout: options.timeoutMs,
    });
    this.sendOptions = {
      method: "POST",
      headers: { "content-type": "text/plain; charset=utf-8" },
      gzipThreshold: options.gzipThreshold > 0 ? options.gzipThreshold : undefined,
    };
  }

  /**
   * One batch, one request: what the client's WriteApi does when it flushes (same path, headers,
   * gzip and status handling), without copying every line through its WriteBuffer first.
   */
  write(bucket: string, body: string): Promise<void> {
    const q = new URLSearchParams({ org: this.options.org, bucket, precision: "ns" });
    return new Promise<void>((resolve, reject) => {
      let status: number | undefined;
      let headers: Record<string, string | string[] | undefined> | undefined;
      let cancel: () => void = () => undefined;
      let aborted = false;
      const abort = () => {
        aborted = true;
        cancel();
      };
      this.inFlight.add(abort);
      this.client.transport.send(`/api/v2/write?${q}`, body, this.sendOptions, {
        useCancellable: (c) => {
          cancel = () => c.cancel();
        },
        responseStarted: (h, statusCode) => {
          headers = h;
          status = statusCode;
        },
        error: (err) => {
          this.inFlight.delete(abort);
          reject(toFailure(err, this.options.url));
        },
        complete: () => {
          this.inFlight.delete(abort);
          if (aborted)
            reject(new WriteFailure(`request to ${trimSlash(this.options.url)} aborted`, undefined));
          // InfluxDB 3 answers 201 for a partial success; older transports report no status.
          else if (status === 204 || status === 201 || status === undefined) resolve();
          else {
            const err = new HttpError(
              status,
              `204 expected, got ${status}`,
              undefined,
              "0",
              undefined,
              undefined,
              headers,
            );
            reject(toFailure(err, this.options.url));
          }
        },
      });
    });
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
    for (const abort of this.inFlight) abort();
    this.inFlight.clear();
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
