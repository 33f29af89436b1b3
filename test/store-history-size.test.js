// The bytes of things' recorded history (the service manager's storageLimit), on a real SQLite file
// written through the store: exact per the documented rule, only the things asked, kept
// incrementally in chunks that let the event loop run, and counted again after retention deleted
// rows.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { HistorySize, RECORD_OVERHEAD_BYTES } = require("../dist/store/history-size.js");
const { Retention } = require("../dist/store/retention.js");
const { openStore, record } = require("./helpers/store.js");

const utf8 = (s) => Buffer.byteLength(s ?? "", "utf8");

/** The documented rule, computed from the rows themselves. */
function expectedBytes(db, thingId) {
  return db
    .prepare(
      `SELECT h.value, h.output, h.error, h.op, h.source FROM wotvo_history h
       JOIN wotvo_series s ON s.id = h.series_id WHERE s.thing_id = ?`,
    )
    .all(thingId)
    .reduce(
      (n, r) =>
        n +
        utf8(r.value) +
        utf8(r.output) +
        utf8(r.error) +
        utf8(r.op) +
        utf8(r.source) +
        RECORD_OVERHEAD_BYTES,
      0,
    );
}

const other = (name, value) => record(name, value, { thingId: "urn:t2", thingTitle: "T2" });

test("the bytes follow the documented rule (UTF-8, NULLs as 0, 32 per record) for the things asked only", async () => {
  const { db, store } = openStore();
  store.append(record("note", "é".repeat(1000)));
  store.append(record("n", 42));
  store.append(
    record("act", null, {
      kind: "action",
      op: "invoke",
      ok: false,
      error: "refused: ✗",
      outputJson: '{"ü":1}',
    }),
  );
  store.append(other("x", "a".repeat(5000)));
  store.flush();
  const size = new HistorySize(db);
  const t1 = await size.bytesOf(["urn:t1"]);
  assert.equal(t1, expectedBytes(db, "urn:t1"));
  assert.ok(t1 >= 2002 + 3 * RECORD_OVERHEAD_BYTES, `${t1}`);
  assert.equal(await size.bytesOf(["urn:t2"]), expectedBytes(db, "urn:t2"));
  assert.equal(await size.bytesOf(["urn:t1", "urn:t2"]), t1 + expectedBytes(db, "urn:t2"));
  assert.equal(await size.bytesOf([]), 0);
  assert.equal(await size.bytesOf(["no-such-thing", "'); DROP TABLE wotvo_history; --"]), 0);
  assert.ok(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history").get().n > 0);
});

test("counted incrementally in chunks: later records add up, and the event loop runs meanwhile", async () => {
  const { db, store } = openStore();
  for (let i = 0; i < 5000; i++) store.append(record(`p${i % 7}`, { i, s: "x".repeat(i % 50) }));
  store.flush();
  const size = new HistorySize(db, 100); // 50 chunks
  let turns = 0;
  const ticking = setInterval(() => turns++, 0);
  const counting = size.bytesOf(["urn:t1"]);
  const first = await counting;
  clearInterval(ticking);
  assert.equal(first, expectedBytes(db, "urn:t1"));
  assert.ok(turns > 0, "timers ran while the history was counted");

  for (let i = 0; i < 250; i++) store.append(record("late", i));
  store.flush();
  assert.equal(await size.bytesOf(["urn:t1"]), expectedBytes(db, "urn:t1"));
  // Concurrent calls share one catch-up and agree.
  const [a, b] = await Promise.all([size.bytesOf(["urn:t1"]), size.bytesOf(["urn:t1"])]);
  assert.equal(a, b);
});

test("after retention deleted rows the bytes are counted again (Retention's onDeleted)", async () => {
  const { db, store } = openStore();
  for (let i = 0; i < 1000; i++) store.append(record("p", "y".repeat(100)));
  store.flush();
  const size = new HistorySize(db, 64);
  const before = await size.bytesOf(["urn:t1"]);
  let deleted = 0;
  const retention = new Retention(
    db,
    { maxAgeMs: 0, maxRows: 400, intervalMs: 3_600_000, chunkRows: 100 },
    () => undefined,
    () => {
      deleted++;
      size.invalidate();
    },
  );
  const result = await retention.run();
  assert.equal(result.deletedByCount, 600);
  assert.equal(deleted, 1);
  const after = await size.bytesOf(["urn:t1"]);
  assert.equal(after, expectedBytes(db, "urn:t1"));
  assert.ok(after < before / 2, `${before} → ${after}`);
  // A purge that deletes nothing keeps the count.
  await retention.run();
  assert.equal(deleted, 1);
});
