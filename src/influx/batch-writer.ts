/**
 * Writes a built batch through the transport, and decides what a refusal means for its points:
 * one request per `maxBatchBytes`, the bucket / database created first when `createBucket`
 * (and again when it went missing), **413** split in halves until the server takes them, **400 /
 * 422** bisected down to the single points it refuses — those are the batch's `refused`, the rest
 * is written. Any other failure is thrown: the whole batch is retried after the backoff.
 */
import type { Batch, Payload } from "./batch-builder";
import type { InfluxOptions } from "./options";
import type { PendingDead } from "./outbox-cursor";
import { WriteFailure, type Transport } from "./transport";
import { createLogger } from "../log";

const log = createLogger("influx");

export class BatchWriter {
  private readonly ensured = new Set<string>();

  constructor(
    private readonly transport: Transport,
    private readonly options: Pick<
      InfluxOptions,
      "apiVersion" | "org" | "url" | "createBucket" | "maxBatchBytes"
    >,
  ) {}

  /** Writes every payload of a batch: a request per `maxBatchBytes`, bucket created when needed. */
  async write(batch: Batch): Promise<void> {
    for (const payload of batch.payloads) {
      try {
        await this.ensureBucket(payload.bucket);
      } catch (err) {
        // A bucket / database that cannot be created (an invalid name): those points can go nowhere.
        if (!(err instanceof WriteFailure) || err.kind !== "malformed") throw err;
        for (let i = 0; i < payload.count; i++) batch.refused.push(this.refusal(payload, i, err));
        continue;
      }
      for (const [from, to] of requestRanges(payload, this.options.maxBatchBytes)) {
        await this.send(payload, from, to, batch);
      }
    }
  }

  /** Writes lines [from, to) of a payload; splits on 413 and bisects on 400/422 down to single dead points. */
  private async send(
    payload: Payload,
    from: number,
    to: number,
    batch: Batch,
    created = false,
  ): Promise<void> {
    const bucket = payload.bucket;
    try {
      await this.transport.write(bucket, payload.body(from, to));
    } catch (err) {
      if (!(err instanceof WriteFailure)) throw err;
      if (err.kind === "missing") {
        // Created once, then dropped (a wiped or restored server): create it again, once per request.
        if (!this.options.createBucket || created) throw this.missing(bucket, err);
        this.ensured.delete(bucket);
        await this.ensureBucket(bucket);
        log.warn(
          "%s was missing on %s (dropped?): created it again",
          this.bucketName(bucket),
          this.options.url,
        );
        return this.send(payload, from, to, batch, true);
      }
      if (err.kind !== "too-large" && err.kind !== "malformed") throw err;
      if (to - from === 1) {
        batch.refused.push(this.refusal(payload, from, err));
        return;
      }
      const half = from + Math.ceil((to - from) / 2);
      await this.send(payload, from, half, batch);
      await this.send(payload, half, to, batch);
    }
  }

  private refusal(payload: Payload, i: number, err: WriteFailure): PendingDead {
    return {
      historyId: payload.ids[i],
      bucket: payload.bucket,
      line: payload.line(i),
      status: err.status ?? 0,
      reason: err.message,
    };
  }

  private bucketName(bucket: string): string {
    return this.options.apiVersion === 1
      ? `database ${JSON.stringify(bucket)}`
      : `bucket ${JSON.stringify(bucket)} (org ${JSON.stringify(this.options.org)})`;
  }

  /** A 404 on write, said so that status().lastError tells the operator what to do. */
  private missing(bucket: string, err: WriteFailure): WriteFailure {
    const create =
      this.options.apiVersion === 1
        ? `create it (InfluxQL: CREATE DATABASE ${JSON.stringify(bucket)})`
        : `create it (influx bucket create --name ${JSON.stringify(bucket)} --org ${JSON.stringify(this.options.org)})`;
    const what = this.options.createBucket
      ? "it was created again but the server still does not find it; check the server and the token's rights"
      : `${create}, or set influxdb.createBucket: true to let the shipper create it`;
    return new WriteFailure(
      `${this.bucketName(bucket)} not found on ${this.options.url} (${err.message}): ${what}`,
      err.status,
      err.retryAfterMs,
    );
  }

  private async ensureBucket(bucket: string): Promise<void> {
    if (!this.options.createBucket || this.ensured.has(bucket)) return;
    await this.transport.ensureBucket(bucket);
    this.ensured.add(bucket);
  }
}

/**
 * [from, to) ranges of lines whose request bodies stay within `maxBytes` (a line alone may be
 * larger: the server decides, 413 splits). Measured in UTF-8 only when the characters could exceed it.
 */
function requestRanges(payload: Payload, maxBytes: number): [number, number][] {
  const n = payload.count;
  if (n === 0) return [];
  if (payload.ends[n - 1] * 3 <= maxBytes) return [[0, n]];
  const ranges: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const size = Buffer.byteLength(payload.line(i)) + 1;
    if (i > from && bytes + size > maxBytes) {
      ranges.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < n) ranges.push([from, n]);
  return ranges;
}
