// HistoryStore.onCommit (what a metrics exporter and the outbox cursor listen to), the store's
// in-memory counters it feeds, and the store's defaults coming from the options schema.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { openStore, record, captureStderr } = require("./helpers/store.js");
const { OPTIONS_SCHEMA } = require("../dist/config.js");

test("onCommit: called after each group commit with its record count and duration; unsubscribe stops it", async () => {
  const { db, store } = openStore();
  const calls = [];
  const unsubscribe = store.onCommit((records, commitMs) => calls.push([records, commitMs]));
  await Promise.all([1, 2, 3].map((i) => store.append(record("a", i))));
  await store.append(record("b", 4));
  assert.deepEqual(
    calls.map(([n]) => n),
    [3, 1],
    "one call per group commit",
  );
  for (const [, ms] of calls) assert.ok(typeof ms === "number" && ms >= 0 && ms < 10_000, String(ms));
  unsubscribe();
  unsubscribe(); // idempotent
  await store.append(record("c", 5));
  assert.equal(calls.length, 2);
  db.close();
});

test("onCommit: not called for a commit that failed; a listener that throws is logged and changes nothing", async () => {
  const { db, store } = openStore();
  const calls = [];
  store.onCommit(() => {
    throw new Error("listener bug");
  });
  store.onCommit((records) => calls.push(records));
  const { log } = await captureStderr(() => store.append(record("a", 1)));
  assert.match(log, /a commit listener failed: listener bug/);
  assert.deepEqual(calls, [1], "the other listener still ran");
  db.exec(
    `CREATE TRIGGER refuse BEFORE INSERT ON wotvo_history BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
  );
  await captureStderr(() => assert.rejects(store.append(record("a", 2)), /disk says no/));
  assert.deepEqual(calls, [1], "no call for the rolled-back commit");
  db.exec("DROP TRIGGER refuse");
  await store.append(record("a", 3));
  assert.deepEqual(calls, [1, 1]);
  db.close();
});

test("lastId and the committed text size are kept in memory and agree with the file", async () => {
  const first = openStore();
  await Promise.all([
    first.store.append(record("a", "x".repeat(10))),
    first.store.append(record("b", null, { valueJson: undefined, ok: false, error: "boom" })),
    first.store.append(record("c", 1, { kind: "action", op: "invoke", outputJson: '"done"' })),
  ]);
  assert.equal(first.store.lastId, first.store.maxId());
  assert.equal(first.store.committedTextChars, 12 + 4 + 1 + 6);
  first.db.close();
  const { db, store } = openStore(first.file);
  assert.equal(store.lastId, 3, "found at open");
  assert.equal(store.committedTextChars, 0, "counted since open");
  await store.append(record("a", 7));
  assert.equal(store.lastId, 4);
  db.prepare("DELETE FROM wotvo_history").run();
  await store.append(record("a", 8));
  assert.equal(store.lastId, 5, "ids go on after the table was emptied");
  db.close();
});

test("the store's limits default to the history options' schema defaults (one place)", () => {
  const { db, store } = openStore();
  const d = OPTIONS_SCHEMA.properties.history.properties;
  assert.deepEqual(store.limits, {
    maxLimit: d.maxLimit.default,
    defaultLimit: d.defaultLimit.default,
    maxWindows: d.maxWindows.default,
    maxFutureSkewMs: d.maxFutureSkewMs.default,
  });
  db.close();
  const other = openStore(undefined, { maxLimit: 7 });
  assert.equal(other.store.limits.maxLimit, 7);
  assert.equal(other.store.limits.defaultLimit, d.defaultLimit.default);
  other.db.close();
});
