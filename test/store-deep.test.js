// Rows stored before the depth cap existed (values nested thousands deep, written here with SQL
// into a real file) never break a read: query, latest and readAfter describe them with the
// too-deep marker, and aggregate counts them as non-numeric instead of failing on "malformed JSON".
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { openDatabase } = require("../dist/store/database.js");
const { HistoryStore } = require("../dist/store/history.js");
const { tempDir } = require("./helpers/vo.js");

const deep = (n) => "[".repeat(n) + "]".repeat(n);
const DEEP_5000 = deep(5000);
const DEEP_IN_OBJECT = `{"a":${deep(1500)}}`;
const marker = (text) => ({ $tooDeep: true, maxDepth: 512, bytes: Buffer.byteLength(text) });

function setup() {
  const db = openDatabase({
    file: path.join(tempDir(), "vo.sqlite"),
    synchronous: "normal",
    busyTimeoutMs: 1000,
  });
  const store = new HistoryStore(db);
  const series = db
    .prepare(
      "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES ('urn:t1', 'T1', 'property', 'v') RETURNING id",
    )
    .get().id;
  const insert = db.prepare(
    "INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, output, source) VALUES (?, ?, 0, 'write', 1, ?, ?, 'http')",
  );
  const base = 1_700_000_000_000;
  insert.run(series, base, DEEP_5000, null);
  insert.run(series, base + 1, "3", null);
  insert.run(series, base + 2, DEEP_IN_OBJECT, DEEP_5000);
  insert.run(series, base + 3, "5", null);
  insert.run(series, base + 4, DEEP_5000, null);
  return { db, store, base };
}

test("query, latest and readAfter return a value nested 5,000 deep as the too-deep marker", () => {
  const { store } = setup();
  const rows = store.query({ thingId: "urn:t1", name: "v", order: "asc" });
  assert.deepEqual(
    rows.map((r) => r.value),
    [marker(DEEP_5000), 3, marker(DEEP_IN_OBJECT), 5, marker(DEEP_5000)],
  );
  assert.deepEqual(rows[2].output, marker(DEEP_5000));
  assert.deepEqual(store.latest({ thingId: "urn:t1", kind: "property", name: "v" }).value, marker(DEEP_5000));
  const outbox = store.readAfter(0, 10);
  assert.equal(outbox.length, 5);
  assert.deepEqual(outbox[0].value, marker(DEEP_5000));
  assert.doesNotThrow(() => JSON.stringify(rows), "every row can be served");
});

test("aggregate counts a too-deep row as non-numeric instead of failing with malformed JSON", () => {
  const { store, base } = setup();
  const [w] = store.aggregate({
    thingId: "urn:t1",
    kind: "property",
    name: "v",
    from: base,
    to: base + 9,
    windowMs: 10,
  });
  assert.deepEqual(w, {
    start: base,
    end: base + 10,
    count: 5,
    min: 3,
    max: 5,
    mean: 4,
    first: marker(DEEP_5000),
    last: marker(DEEP_5000),
  });
  const [f] = store.aggregate({
    thingId: "urn:t1",
    kind: "property",
    name: "v",
    from: base,
    to: base + 9,
    windowMs: 10,
    field: "a",
  });
  assert.equal(f.count, 5);
  assert.equal(f.min, null);
  assert.equal(f.first, null);
});
