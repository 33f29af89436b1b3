// The retry policy alone: exponential backoff with jitter, its ceiling, Retry-After and its cap,
// with an injected clock and random source (no waiting, no server).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { RetryPolicy, backoffDelay } = require("../dist/influx/retry-policy.js");
const { resolveOptions } = require("../dist/index.js");

const OPTIONS = { retryDelayMs: 100, maxRetryDelayMs: 1000, retryJitter: 0.2, maxRetryAfterMs: 5000 };

/** A clock that only moves when told to, and a random source that returns what it is given. */
function fakeClock(random = 0.5) {
  const clock = { t: 1_000_000, r: random, now: () => clock.t, random: () => clock.r };
  return clock;
}

test("backoff doubles from retryDelayMs up to maxRetryDelayMs; jitter stays within ±retryJitter", () => {
  const mid = [1, 2, 3, 4, 5, 6, 40, 1e6].map((attempt) => backoffDelay(attempt, OPTIONS, 0.5));
  assert.deepEqual(mid, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  assert.equal(backoffDelay(1, OPTIONS, 0), 80, "random 0: the lower edge, 1 − jitter");
  assert.ok(backoffDelay(1, OPTIONS, 0.999999) < 120 && backoffDelay(1, OPTIONS, 0.999999) > 119.99);
  assert.equal(backoffDelay(4, { ...OPTIONS, retryJitter: 0 }, 0.123), 800, "no jitter: exact");
  assert.equal(backoffDelay(0, OPTIONS, 0.5), 100, "attempt 0 counts as the first");
});

test("a failure sets when to retry; waiting until the clock passes it; success starts over", () => {
  const clock = fakeClock();
  const policy = new RetryPolicy(OPTIONS, clock);
  assert.equal(policy.waiting, false, "nothing failed yet");
  assert.equal(policy.failed(), 100);
  assert.equal(policy.attempt, 1);
  assert.equal(policy.retryAt, clock.t + 100);
  assert.equal(policy.waiting, true);
  clock.t += 99;
  assert.equal(policy.waiting, true);
  clock.t += 1;
  assert.equal(policy.waiting, false);
  assert.equal(policy.failed(), 200, "the second failure in a row waits twice as long");
  assert.equal(policy.failed(), 400);
  policy.succeeded();
  assert.equal(policy.attempt, 0);
  assert.equal(policy.waiting, false);
  assert.equal(policy.failed(), 100, "after a success the backoff starts from the beginning");
});

test("a server's Retry-After replaces the backoff, capped at maxRetryAfterMs; it still counts as an attempt", () => {
  const clock = fakeClock(0);
  const policy = new RetryPolicy(OPTIONS, clock);
  assert.equal(policy.failed(3000), 3000, "no jitter on a server's own wait");
  assert.equal(policy.retryAt, clock.t + 3000);
  assert.equal(policy.failed(3_600_000), 5000, "an hour is capped");
  assert.equal(policy.failed(-5), 0, "a wait in the past means now");
  assert.equal(policy.attempt, 3);
  assert.equal(policy.failed(), 0.8 * 800, "the backoff continues from the attempts counted");
});

test("the policy's defaults are the options schema's", () => {
  const { influxdb } = resolveOptions({});
  assert.deepEqual(
    {
      retryDelayMs: influxdb.retryDelayMs,
      maxRetryDelayMs: influxdb.maxRetryDelayMs,
      retryJitter: influxdb.retryJitter,
      maxRetryAfterMs: influxdb.maxRetryAfterMs,
    },
    { retryDelayMs: 500, maxRetryDelayMs: 30000, retryJitter: 0.2, maxRetryAfterMs: 600000 },
  );
  const policy = new RetryPolicy(influxdb, fakeClock(0.5));
  const delays = Array.from({ length: 10 }, () => policy.failed());
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
});
