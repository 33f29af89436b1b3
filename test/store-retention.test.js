// Retention by age on a real SQLite file: it deletes exactly the rows older than the cutoff, even
// when a script back-dated a point (times do not grow with ids), in chunks with a turn of the event
// loop between them, and never a row above the shipper's protected id.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { openDatabase } = require("../dist/store/database.js");
const { HistoryStore } = require("../dist/store/history.js");
const { Retention } = require("../dist/store/retention.js");
const { tempDir } = require("./helpers/vo.js");
const { record } = require("./helpers/store.js");

const rec = (name, value, time) => record(name, value, { op: "point", source: "local", time });

/** 100 rows of `p` one second apart, except id 51 which a script back-dated before all of them. */
async function fill() {
  const db = openDatabase({
    file: path.join(tempDir(), "vo.sqlite"),
    synchronous: "normal",
    busyTimeoutMs: 1000,
  });
  const store = new HistoryStore(db);
  const base = Date.now() - 3_600_000;
  for (let i = 1; i <= 100; i++) store.append(rec("p", i, i === 51 ? base - 60_000 : base + i * 1000));
  // Another affordance whose rows are all inside the window.
  for (let i = 1; i <= 10; i++) store.append(rec("q", i, base + 500_000 + i));
  store.flush();
  assert.equal(db.prepare("SELECT ts FROM wotvo_history WHERE id = 51").get().ts, base - 60_000);
  const now = Date.now();
  // The cutoff falls just after the row with id 20.
  const maxAgeMs = now - (base + 20 * 1000 + 1);
  return { db, now, maxAgeMs };
}

const ids = (db) =>
  db
    .prepare("SELECT id FROM wotvo_history ORDER BY id")
    .all()
    .map((r) => r.id);

test("retention by age deletes only the rows older than the cutoff, with a back-dated row among them", async () => {
  const { db, now, maxAgeMs } = await fill();
  const retention = new Retention(db, { maxAgeMs, maxRows: 0, intervalMs: 60_000, chunkRows: 4 });
  let turns = 0;
  let done = false;
  const spin = () => {
    turns++;
    if (!done) setImmediate(spin);
  };
  setImmediate(spin);
  const result = await retention.run(now);
  done = true;
  assert.equal(result.deletedByAge, 21, "ids 1…20 and the back-dated id 51");
  const left = ids(db);
  assert.equal(left.length, 110 - 21);
  assert.ok(!left.includes(51) && !left.includes(20) && left.includes(21) && left.includes(52));
  const cutoff = now - maxAgeMs;
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history WHERE ts < ?").get(cutoff).n, 0);
  assert.ok(turns >= 5, `the event loop got turns between the ${Math.ceil(21 / 4)} chunks (${turns})`);
});

test("retention by age never deletes a row above the protected (unshipped) id", async () => {
  const { db, now, maxAgeMs } = await fill();
  const retention = new Retention(db, { maxAgeMs, maxRows: 0, intervalMs: 60_000, chunkRows: 4 }, () => 40);
  const result = await retention.run(now);
  assert.equal(result.deletedByAge, 20, "ids 1…20; the back-dated id 51 is not shipped yet and stays");
  assert.ok(ids(db).includes(51));
  assert.equal(ids(db).length, 90);
});
