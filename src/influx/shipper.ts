/**
 * The shipper: the SQLite history is the outbox, and this is the state machine that drains it —
 * in the shape of the official client, whose pieces it composes:
 *
 *   OutboxCursor  where shipping stands (persisted), the outbox's size and bound   (outbox-cursor.ts)
 *   BatchBuilder  rows after the cursor → line-protocol payloads, dead rows        (batch-builder.ts)
 *   BatchWriter   a batch → requests; what a refusal means for its points          (batch-writer.ts)
 *   RetryPolicy   when to try again                                                 (retry-policy.ts)
 *   Transport     one request to the server                                         (transport.ts)
 *
 * At-least-once from the cursor: the cursor moves only after the server accepted a whole batch
 * (every point written, or dead-lettered), in order; every point has a unique nanosecond
 * timestamp in its series, so a re-sent point overwrites itself: exactly once in InfluxDB.
 * `maxInFlight` requests are in flight while the next batch is read and built. It never blocks
 * interactions: it polls an in-memory commit counter, reads in chunks with a turn of the event
 * loop between them, and takes at most `busyShare` of the loop while interactions are recorded.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import type { HistoryStore } from "../store/history";
import type { InfluxOptions } from "./options";
import type { PointLayout } from "./points";
import { BatchBuilder, type Batch } from "./batch-builder";
import { BatchWriter } from "./batch-writer";
import { OutboxCursor, type DeadLetter } from "./outbox-cursor";
import { RetryPolicy } from "./retry-policy";
import { WriteFailure, type Transport } from "./transport";
import { errorMessage } from "../errors";
import { createLogger } from "../log";

export type { DeadLetter } from "./outbox-cursor";

const log = createLogger("influx");

export type ShipperState = "starting" | "up" | "down" | "recovering";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Shipper {
  state: ShipperState = "starting";
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  lastShippedAt: number | undefined;

  private readonly outbox: OutboxCursor;
  private readonly retry: RetryPolicy;
  private readonly builder: BatchBuilder;
  private readonly writer: BatchWriter;
  private readonly oldestStmt: Database.Statement;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private flushing = false;
  private seenCommits = -1;
  private pausedAtCommits = -1;
  private pendingSince: number | undefined;
  private outageShipped = 0;
  /** A tick that threw before reaching the batch waits for the backoff too (no per-poll retry). */
  private tickBlockedUntil = 0;

  constructor(
    db: Database.Database,
    private readonly history: HistoryStore,
    layout: PointLayout,
    private readonly transport: Transport,
    private readonly options: InfluxOptions,
  ) {
    this.outbox = new OutboxCursor(db, history, options.outbox);
    this.retry = new RetryPolicy(options);
    this.builder = new BatchBuilder(db, history, layout, options, (ms) => this.pause(ms));
    this.writer = new BatchWriter(transport, options);
    this.oldestStmt = db.prepare("SELECT ts FROM wotvo_history WHERE id > ? ORDER BY id LIMIT 1").pluck();
  }

  /** The last history id shipped, dead-lettered or dropped. */
  get cursor(): number {
    return this.outbox.position;
  }

  get shipped(): number {
    return this.outbox.shipped;
  }

  get dropped(): number {
    return this.outbox.dropped;
  }

  get deadLettered(): number {
    return this.outbox.deadLettered;
  }

  /** Unshipped rows. */
  get queued(): number {
    return this.stopped ? 0 : this.outbox.queued;
  }

  /** Starts the timer: resumes from the persisted cursor. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.outbox.start();
    // The byte bound applies once an earlier run's outbox is counted.
    void this.outbox.counted.then(() => this.tick());
    this.timer = setInterval(() => this.tick(), this.options.pollIntervalMs);
    this.timer.unref();
    this.tick();
  }

  /** Result of a health check at start-up: sets `connected` before the first write. */
  reachable(ok: boolean, why?: string): void {
    if (this.state !== "starting") return;
    if (ok) this.state = "up";
    else {
      this.lastError = why ?? `no answer from ${this.options.url}`;
      this.lastErrorAt = Date.now();
    }
  }

  deadLetters(limit: number): DeadLetter[] {
    return this.outbox.deadLetters(limit);
  }

  /** Ships everything committed so far, for at most `ms`; then stops. True when all was shipped. */
  async stop(ms: number): Promise<boolean> {
    if (this.stopped) return true;
    this.flushing = true;
    const deadline = Date.now() + ms;
    const target = this.history.lastId;
    while (this.cursor < target && Date.now() < deadline) {
      this.seenCommits = -1;
      this.tick();
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (this.running) await Promise.race([this.running, sleep(left)]);
      else await sleep(Math.min(this.options.pollIntervalMs, left));
    }
    const left = target - this.cursor;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.outbox.stop();
    this.transport.abort();
    if (left > 0) {
      log.warn(
        "shutdown: %d records not yet shipped to InfluxDB within %d ms; they ship on the next start",
        left,
        ms,
      );
    }
    return left <= 0;
  }

  /** Ships now, regardless of the flush interval (tests, scripts). Resolves when caught up or failing. */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const target = this.history.lastId;
    this.flushing = true;
    try {
      while (!this.stopped && this.cursor < target && Date.now() < deadline) {
        this.seenCommits = -1;
        this.tick();
        if (this.running) await this.running;
        else await sleep(this.options.pollIntervalMs);
      }
    } finally {
      this.flushing = false;
    }
    return this.cursor >= target;
  }

  /** One look at the outbox: bound, wake-up, and (when due) shipping. Never throws. */
  private tick(): void {
    if (this.stopped || Date.now() < this.tickBlockedUntil) return;
    try {
      const commits = this.history.committedCount;
      const quiet = commits === this.seenCommits && this.pendingSince === undefined;
      if (quiet && !this.running) return;
      this.seenCommits = commits;
      if (this.outbox.enforceBound() > 0) this.pendingSince = undefined;
      if (this.running) return;
      const waiting = this.outbox.queued;
      if (waiting === 0) {
        this.pendingSince = undefined;
        this.caughtUp();
        return;
      }
      const now = Date.now();
      if (this.retry.waiting) return;
      this.pendingSince ??= Math.min(this.oldestTime() ?? now, now);
      const due =
        this.flushing ||
        this.state === "down" ||
        this.state === "recovering" ||
        waiting >= this.options.batchSize ||
        now - this.pendingSince >= this.options.flushIntervalMs;
      if (!due) return;
      this.running = this.pump()
        // Whatever threw (SQLite, a bug, a row nobody foresaw) backs off like a failed write.
        .catch((err) => {
          if (!this.stopped) this.failed(err);
        })
        .finally(() => {
          this.running = undefined;
          // Backlog: go on at once rather than waiting for the next tick (which sees if there is one).
          if (!this.stopped && this.state !== "down") setImmediate(() => this.tick());
        });
    } catch (err) {
      if (this.stopped) return;
      this.failed(err);
      this.tickBlockedUntil = this.retry.retryAt;
    }
  }

  /** Time of the oldest unshipped row (one index seek). */
  private oldestTime(): number | undefined {
    return this.oldestStmt.get(this.cursor) as number | undefined;
  }

  /**
   * Ships batch after batch while they are full (or while flushing or recovering): each is
   * written while the next is read and built, with up to `maxInFlight` requests in flight. The
   * cursor advances in batch order; the first failure stops the pump and is thrown (the batches
   * after it are sent again after the backoff, and overwrite themselves).
   */
  private async pump(): Promise<void> {
    const inFlight: { batch: Batch; done: Promise<unknown> }[] = [];
    let failure: unknown;
    const settle = async () => {
      const { batch, done } = inFlight.shift()!;
      const err = await done;
      if (failure !== undefined || this.stopped) return;
      if (err !== undefined) failure = err;
      else {
        try {
          this.completed(batch);
        } catch (e) {
          failure = e;
        }
      }
    };
    const more = (b: Batch) =>
      b.count >= this.options.batchSize || this.flushing || this.state === "recovering";
    let next = await this.builder.build(this.cursor, () => this.stopped);
    while (next !== undefined && failure === undefined && !this.stopped) {
      while (inFlight.length >= this.options.maxInFlight && failure === undefined) await settle();
      if (failure !== undefined || this.stopped) break;
      const batch = next;
      inFlight.push({
        batch,
        done: this.writer.write(batch).then(
          () => undefined,
          (err: unknown) => err ?? "failed",
        ),
      });
      next = more(batch) ? await this.builder.build(batch.last, () => this.stopped) : undefined;
    }
    while (inFlight.length > 0) await settle();
    if (failure !== undefined && !this.stopped) throw failure;
    const oldest = this.outbox.queued === 0 ? undefined : this.oldestTime();
    this.pendingSince = oldest === undefined ? undefined : Math.min(oldest, Date.now());
  }

  /** A batch the server took (every point written or dead): the cursor moves over it. */
  private completed(batch: Batch): void {
    const accepted = batch.acceptedAbove(this.cursor);
    const dead = batch.refused.length === 0 ? batch.dead : [...batch.dead, ...batch.refused];
    // Persisted first: when the commit throws, memory still says what SQLite says, and the batch is
    // sent again after the backoff (it overwrites itself).
    this.outbox.advance(batch.last, batch.lastStamp, accepted, dead, batch);
    if (dead.length > 0) {
      log.warn(
        "%d records could not be shipped (malformed or rejected); kept in wotvo_influx_deadletter " +
          "(influxdb.deadLetters()), the queue goes on (first reason: %s)",
        dead.length,
        dead[0].reason,
      );
    }
    this.lastShippedAt = Date.now();
    this.succeeded(accepted);
  }

  /**
   * Awaited by the builder between chunks of rows: a turn of the event loop; while interactions
   * are being recorded, long enough that shipping takes at most `busyShare` of the loop.
   */
  private pause(stepMs: number): Promise<void> {
    const commits = this.history.committedCount;
    const busy = commits !== this.pausedAtCommits;
    this.pausedAtCommits = commits;
    const share = this.options.busyShare;
    if (!busy || share >= 1) return turn();
    return sleep((stepMs * (1 - share)) / share);
  }

  private succeeded(n: number): void {
    this.retry.succeeded();
    if (this.state === "down") {
      this.state = "recovering";
      log.info(
        "InfluxDB at %s accepts writes again; shipping the %d queued records",
        this.options.url,
        this.queued,
      );
    } else if (this.state === "starting") {
      this.state = "up";
    }
    if (this.state === "recovering") this.outageShipped += n;
    if (this.state === "recovering" && this.outbox.queued === 0) this.caughtUp();
  }

  private caughtUp(): void {
    if (this.state === "recovering") {
      const dropped = this.outbox.droppedThisEpisode;
      log.warn(
        "InfluxDB caught up: shipped %d records queued during the outage%s",
        this.outageShipped,
        dropped > 0 ? `; ${dropped} oldest were dropped (outbox full)` : "",
      );
      this.outageShipped = 0;
      this.state = "up";
    }
    this.outbox.endEpisode();
  }

  private failed(err: unknown): void {
    const failure = err instanceof WriteFailure ? err : undefined;
    const message = errorMessage(err);
    this.lastError = message;
    this.lastErrorAt = Date.now();
    const delay = this.retry.failed(failure?.retryAfterMs);
    if (this.state !== "down") {
      this.state = "down";
      this.outageShipped = 0;
      let queued: number | string = "the unshipped";
      try {
        queued = this.queued;
      } catch {
        // SQLite itself failing: the message says why
      }
      log.warn(
        "%s (%s); %s records stay in the outbox, retrying with backoff (one line per state change)",
        failure ? "InfluxDB write failed" : "InfluxDB shipping failed",
        message,
        queued,
      );
    } else {
      log.debug(
        "still failing (attempt %d, next in %d ms): %s",
        this.retry.attempt,
        Math.round(delay),
        message,
      );
    }
  }
}
