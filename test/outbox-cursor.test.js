// The outbox cursor alone, on real SQLite files (no servient, no server): the persisted cursor and
// counters, the outbox size kept in memory from the store's commits, the row and byte bounds, and
// the count of what an earlier run left unshipped, in chunks that yield to the event loop.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { openStore, record, captureStderr } = require("./helpers/store.js");
const { OutboxCursor, ROW_OVERHEAD_BYTES } = require("../dist/influx/outbox-cursor.js");

/** The outbox size of rows (after, upTo] as SQL counts it: the reference the memory must match. */
function sqlBytes(db, after, upTo) {
  return db
    .prepare(
      `SELECT COALESCE(SUM(COALESCE(length(value), 0) + COALESCE(length(output), 0) + COALESCE(length(error), 0)
         + ${ROW_OVERHEAD_BYTES}), 0) FROM wotvo_history WHERE id > ? AND id <= ?`,
    )
    .pluck()
    .get(after, upTo);
}

/** What a shipped batch tells the cursor (here from SQL; the batch builder counts it as it reads). */
const shippedRange = (db) => ({ bytesBetween: (after, upTo) => sqlBytes(db, after, upTo) });

const BIG = { maxRows: 10_000_000, maxBytes: 2 ** 31, countChunkRows: 20_000 };

/** `n` records in one group commit; values of varying length, every fifth an action with output. */
async function commit(store, n, from = 0) {
  const all = [];
  for (let i = from; i < from + n; i++) {
    const extra =
      i % 5 === 0
        ? { kind: "action", op: "invoke", outputJson: JSON.stringify("ok".repeat(i % 7)), durationMs: 1 }
        : {};
    const failed = i % 11 === 0 ? { ok: false, error: `failed ${"x".repeat(i % 13)}` } : {};
    all.push(store.append(record(`p${i % 3}`, "v".repeat(i % 17), { ...extra, ...failed })));
  }
  await Promise.all(all);
}

