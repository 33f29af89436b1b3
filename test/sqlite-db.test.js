// servient.sqlite_db against a real SQLite file: every call, the seed schema, and hostile names.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { openDatabase } = require("../dist/store/database.js");
const { SqliteDb, normaliseAddress } = require("../dist/index.js");
const { tempDir } = require("./helpers/vo.js");

function open() {
  const file = path.join(tempDir(), "vo.sqlite");
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 });
  return { db, sqlite: new SqliteDb(db), file };
}

// The seed (shared/seeds/001) column by column: name, declared type, default, primary key.
const SEED = {
  vo_status: [
    ["id", "INTEGER", null, 1],
    ["timestamp", "DATETIME", "CURRENT_TIMESTAMP", 0],
    ["status", "INTEGER", null, 0],
  ],
  device_status: [
    ["id", "INTEGER", null, 1],
    ["timestamp", "DATETIME", "CURRENT_TIMESTAMP", 0],
    ["status", "INTEGER", null, 0],
  ],
  observer: [
    ["id", "INTEGER", null, 1],
    ["ip", "TEXT", null, 0],
  ],
  redirect_ip: [
    ["id", "INTEGER", null, 1],
    ["ip", "TEXT", null, 0],
  ],
  info: [
    ["id", "INTEGER", null, 1],
    ["device_ip", "TEXT", null, 0],
  ],
};

test("the seed tables have exactly the seed's columns, types and defaults", () => {
  const { db } = open();
  for (const [table, columns] of Object.entries(SEED)) {
    const info = db
      .prepare("SELECT name, type, dflt_value, pk FROM pragma_table_info(?) ORDER BY cid")
      .all(table)
      .map((c) => [c.name, c.type, c.dflt_value, c.pk]);
    assert.deepEqual(info, columns, table);
  }
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
  assert.ok(db.pragma("user_version", { simple: true }) >= 1);
  db.close();
});

test("migrations are forward-only and idempotent on reopen", () => {
  const { db, file } = open();
  const version = db.pragma("user_version", { simple: true });
  db.prepare("INSERT INTO observer (ip) VALUES ('10.0.0.1')").run();
  db.close();
  const again = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 });
  assert.equal(again.pragma("user_version", { simple: true }), version);
  assert.equal(again.prepare("SELECT COUNT(*) AS n FROM observer").get().n, 1);
  again.pragma("user_version = 999");
  again.close();
  assert.throws(
    () => openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 }),
    /schema version 999, newer than this node-wot-vo knows/,
  );
});

test("createTableIfNotExists, insertData (object and tuple), fetchAllRows, executeQuery", () => {
  const { sqlite } = open();
  sqlite.createTableIfNotExists("string_data_table", { filename: "TEXT", content: "TEXT" });
  sqlite.createTableIfNotExists("string_data_table", { filename: "TEXT", content: "TEXT" }); // idempotent
  assert.deepEqual(sqlite.columns("string_data_table"), ["filename", "content"]);
  assert.deepEqual(sqlite.insertData("string_data_table", ["map1", "abc"]).changes, 1);
  sqlite.insertData("string_data_table", { filename: "map2", content: "def" });
  assert.deepEqual(sqlite.fetchAllRows("string_data_table"), [
    { filename: "map1", content: "abc" },
    { filename: "map2", content: "def" },
  ]);
  assert.deepEqual(
    sqlite.executeQuery("SELECT content FROM string_data_table WHERE filename = ?", ["map2"]),
    [{ content: "def" }],
  );
  assert.deepEqual(
    sqlite.executeQuery(
      "SELECT content FROM string_data_table WHERE filename = @f",
      { f: "map1" },
      { raw: true },
    ),
    [["abc"]],
  );
  const run = sqlite.executeQuery("DELETE FROM string_data_table WHERE filename = ?", ["map1"]);
  assert.equal(run.changes, 1);

  sqlite.createTableIfNotExists("readings", {
    id: "INTEGER PRIMARY KEY",
    v: "REAL",
    ok: "integer",
    blob: "BLOB",
  });
  sqlite.insertData("readings", { id: 1, v: 1.5, ok: true, blob: Buffer.from([1, 2]) });
  assert.throws(() => sqlite.insertData("readings", { id: 1, v: 2 }), /UNIQUE constraint failed/);
  sqlite.insertData("readings", { id: 1, v: 2.5 }, { replace: true }); // vo-wot's INSERT OR REPLACE
  assert.deepEqual(sqlite.fetchAllRows("readings"), [{ id: 1, v: 2.5, ok: null, blob: null }]);
});

