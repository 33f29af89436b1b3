// Migration 3 on a real file built at schema version 2: every row, id and index kept, and history
// ids grow for the life of the file, above the table's max and the shipper's persisted cursor.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const Database = require("better-sqlite3");
const { openDatabase } = require("../dist/store/database.js");
const { MIGRATIONS } = require("../dist/store/migrations.js");
const { HistoryStore } = require("../dist/store/history.js");
const { tempDir } = require("./helpers/vo.js");

/** A file at schema version 2, as node-wot-vo left it before migration 3. */
function version2(fill) {
  const file = path.join(tempDir(), "vo.sqlite");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  for (let v = 1; v <= 2; v++) {
    db.exec(MIGRATIONS[v - 1]);
    db.pragma(`user_version = ${v}`);
  }
  db.prepare(
    "INSERT INTO wotvo_series (id, thing_id, thing_title, kind, name) VALUES (1, 'urn:t1', 'T1', 'property', 'p')",
  ).run();
  fill(db);
  db.close();
  return file;
}

const insertRow = (db, id, value) =>
  db
    .prepare(
      "INSERT INTO wotvo_history (id, series_id, ts, ts_sub, op, ok, value, source) VALUES (?, 1, ?, 0, 'write', 1, ?, 'http')",
    )
    .run(id, 1_700_000_000_000 + id, value);

const rec = {
  thingId: "urn:t1",
  thingTitle: "T1",
  kind: "property",
  name: "p",
  op: "write",
  ok: true,
  valueJson: "1",
  source: "http",
};

test("migration 3 keeps every row, id and index, and ids never go back after the table is emptied", async () => {
  const file = version2((db) => {
    for (let id = 1; id <= 50; id++) insertRow(db, id, String(id));
    insertRow(db, 700, '"after a gap"');
  });
  const before = new Database(file, { readonly: true });
  const rowsBefore = before.prepare("SELECT * FROM wotvo_history ORDER BY id").all();
  before.close();

  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 });
  assert.equal(db.pragma("user_version", { simple: true }), MIGRATIONS.length);
  assert.deepEqual(db.prepare("SELECT * FROM wotvo_history ORDER BY id").all(), rowsBefore);
  const sql = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'wotvo_history'").get().sql;
  assert.match(sql, /id INTEGER PRIMARY KEY AUTOINCREMENT/);
  const index = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'wotvo_history_series_time'").get();
  assert.match(index.sql, /\(series_id, ts, ts_sub\)/);
  assert.equal(db.pragma("integrity_check", { simple: true }), "ok");

  db.exec("DELETE FROM wotvo_history");
  const store = new HistoryStore(db);
  await store.append(rec);
  const id = db.prepare("SELECT id FROM wotvo_history").get().id;
  assert.ok(id > 700, `the new id ${id} is above every earlier id (700)`);
});

test("migration 3 starts ids above the shipper's persisted cursor when the table was emptied before", async () => {
  const file = version2((db) => {
    for (let id = 1; id <= 5; id++) insertRow(db, id, String(id));
    db.exec("DELETE FROM wotvo_history");
    db.prepare("INSERT INTO wotvo_meta (key, value) VALUES ('influx.cursor', '1234')").run();
  });
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 });
  const store = new HistoryStore(db);
  await store.append(rec);
  const id = db.prepare("SELECT id FROM wotvo_history").get().id;
  assert.ok(id > 1234, `the new id ${id} is above the shipper's cursor (1234)`);
});
