// The history store on a real SQLite file: group commit, unique timestamps, queries, aggregates
// and retention.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Retention } = require("../dist/store/retention.js");
const { openStore: open, record: rec } = require("./helpers/store.js");

test("appends in one turn share one transaction and resolve after commit", async () => {
  const { db, store } = open();
  const promises = [];
  for (let i = 0; i < 1000; i++) promises.push(store.append(rec("p", i)));
  assert.equal(store.pendingCount, 1000);
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history").get().n, 0, "nothing before the commit");
  await Promise.all(promises);
  assert.equal(new Set(promises).size, 1, "one shared commit promise for the batch");
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history").get().n, 1000);
  assert.equal(store.committedCount, 1000);
  await store.append(rec("p", 1000));
  assert.equal(store.committedCount, 1001);
});

test("timestamps are unique and monotonic, also across a reopen in the same millisecond", async () => {
  const { db, store, file } = open();
  const now = Date.now() + 60_000; // a fixed future ms: every record lands in the same millisecond
  await Promise.all(Array.from({ length: 2000 }, (_, i) => store.append(rec("p", i, { time: now }))));
  db.close();
  const again = open(file);
  await again.store.append(rec("p", "after reopen", { time: now }));
  const rows = again.db.prepare("SELECT ts, ts_sub FROM wotvo_history ORDER BY id").all();
  assert.equal(rows.length, 2001);
  const keys = rows.map((r) => BigInt(r.ts) * 1000000n + BigInt(r.ts_sub));
  for (let i = 1; i < keys.length; i++) assert.ok(keys[i] > keys[i - 1], `row ${i} is after row ${i - 1}`);
});

test("query: one affordance, a range, a limit, newest first or oldest first", async () => {
  const { store } = open();
  const base = 1_700_000_000_000;
  for (let i = 0; i < 100; i++) {
    store.append(rec("temp", i, { time: base + i * 1000 }));
    store.append(rec("other", -i, { time: base + i * 1000 }));
  }
  store.append(rec("temp", 999, { thingId: "urn:t2", thingTitle: "T2", time: base }));
  store.flush();
  const newest = store.query({ thingId: "urn:t1", kind: "property", name: "temp", limit: 5 });
  assert.deepEqual(
    newest.map((r) => r.value),
    [99, 98, 97, 96, 95],
  );
  const ranged = store.query({
    thingTitle: "T1",
    name: "temp",
    from: base + 10_000,
    to: base + 14_000,
    order: "asc",
  });
  assert.deepEqual(
    ranged.map((r) => r.value),
    [10, 11, 12, 13, 14],
  );
  assert.equal(store.query({ thingId: "urn:t1", limit: 1000 }).length, 200, "all affordances of a thing");
  assert.equal(store.query({ thingId: "urn:nope" }).length, 0);
  assert.equal(store.latest({ thingId: "urn:t2", kind: "property", name: "temp" }).value, 999);
  assert.throws(
    () => store.query({ thingId: "urn:t1", from: 10, to: 5 }),
    /'from' \(10\) is after 'to' \(5\)/,
  );
  assert.throws(
    () => store.query({ thingId: "urn:t1", limit: 1e9 }),
    /'limit' must be an integer from 1 to 10000/,
  );
  assert.throws(() => store.query({ thingId: "urn:t1", from: -1 }), /'from' must be milliseconds/);
  assert.throws(
    () => store.query({ thingId: "urn:t1", order: "sideways" }),
    /'order' must be "asc" or "desc"/,
  );
  // Names are bound parameters: SQL in a name matches nothing and breaks nothing.
  assert.deepEqual(store.query({ thingId: "urn:t1", name: "temp' OR '1'='1" }), []);
});

test("aggregates over fixed windows: count, min, max, mean, first, last; object fields", async () => {
  const { store } = open();
  const base = 1_700_000_040_000; // a multiple of 10 s
  const values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
  values.forEach((v, i) => store.append(rec("v", v, { time: base + i * 2000 })));
  store.append(rec("v", "text is counted, not averaged", { time: base + 1 }));
  store.append(rec("v", 100, { time: base + 2, ok: false, error: "rejected" }));
  values.forEach((v, i) => store.append(rec("pm", { pm: { pm25: v } }, { time: base + i * 2000 })));
  store.flush();
  const w = store.aggregate({
    thingId: "urn:t1",
    kind: "property",
    name: "v",
    from: base,
    to: base + 19_999,
    windowMs: 10_000,
  });
  assert.equal(w.length, 2);
  assert.deepEqual(w[0], {
    start: base,
    end: base + 10_000,
    count: 6,
    min: 1,
    max: 5,
    mean: 14 / 5,
    first: 3,
    last: 5,
  });
  assert.deepEqual(w[1], {
    start: base + 10_000,
    end: base + 20_000,
    count: 5,
    min: 2,
    max: 9,
    mean: 5,
    first: 9,
    last: 3,
  });
  const f = store.aggregate({
    thingId: "urn:t1",
    name: "pm",
    kind: "property",
    from: base,
    to: base + 19_999,
    windowMs: 20_000,
    field: "pm.pm25",
  });
  assert.equal(f.length, 1);
  assert.equal(f[0].max, 9);
  assert.equal(f[0].first, 3);
  assert.throws(
    () =>
      store.aggregate({
        thingId: "urn:t1",
        name: "v",
        kind: "property",
        from: 0,
        to: Date.now(),
        windowMs: 1,
      }),
    /windows, more than the limit/,
  );
  assert.throws(
    () => store.aggregate({ thingId: "urn:t1", name: "v", kind: "property", from: 0, windowMs: 0 }),
    /window must be a positive integer/,
  );
  assert.throws(
    () =>
      store.aggregate({
        thingId: "urn:t1",
        name: "v",
        kind: "property",
        from: base,
        windowMs: 1000,
        field: "a') --",
      }),
    /not a dotted path/,
  );
});

test("retention by age and by count runs in chunks and spares protected (unshipped) rows", async () => {
  const { db, store } = open();
  const now = 1_700_000_000_000; // in the past: explicit times ahead of the clock are refused
  for (let i = 0; i < 1000; i++) store.append(rec("p", i, { time: now - (1000 - i) * 1000 }));
  store.flush();
  const byAge = new Retention(db, { maxAgeMs: 500_000, maxRows: 0, intervalMs: 60_000, chunkRows: 64 });
  const r1 = await byAge.run(now);
  assert.equal(r1.deletedByAge, 500);
  assert.equal(db.prepare("SELECT MIN(ts) AS m FROM wotvo_history").get().m, now - 500_000);
  const byCount = new Retention(
    db,
    { maxAgeMs: 0, maxRows: 100, intervalMs: 60_000, chunkRows: 64 },
    () => 900,
  );
  const r2 = await byCount.run(now);
  assert.equal(r2.deletedByCount, 400, "ids 501..900 deleted; 901..1000 were never shipped and stay");
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history").get().n, 100);
  const off = new Retention(db, { maxAgeMs: 0, maxRows: 0, intervalMs: 60_000, chunkRows: 64 });
  assert.equal(off.enabled, false);
});