test("hostile table and column names are refused with a clear error and change nothing", () => {
  const { sqlite, db } = open();
  sqlite.createTableIfNotExists("notes", { body: "TEXT" });
  const tablesBefore = db.prepare("SELECT name FROM sqlite_schema ORDER BY name").all();
  const hostile = [
    "notes; DROP TABLE observer",
    'notes" (body) VALUES (1); DROP TABLE observer; --',
    "observer--",
    "1abc",
    "",
    "a b",
  ];
  for (const name of hostile) {
    assert.throws(() => sqlite.insertData(name, { body: "x" }), /invalid table name/, name);
    assert.throws(() => sqlite.fetchAllRows(name), /invalid table name/, name);
    assert.throws(() => sqlite.createTableIfNotExists(name, { a: "TEXT" }), /invalid table name/, name);
  }
  assert.throws(
    () => sqlite.insertData("notes", { "body) VALUES (1); DROP TABLE observer; --": "x" }),
    /no column/,
  );
  assert.throws(() => sqlite.insertData("nosuch", { body: "x" }), /no table 'nosuch'; the tables are/);
  assert.throws(
    () => sqlite.createTableIfNotExists("t2", { "a; DROP TABLE observer": "TEXT" }),
    /invalid column name/,
  );
  assert.throws(
    () => sqlite.createTableIfNotExists("t3", { a: "TEXT); DROP TABLE observer; --" }),
    /expected one of INTEGER, TEXT/,
  );
  assert.throws(() => sqlite.insertData("notes", ["a", "b"]), /got 2 values for 1 columns/);
  assert.throws(() => sqlite.insertData("wotvo_history", { value: "x" }), /belong to node-wot-vo/);
  assert.throws(() => sqlite.createTableIfNotExists("wotvo_mine", { a: "TEXT" }), /reserved/);
  assert.throws(
    () => sqlite.executeQuery("SELECT 1; DROP TABLE observer"),
    /more than one statement|one statement/i,
  );
  // Values are bound, never pasted: SQL in a value is stored as text.
  const evil = "x'); DROP TABLE observer; --";
  sqlite.insertData("notes", { body: evil });
  assert.deepEqual(sqlite.fetchAllRows("notes"), [{ body: evil }]);
  assert.deepEqual(sqlite.executeQuery("SELECT body FROM notes WHERE body = ?", [evil]), [{ body: evil }]);
  const tablesAfter = db.prepare("SELECT name FROM sqlite_schema ORDER BY name").all();
  assert.deepEqual(tablesAfter, tablesBefore);
});

test("VO status and device status: every check appends a row", () => {
  const { sqlite } = open();
  assert.equal(sqlite.latestVoStatus(), undefined);
  sqlite.recordVoStatus(true);
  sqlite.recordVoStatus(false);
  const row = sqlite.recordVoStatus(1);
  assert.equal(row.status, 1);
  assert.match(row.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.deepEqual(
    sqlite.voStatusHistory(10).map((r) => r.status),
    [1, 0, 1],
  );
  assert.equal(sqlite.latestVoStatus().status, 1);
  sqlite.recordDeviceStatus(false);
  assert.equal(sqlite.latestDeviceStatus().status, 0);
  assert.equal(sqlite.deviceStatusHistory().length, 1);
  assert.throws(() => sqlite.recordDeviceStatus(2), /status must be true\/false or 1\/0/);
  assert.throws(() => sqlite.voStatusHistory(0), /limit must be an integer/);
});

test("observers, redirect IPs and the device IP: validated, normalised, no duplicates", () => {
  const { sqlite } = open();
  assert.equal(sqlite.addObserver("192.168.1.20"), "192.168.1.20");
  assert.equal(sqlite.addObserver("[fd00:0::2]:8080"), "[fd00::2]:8080");
  assert.throws(() => sqlite.addObserver("192.168.1.20"), /already in the list/);
  assert.throws(() => sqlite.addObserver("not-an-ip"), /is not an IP address/);
  assert.throws(() => sqlite.addObserver("1.2.3.4:99999"), /is not an IP address/);
  assert.throws(() => sqlite.addObserver("1.2.3.4'); DROP TABLE observer; --"), /is not an IP address/);
  assert.deepEqual(sqlite.listObservers(), ["192.168.1.20", "[fd00::2]:8080"]);
  assert.equal(sqlite.removeObserver("192.168.1.20"), true);
  assert.equal(sqlite.removeObserver("192.168.1.20"), false);
  assert.deepEqual(sqlite.listObservers(), ["[fd00::2]:8080"]);

  sqlite.addRedirectIp("10.0.0.5:9090");
  assert.throws(() => sqlite.addRedirectIp("10.0.0.5:9090"), /redirect IP 10.0.0.5:9090 is already/);
  assert.deepEqual(sqlite.listRedirectIps(), ["10.0.0.5:9090"]);
  assert.equal(sqlite.removeRedirectIp("10.0.0.5:9090"), true);

  assert.equal(sqlite.getDeviceIp(), undefined);
  sqlite.setDeviceIp("10.1.1.1");
  sqlite.setDeviceIp("::1");
  assert.equal(sqlite.getDeviceIp(), "::1");
  assert.equal(sqlite.fetchAllRows("info").length, 1);
  assert.equal(normaliseAddress(" 10.0.0.1 "), "10.0.0.1");
});

test("a data directory that cannot hold the file gives a clear error", () => {
  const fs = require("node:fs");
  const blocker = path.join(tempDir(), "not-a-dir");
  fs.writeFileSync(blocker, "x");
  assert.throws(
    () => openDatabase({ file: path.join(blocker, "vo.sqlite"), synchronous: "normal", busyTimeoutMs: 100 }),
    /Cannot open the SQLite file '.*vo.sqlite': its directory cannot be created .*writable directory/,
  );
});
