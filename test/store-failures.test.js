// A group commit that fails on a real SQLite file (a trigger the test creates makes SQLite abort):
// series ids from the rolled-back transaction are never reused for another affordance, the store's
// health follows failing ↔ committing, and the log says so once per episode.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { openStore: open, record: rec, captureStderr } = require("./helpers/store.js");

const BOOM = `CREATE TRIGGER boom BEFORE INSERT ON wotvo_history WHEN NEW.value = '"boom"'
  BEGIN SELECT RAISE(ABORT, 'simulated'); END`;

test("a series id created in a rolled-back group commit is never reused for another affordance", async () => {
  const { db, store } = open();
  await store.append(rec("known", 0));
  db.exec(BOOM);
  // `a` is new: its series row is inserted in the batch's transaction, which then aborts.
  await assert.rejects(store.append(rec("a", "boom")), /simulated/);
  db.exec("DROP TRIGGER boom");
  await store.append(rec("b", "b1")); // SQLite hands out the rolled-back id again
  await store.append(rec("a", "a1"));
  const stored = db
    .prepare(
      "SELECT s.name, h.value FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id ORDER BY h.id",
    )
    .all();
  assert.deepEqual(stored, [
    { name: "known", value: "0" },
    { name: "b", value: '"b1"' },
    { name: "a", value: '"a1"' },
  ]);
  assert.deepEqual(
    store.query({ thingId: "urn:t1", name: "a" }).map((r) => r.value),
    ["a1"],
  );
  assert.deepEqual(
    store.query({ thingId: "urn:t1", name: "b" }).map((r) => r.value),
    ["b1"],
  );
});

test("health: failing after a failed batch, committing after the next commit; listeners told once per change", async () => {
  const { db, store } = open();
  const opened = store.health();
  assert.equal(opened.state, "committing");
  assert.equal(opened.committed, 0);
  assert.equal(opened.failedBatches, 0);
  assert.equal(typeof opened.since, "number");
  assert.equal(opened.lastError, undefined);

  const seen = [];
  const unsubscribe = store.onStateChange((h) => seen.push(h));
  store.onStateChange(() => {
    throw new Error("a listener that throws");
  });
  store.onStateChange(async () => {
    throw new Error("a listener that rejects");
  });
  await store.append(rec("p", 1));
  assert.equal(store.health().committed, 1);
  assert.equal(typeof store.health().lastCommitAt, "number");
  db.exec(BOOM);
  const { log } = await captureStderr(async () => {
    await assert.rejects(store.append(rec("p", "boom")), /simulated/);
    await assert.rejects(store.append(rec("p", "boom")), /simulated/);
    await assert.rejects(store.append(rec("p", "boom")), /simulated/);
    const failing = store.health();
    assert.equal(failing.state, "failing");
    assert.equal(failing.failedBatches, 3);
    assert.equal(failing.committed, 1);
    assert.match(failing.lastError, /simulated/);
    assert.equal(typeof failing.lastErrorAt, "number");
    assert.equal(failing.since, seen[0].since);
    db.exec("DROP TRIGGER boom");
    await store.append(rec("p", 2));
  });
  assert.equal(log.match(/could not commit/g)?.length, 1, `one error line for the episode:\n${log}`);
  assert.equal(log.match(/recording resumed/g)?.length, 1, `one line when it recovers:\n${log}`);
  assert.match(log, /a store health listener failed: a listener that throws/);
  const back = store.health();
  assert.equal(back.state, "committing");
  assert.equal(back.committed, 2);
  assert.equal(back.failedBatches, 3, "failures since open stay counted");
  assert.deepEqual(
    seen.map((h) => h.state),
    ["failing", "committing"],
  );
  unsubscribe();
  db.exec(BOOM);
  await assert.rejects(store.append(rec("p", "boom")), /simulated/);
  assert.equal(seen.length, 2, "no call after unsubscribe");
  assert.equal(store.health().state, "failing");
});