/** `n` records whose value text is exactly `chars` characters (so each row counts chars + 64). */
async function commitSized(store, n, chars) {
  const all = [];
  for (let i = 0; i < n; i++) all.push(store.append(record("s", "x".repeat(chars - 2))));
  await Promise.all(all);
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("the outbox size follows every group commit in memory, and every shipped batch", async () => {
  const { db, store } = openStore();
  const cursor = new OutboxCursor(db, store, BIG);
  cursor.start();
  assert.equal(cursor.queued, 0);
  assert.equal(cursor.queuedBytes, 0);
  let from = 0;
  for (const n of [1, 7, 300, 2500, 13]) {
    await commit(store, n, from);
    from += n;
    assert.equal(cursor.queued, store.lastId);
    assert.equal(cursor.queuedBytes, sqlBytes(db, 0, store.lastId), `after ${from} records`);
  }
  // Batches of the shipper: the size shrinks by exactly what each carried.
  for (const to of [1, 500, 1024, 1025, 2800]) {
    cursor.advance(to, "0.0", 1, [], shippedRange(db));
    assert.equal(cursor.position, to);
    assert.equal(cursor.queuedBytes, sqlBytes(db, to, store.lastId), `shipped up to ${to}`);
  }
  cursor.stop();
  db.close();
});

test("advance persists the cursor, the counters and the dead letters together; a new cursor resumes there", async () => {
  const { db, store, file } = openStore();
  const cursor = new OutboxCursor(db, store, BIG);
  cursor.start();
  await commit(store, 20);
  const dead = { historyId: 3, bucket: "vo", line: "bad line", status: 400, reason: "unable to parse" };
  cursor.advance(10, "1700000000000.7", 9, [dead], shippedRange(db));
  assert.deepEqual([cursor.position, cursor.shipped, cursor.deadLettered, cursor.queued], [10, 9, 1, 10]);
  cursor.stop();
  db.close();

  const again = openStore(file);
  const resumed = new OutboxCursor(again.db, again.store, BIG);
  assert.deepEqual([resumed.position, resumed.shipped, resumed.deadLettered, resumed.dropped], [10, 9, 1, 0]);
  const meta = Object.fromEntries(again.db.prepare("SELECT key, value FROM wotvo_meta").raw().all());
  assert.equal(meta["influx.cursor_ns"], "1700000000000.7", "the cursor's stamp is kept for older versions");
  const [letter] = resumed.deadLetters(10);
  assert.equal(letter.historyId, 3);
  assert.equal(letter.status, 400);
  assert.equal(letter.line, "bad line");
  assert.match(letter.at, /^\d{4}-\d\d-\d\dT/);
  again.db.close();
});

test("a cursor that cannot be saved changes nothing in memory", async () => {
  const { db, store } = openStore();
  const cursor = new OutboxCursor(db, store, BIG);
  cursor.start();
  await commit(store, 10);
  db.exec(`CREATE TRIGGER no_cursor BEFORE UPDATE ON wotvo_meta WHEN NEW.key = 'influx.cursor'
           BEGIN SELECT RAISE(ABORT, 'the cursor cannot be saved'); END`);
  cursor.advance(2, "0.0", 2, [], shippedRange(db)); // inserts the keys: allowed
  const before = [cursor.position, cursor.shipped, cursor.queuedBytes];
  const dead = { historyId: 4, bucket: "vo", line: "x", status: 400, reason: "r" };
  assert.throws(() => cursor.advance(8, "0.0", 5, [dead], shippedRange(db)), /the cursor cannot be saved/);
  assert.deepEqual([cursor.position, cursor.shipped, cursor.queuedBytes], before);
  assert.equal(cursor.deadLetters(10).length, 0, "the dead letters rolled back with the cursor");
  cursor.stop();
  db.close();
});

test("row bound: the oldest beyond maxRows are dropped, counted, persisted and logged once per episode", async () => {
  const { db, store, file } = openStore();
  const cursor = new OutboxCursor(db, store, { ...BIG, maxRows: 10 });
  cursor.start();
  await commit(store, 25);
  const first = await captureStderr(() => cursor.enforceBound());
  assert.equal(first.value, 15);
  assert.deepEqual([cursor.position, cursor.dropped, cursor.queued], [15, 15, 10]);
  assert.equal(cursor.queuedBytes, sqlBytes(db, 15, 25));
  assert.equal((first.log.match(/outbox full \(maxRows 10/g) ?? []).length, 1, first.log);
  assert.equal(cursor.enforceBound(), 0, "within the bound now");

  await commit(store, 5, 25);
  const second = await captureStderr(() => cursor.enforceBound());
  assert.equal(second.value, 5);
  assert.equal(second.log, "", "the same episode: no second line");
  assert.equal(cursor.droppedThisEpisode, 20);

  cursor.endEpisode(); // the shipper caught up
  await commit(store, 3, 30);
  const third = await captureStderr(() => cursor.enforceBound());
  assert.equal(third.value, 3);
  assert.match(third.log, /outbox full/, "a new episode logs again");
  cursor.stop();
  db.close();
  const again = openStore(file);
  const resumed = new OutboxCursor(again.db, again.store, BIG);
  assert.deepEqual([resumed.position, resumed.dropped], [23, 23]);
  again.db.close();
});

test("byte bound: the oldest are dropped until the rest fits, to the row", async () => {
  const { db, store } = openStore();
  const row = 100; // 36 characters of value + 64
  const cursor = new OutboxCursor(db, store, { ...BIG, maxBytes: 1500 * row + 50 });
  cursor.start();
  for (let i = 0; i < 6; i++) await commitSized(store, 500, row - ROW_OVERHEAD_BYTES);
  assert.equal(cursor.queuedBytes, 3000 * row);
  const { value: dropped } = await captureStderr(() => cursor.enforceBound());
  assert.equal(dropped, 1500);
  assert.equal(cursor.queued, 1500);
  assert.equal(cursor.queuedBytes, 1500 * row);
  assert.equal(sqlBytes(db, cursor.position, store.lastId), 1500 * row, "memory agrees with the file");

  // Rows of different sizes, the cut inside a commit: the newest that fit stay, one more would not.
  const varied = new OutboxCursor(db, store, { ...BIG, maxBytes: 40_000 });
  varied.position = cursor.position;
  varied.start();
  await commit(store, 3000, 7);
  await captureStderr(() => varied.enforceBound());
  const kept = sqlBytes(db, varied.position, store.lastId);
  assert.equal(varied.queuedBytes, kept);
  assert.ok(kept <= 40_000, `kept ${kept} bytes`);
  assert.ok(sqlBytes(db, varied.position - 1, store.lastId) > 40_000, "not one row more than needed dropped");
  cursor.stop();
  varied.stop();
  db.close();
});

test("restart: an earlier run's outbox is counted in chunks that yield, while shipping moves the cursor", async () => {
  const first = openStore();
  const old = new OutboxCursor(first.db, first.store, BIG);
  old.start();
  await commit(first.store, 5000);
  old.advance(1000, "0.0", 1000, [], shippedRange(first.db));
  old.stop();
  first.db.close();

  const { db, store } = openStore(first.file);
  const total = sqlBytes(db, 1000, 5000);
  // A bound the file's size cannot rule out: the 4,000 unshipped rows must be counted.
  const cursor = new OutboxCursor(db, store, { maxRows: 1e6, maxBytes: total + 10, countChunkRows: 500 });
  cursor.start();
  assert.equal(cursor.position, 1000);
  assert.equal(cursor.queued, 4000, "rows are known at once");
  assert.equal(cursor.queuedBytes, undefined, "bytes are not known before the count");
  let turns = 0;
  let counted = false;
  const spin = () => {
    turns++;
    if (!counted) setImmediate(spin);
  };
  setImmediate(spin);
  await turn();
  // Shipping goes on meanwhile: a batch from the bottom, and records committed at the top.
  cursor.advance(1700, "0.0", 700, [], shippedRange(db));
  await commit(store, 40, 5000);
  await cursor.counted;
  counted = true;
  assert.ok(turns >= 5, `the event loop turned ${turns} times while 4,000 rows were counted 500 at a time`);
  assert.equal(
    cursor.queuedBytes,
    sqlBytes(db, 1700, store.lastId),
    "counted exactly, with the moves meanwhile",
  );
  assert.equal(cursor.enforceBound(), 0);
  // Within the bound until more arrives (more than the 700 rows shipped held); then the byte bound
  // applies to the counted outbox.
  await commitSized(store, 100, 1000);
  const { value: dropped } = await captureStderr(() => cursor.enforceBound());
  assert.ok(dropped > 0);
  assert.equal(cursor.queuedBytes, sqlBytes(db, cursor.position, store.lastId));
  assert.ok(cursor.queuedBytes <= total + 10);
  cursor.stop();
  db.close();
});

test("restart: a small file is not counted at all (its size bounds the outbox); the row bound still applies", async () => {
  const first = openStore();
  await commit(first.store, 3000);
  first.db.close();
  const { db, store } = openStore(first.file);
  const cursor = new OutboxCursor(db, store, { ...BIG, maxRows: 1000 });
  cursor.start();
  let settled = false;
  void cursor.counted.then(() => (settled = true));
  await turn();
  assert.equal(settled, true, "nothing to count");
  assert.equal(cursor.queuedBytes, undefined, "the exact size was never needed");
  const { value: dropped } = await captureStderr(() => cursor.enforceBound());
  assert.equal(dropped, 2000);
  // Shipping through the uncounted rows and past them makes the size exact again.
  cursor.advance(3000, "0.0", 1000, [], shippedRange(db));
  await commit(store, 10, 3000);
  assert.equal(cursor.queuedBytes, sqlBytes(db, 3000, store.lastId));
  cursor.stop();
  db.close();
});
