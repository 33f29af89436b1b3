/**
 * When to try again after a failed write: exponential backoff from `retryDelayMs` to
 * `maxRetryDelayMs` with ±`retryJitter` random jitter; a server's Retry-After replaces the backoff
 * (capped at `maxRetryAfterMs`). Pure: the clock and the random source are injected, so the
 * policy is tested without waiting (the official client's retryStrategy, without its state in a
 * retry buffer: what waits is the SQLite outbox).
 */
import type { InfluxOptions } from "./options";

export type RetryOptions = Pick<
  InfluxOptions,
  "retryDelayMs" | "maxRetryDelayMs" | "retryJitter" | "maxRetryAfterMs"
>;

export interface RetryClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** A number in [0, 1). */
  random(): number;
}

const SYSTEM_CLOCK: RetryClock = { now: Date.now, random: Math.random };

/**
 * The backoff after `attempt` consecutive failures (1 = the first): retryDelayMs × 2^(attempt−1),
 * at most maxRetryDelayMs, times a factor in [1 − jitter, 1 + jitter) drawn from `random`.
 */
export function backoffDelay(attempt: number, options: RetryOptions, random: number): number {
  const base = Math.min(
    options.maxRetryDelayMs,
    options.retryDelayMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30),
  );
  const jitter = options.retryJitter;
  return base * (1 - jitter + 2 * jitter * random);
}

export class RetryPolicy {
  /** Consecutive failures (0 after a success). */
  attempt = 0;
  /** When the next attempt may start (milliseconds since the epoch; 0: now). */
  retryAt = 0;

  constructor(
    private readonly options: RetryOptions,
    private readonly clock: RetryClock = SYSTEM_CLOCK,
  ) {}

  /** Records a failure; returns the delay before the next attempt, in milliseconds. */
  failed(retryAfterMs?: number): number {
    this.attempt++;
    const delay =
      retryAfterMs === undefined
        ? backoffDelay(this.attempt, this.options, this.clock.random())
        : Math.min(this.options.maxRetryAfterMs, Math.max(0, retryAfterMs));
    this.retryAt = this.clock.now() + delay;
    return delay;
  }

  /** Records a success: the next failure starts the backoff from the beginning. */
  succeeded(): void {
    this.attempt = 0;
    this.retryAt = 0;
  }

  /** True while the backoff of the last failure has not elapsed. */
  get waiting(): boolean {
    return this.clock.now() < this.retryAt;
  }
}
