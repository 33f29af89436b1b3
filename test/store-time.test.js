// The store's clock on a real SQLite file: explicit record times (script points) are checked and
// never move the live clock, and back-dated points get sub-ms slots unique for the life of the file.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { openStore: open, record, captureStderr } = require("./helpers/store.js");

/** A script point (explicit-time records come from scripts). */
const rec = (name, value, extra = {}) => record(name, value, { op: "point", source: "local", ...extra });

const INT64_MAX = 9223372036854775807n;

const rows = (db) => db.prepare("SELECT id, ts, ts_sub, value FROM wotvo_history ORDER BY id").all();
const stamp = (r) => BigInt(r.ts) * 1000000n + BigInt(r.ts_sub);

test("an explicit time ahead of the clock (allowed or not) never moves the live clock, also across a restart", async () => {
  const { db, store, file } = open();
  await store.append(rec("live", 1));
  const ahead = Date.now() + 200_000; // within the default skew of 300 000 ms
  await store.append(rec("pt", "ahead", { time: ahead }));
  await store.append(rec("live", 2));
  const [l1, p, l2] = rows(db);
  assert.equal(p.ts, ahead);
  assert.ok(p.ts_sub >= 500000, "an explicit time takes an explicit slot");
  assert.ok(
    l2.ts < ahead,
    `the next live record is stamped now (${l2.ts}), not at the explicit time (${ahead})`,
  );
  assert.ok(stamp(l2) > stamp(l1), "live stamps stay monotonic");
  assert.ok(l2.ts_sub < 500000);
  db.close();

  const again = open(file);
  const before = Date.now();
  await again.store.append(rec("live", 3));
  const l3 = rows(again.db).at(-1);
  assert.ok(
    l3.ts <= Date.now() && l3.ts >= before - 1000,
    `after a restart the clock resumes from live stamps, got ${l3.ts}`,
  );
  assert.ok(stamp(l3) > stamp(l2));
});

test("explicit times out of range are refused with a clear VoInputError and nothing is queued", async () => {
  const { db, store } = open(undefined, { maxFutureSkewMs: 300_000 });
  const bad = [
    [
      Date.now() + 10 * 86_400_000,
      /ahead of this machine's clock, more than history\.maxFutureSkewMs \(300000 ms\)/,
    ],
    [Date.now() * 1e6, /ahead of this machine's clock/], // nanoseconds by mistake
    [-1, /before 1970/],
    [1.5, /not a whole number/],
    [Number.NaN, /got NaN: it is not a whole number/],
    [Number.POSITIVE_INFINITY, /not a whole number/],
    ["1700000000000", /got string/],
  ];
  for (const [time, why] of bad) {
    const p = store.append(rec("pt", 1, { time }));
    assert.equal(store.pendingCount, 0, `nothing queued for ${String(time)}`);
    await assert.rejects(p, (err) => {
      assert.equal(err.name, "VoInputError");
      assert.equal(err.code, "VO_BAD_TIME");
      assert.match(
        err.message,
        /an explicit record time must be an integer number of milliseconds since the epoch from 0 to \d+ \(now \+ 300000 ms\)/,
      );
      assert.match(err.message, why);
      return true;
    });
  }
  await store.append(rec("live", 1));
  assert.equal(rows(db).length, 1, "only the live record was stored");
});

test("the nanosecond stamp of an explicit time always fits in int64", async () => {
  const { db, store } = open(undefined, { maxFutureSkewMs: Number.MAX_SAFE_INTEGER });
  await assert.rejects(
    store.append(rec("pt", 1, { time: 9_223_372_036_854 })),
    /would not fit in a signed 64-bit integer/,
  );
  await store.append(rec("pt", 1, { time: 9_223_372_036_853 }));
  await store.append(rec("pt", 2, { time: 9_223_372_036_853 }));
  await store.append(rec("live", 3));
  const all = db.prepare("SELECT ts, ts_sub FROM wotvo_history").all();
  assert.equal(all.length, 3);
  for (const r of all) assert.ok(stamp(r) <= INT64_MAX, `${r.ts}.${r.ts_sub} fits`);
  assert.ok(all[2].ts <= Date.now(), "the live record kept the real clock");
});

test("a stamp ahead of now + skew left by an older version is ignored at start, with one warning", async () => {
  const { db, file } = open();
  const series = db
    .prepare(
      "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES ('urn:t1', 'T1', 'property', 'live') RETURNING id",
    )
    .get().id;
  const insert = db.prepare(
    "INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, source) VALUES (?, ?, ?, 'write', 1, '1', 'http')",
  );
  const far = Date.now() + 365 * 86_400_000;
  insert.run(series, Date.now() - 5000, 0);
  insert.run(series, far, 0); // the old version moved the clock to an explicit future time…
  insert.run(series, far, 1); // …and stamped the next live records after it
  db.close();
  let again;
  const { log } = await captureStderr(() => {
    again = open(file);
  });
  assert.equal(log.match(/beyond now \+ history\.maxFutureSkewMs/g)?.length, 1, log);
  assert.match(log, /2 history rows are stamped up to/);
  await again.store.append(rec("live", 2));
  const last = rows(again.db).at(-1);
  assert.ok(last.ts <= Date.now(), `the live clock is not held in the future (${last.ts})`);
});

test("back-dated points of one series in one millisecond get distinct slots, before and after a restart", async () => {
  const { db, store, file } = open();
  const past = Date.now() - 3_600_000;
  await Promise.all([
    store.append(rec("pt", "a", { time: past })),
    store.append(rec("pt", "b", { time: past })),
  ]);
  await store.append(rec("pt", "c", { time: past }));
  await store.append(rec("other", "x", { time: past }));
  db.close();
  const again = open(file);
  await again.store.append(rec("pt", "d", { time: past }));
  await Promise.all([again.store.append(rec("pt", "e", { time: past })), again.store.append(rec("live", 1))]);
  const pts = again.db
    .prepare(
      "SELECT h.ts, h.ts_sub FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'pt' ORDER BY h.id",
    )
    .all();
  assert.equal(pts.length, 5);
  assert.equal(new Set(pts.map((r) => r.ts_sub)).size, 5, `five distinct slots: ${pts.map((r) => r.ts_sub)}`);
  for (const r of pts) {
    assert.equal(r.ts, past, "the millisecond given is kept");
    assert.ok(r.ts_sub >= 500000 && r.ts_sub <= 999999, "explicit slots are 500000…999999");
  }
  const dup = again.db
    .prepare(
      "SELECT COUNT(*) AS n FROM (SELECT 1 FROM wotvo_history GROUP BY series_id, ts, ts_sub HAVING COUNT(*) > 1)",
    )
    .get().n;
  assert.equal(dup, 0);
});

test("a slot taken at the top by an older version (999999) is stepped below, never reused", async () => {
  const { db, file } = open();
  const past = Date.now() - 60_000;
  const series = db
    .prepare(
      "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES ('urn:t1', 'T1', 'property', 'pt') RETURNING id",
    )
    .get().id;
  db.prepare(
    "INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, source) VALUES (?, ?, 999999, 'point', 1, '0', 'local')",
  ).run(series, past);
  db.close();
  const { db: db2, store } = open(file);
  await Promise.all([store.append(rec("pt", 1, { time: past })), store.append(rec("pt", 2, { time: past }))]);
  const subs = db2
    .prepare("SELECT ts_sub FROM wotvo_history WHERE ts = ? ORDER BY id")
    .all(past)
    .map((r) => r.ts_sub);
  assert.deepEqual(subs, [999999, 999998, 999997]);
});
