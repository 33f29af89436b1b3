// Several writers on one service-manager file at once (worker threads, one connection each): no
// SQLITE_BUSY escapes the 60 s busy timeout, and no update is lost.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { Worker } = require("node:worker_threads");
const { openStore } = require("./fixtures/sm-helpers.js");

const WORKERS = 4;
const ITERATIONS = 400;

function runWorker(file, worker) {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, "fixtures", "sm-concurrency-worker.js"), {
      workerData: { file, worker, iterations: ITERATIONS },
    });
    w.once("message", resolve);
    w.once("error", reject);
    w.once("exit", (code) => code !== 0 && reject(new Error(`worker ${worker} exited ${code}`)));
  });
}

test(`${WORKERS} writers × ${ITERATIONS} rounds on one file: no busy error, every increment and row kept`, async () => {
  const { store, file } = openStore();
  const results = await Promise.all(Array.from({ length: WORKERS }, (_, w) => runWorker(file, w + 1)));
  for (const r of results) assert.deepEqual(r.errors, [], `worker ${r.worker}`);

  assert.equal(store.getTrafficMonitorData("shared_IN").value, WORKERS * ITERATIONS);
  const services = store.getServices();
  assert.equal(services.length, WORKERS * ITERATIONS);
  for (let w = 1; w <= WORKERS; w++) {
    const mine = store.getUsersServices([`user${w}`]);
    assert.equal(mine.length, ITERATIONS);
    for (const s of mine) {
      const i = Number(s.id.split("-")[1]);
      assert.equal(s.ulLimit, w * 100000 + i);
      assert.equal(s.dlLimit, i);
    }
  }
  const version = store.getOperationVersion();
  assert.ok(
    Array.from({ length: WORKERS }, (_, w) => (w + 1) * 100000 + ITERATIONS - 1).includes(version),
    `the operation version is one writer's last: ${version}`,
  );
  store.close();
});
