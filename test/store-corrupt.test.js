// A corrupt SQLite file at start is moved aside (with its -wal / -shm), said once in the log, and
// a fresh file used: a file of garbage bytes, a real database with a table page overwritten, a real
// database whose index page fails PRAGMA quick_check. A healthy file is never touched.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { randomBytes } = require("node:crypto");
const { openDatabase, movedAsideOf } = require("../dist/store/database.js");
const { MIGRATIONS } = require("../dist/store/migrations.js");
const { HistoryStore } = require("../dist/store/history.js");
const { tempDir } = require("./helpers/vo.js");
const { captureStderr } = require("./helpers/store.js");

const openAt = (file) => openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 });

/** A real history file with a few pages of rows, closed (checkpointed, no WAL). */
function realFile() {
  const file = path.join(tempDir(), "vo.sqlite");
  const db = openAt(file);
  db.prepare(
    "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES ('urn:t1', 'T1', 'property', 'p')",
  ).run();
  const insert = db.prepare(
    "INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, source) VALUES (1, ?, 0, 'write', 1, ?, 'http')",
  );
  db.transaction(() => {
    for (let i = 0; i < 3000; i++)
      insert.run(1_700_000_000_000 + i, JSON.stringify({ i, pad: "x".repeat(40) }));
  })();
  const rootOf = (name) => db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = ?").get(name).rootpage;
  const pages = { table: rootOf("wotvo_history"), index: rootOf("wotvo_history_series_time") };
  const pageSize = db.pragma("page_size", { simple: true });
  db.close();
  const overwrite = (page, bytes) => {
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, bytes(pageSize), 0, pageSize, (page - 1) * pageSize);
    fs.closeSync(fd);
  };
  return { file, pages, overwrite };
}

/** Opens `file`, expects it moved aside for `why`, and checks the fresh file works. */
async function expectMovedAside(file, why) {
  const before = fs.readFileSync(file);
  const { value: db, log } = await captureStderr(() => openAt(file));
  const moved = movedAsideOf(db);
  assert.ok(moved, "openDatabase reports what it moved aside");
  assert.match(moved.reason, why);
  assert.equal(moved.movedTo.startsWith(`${file}.corrupt-`), true, moved.movedTo);
  assert.ok(Math.abs(moved.at - Date.now()) < 60_000);
  assert.deepEqual(fs.readFileSync(moved.movedTo), before, "the corrupt file is kept, byte for byte");
  const lines = log.split("\n").filter((l) => /is corrupt/.test(l));
  assert.equal(lines.length, 1, `one log line:\n${log}`);
  assert.ok(lines[0].includes(file) && lines[0].includes(moved.movedTo), lines[0]);
  assert.equal(db.pragma("user_version", { simple: true }), MIGRATIONS.length, "a fresh, migrated file");
  const store = new HistoryStore(db);
  await store.append({
    thingId: "urn:t1",
    thingTitle: "T1",
    kind: "property",
    name: "p",
    op: "write",
    ok: true,
    valueJson: "1",
    source: "http",
  });
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history").get().n, 1);
  db.close();
  return moved;
}

test("a file of garbage bytes is moved aside with its -wal and -shm, and a fresh file is used", async () => {
  const file = path.join(tempDir(), "vo.sqlite");
  fs.writeFileSync(file, randomBytes(64 * 1024));
  fs.writeFileSync(`${file}-wal`, "not a wal");
  fs.writeFileSync(`${file}-shm`, "");
  const moved = await expectMovedAside(file, /file is not a database \(SQLITE_NOTADB\)/);
  assert.equal(fs.readFileSync(`${moved.movedTo}-wal`, "utf8"), "not a wal", "the -wal is moved untouched");
  assert.ok(fs.existsSync(`${moved.movedTo}-shm`), "the -shm is moved with it");
});

test("a real database with a table page overwritten with garbage is moved aside", async () => {
  const { file, pages, overwrite } = realFile();
  overwrite(pages.table, (n) => randomBytes(n));
  await expectMovedAside(file, /malformed \(SQLITE_CORRUPT/);
});

test("a real database whose index page fails PRAGMA quick_check is moved aside", async () => {
  const { file, pages, overwrite } = realFile();
  overwrite(pages.index, (n) => Buffer.alloc(n));
  const moved = await expectMovedAside(
    file,
    /PRAGMA quick_check found: .*btreeInitPage\(\) returns error code 11/,
  );
  assert.doesNotMatch(moved.reason, /\n/, "one line");
});

test("a healthy file is opened in place and nothing is moved aside", () => {
  const { file } = realFile();
  const db = openAt(file);
  assert.equal(movedAsideOf(db), undefined);
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM wotvo_history").get().n, 3000);
  db.close();
  assert.deepEqual(
    fs.readdirSync(path.dirname(file)).filter((f) => f.includes("corrupt")),
    [],
  );
});
