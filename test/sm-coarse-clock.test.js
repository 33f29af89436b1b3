// The traffic monitor's default clock: read at most once per resolution, never keeping a process
// alive, and the monitor counting with it when no clock is injected.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { setTimeout: sleep } = require("node:timers/promises");
const { coarseClock } = require("../dist/service-manager/coarse-clock.js");

test("a coarse clock reads its source once per resolution and again after it", async () => {
  let reads = 0;
  let t = 1000;
  const now = coarseClock(20, () => {
    reads += 1;
    return (t += 1);
  });
  const first = now();
  for (let i = 0; i < 10_000; i++) assert.equal(now(), first);
  assert.equal(reads, 1);
  await sleep(60);
  const second = now();
  assert.equal(reads, 2);
  assert.equal(second, first + 1);
  // Idle for several resolutions: still one read per call after expiry, not one per resolution.
  await sleep(100);
  assert.equal(reads, 2);
  now();
  assert.equal(reads, 3);
});

test("the default coarse clock is Date.now to within its resolution", async () => {
  const now = coarseClock(50);
  for (let i = 0; i < 5; i++) {
    const before = Date.now();
    const value = now();
    const after = Date.now();
    assert.ok(value <= after && value >= before - 50, `${value} not within [${before - 50}, ${after}]`);
    await sleep(30);
  }
});

test("a coarse clock's timer never keeps a process alive", () => {
  const file = path.join(__dirname, "..", "dist", "service-manager", "coarse-clock.js");
  const started = Date.now();
  execFileSync(process.execPath, ["-e", `require(${JSON.stringify(file)}).coarseClock(600000)()`], {
    timeout: 20_000,
  });
  assert.ok(Date.now() - started < 15_000);
});
