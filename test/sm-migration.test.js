// Migrations of the service-manager file: a file created by the first version of the schema, with
// rows in every table, opens with every row intact and is brought to the current version.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const Database = require("better-sqlite3");
const { tempDir } = require("./fixtures/sm-helpers.js");
const { ServiceManagerStore } = require("../dist/service-manager/store.js");
const { SM_MIGRATIONS, SM_SCHEMA_VERSION } = require("../dist/service-manager/schema.js");

// Version 1 as it shipped. A shipped migration is never edited: this copy proves it.
const V1 = `
  CREATE TABLE IF NOT EXISTS config (
    version INTEGER,
    cursor TEXT
  );
  INSERT INTO config (version, cursor) SELECT NULL, '' WHERE NOT EXISTS (SELECT 1 FROM config);

  CREATE TABLE IF NOT EXISTS services (
    id TEXT NOT NULL PRIMARY KEY,
    version INTEGER,
    serviceProvider TEXT,
    path TEXT,
    unit TEXT,
    user TEXT,
    hostname TEXT,
    permissions TEXT,
    state INTEGER,
    status INTEGER,
    startat TIMESTAMP,
    ttl INTEGER,
    alertRules TEXT,
    ulLimit INTEGER,
    dlLimit INTEGER,
    ulSpeed INTEGER,
    dlSpeed INTEGER,
    storageLimit INTEGER,
    stateLimit INTEGER,
    layerList TEXT,
    deviceResources TEXT
  );

  CREATE TABLE IF NOT EXISTS users (
    users TEXT NOT NULL,
    serviceid TEXT NOT NULL,
    storageFolder TEXT,
    stateCheckSum BLOB,
    PRIMARY KEY (users, serviceid)
  );

  CREATE TABLE IF NOT EXISTS trafficmonitor (
    chain TEXT NOT NULL PRIMARY KEY,
    time TIMESTAMP,
    value INTEGER
  );

  CREATE TABLE IF NOT EXISTS layers (
    digest TEXT NOT NULL PRIMARY KEY,
    layerId TEXT,
    path TEXT,
    osVersion TEXT
  );
  `;

/** A file at schema version 1 with rows in every table, written as version 1 wrote them. */
function createV1File(file) {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec(V1);
  db.pragma("user_version = 1");
  db.prepare("UPDATE config SET version = 41, cursor = 's=abc;i=42'").run();
  const insert = db.prepare(
    "INSERT INTO services VALUES (@id, @version, @serviceProvider, @path, @unit, @user, @hostname, " +
      "@permissions, @state, @status, @startat, @ttl, @alertRules, @ulLimit, @dlLimit, @ulSpeed, @dlSpeed, " +
      "@storageLimit, @stateLimit, @layerList, @deviceResources)",
  );
  for (const n of [1, 2])
    insert.run({
      id: `svc-${n}`,
      version: n * 100 + 1,
      serviceProvider: `provider-${n}`,
      path: `/srv/svc-${n}`,
      unit: `unit-${n}`,
      user: `user-${n}`,
      hostname: `host-${n}`,
      permissions: `perm-${n}`,
      state: n, // 1 running, 2 stopped
      status: n - 1, // 0 ok, 1 error
      startat: `2024-0${n}-15T08:09:10.${n}23Z`,
      ttl: n * 100 + 2,
      alertRules: n === 1 ? JSON.stringify({ cpu: { maxThreshold: 90 } }) : null,
      ulLimit: n * 100 + 11,
      dlLimit: n * 100 + 12,
      ulSpeed: n * 100 + 13,
      dlSpeed: n * 100 + 14,
      storageLimit: n * 100 + 15,
      stateLimit: n * 100 + 16,
      layerList: JSON.stringify([`/layers/${n}`]),
      deviceResources: JSON.stringify([`gpu${n}`]),
    });
  db.prepare("INSERT INTO users VALUES (?, ?, ?, ?)").run(
    '["alice","bob"]',
    "svc-1",
    "/st/1",
    Buffer.from([1, 2, 3]),
  );
  db.prepare("INSERT INTO users VALUES (?, ?, ?, ?)").run('["alice"]', "svc-2", "", Buffer.alloc(0));
  db.prepare("INSERT INTO trafficmonitor VALUES (?, ?, ?)").run(
    "unit-1_IN",
    "2024-03-01T00:00:00.001Z",
    1234,
  );
  db.prepare("INSERT INTO trafficmonitor VALUES (?, ?, ?)").run(
    "SYSTEM_OUT",
    "2024-03-01T23:59:59.999Z",
    98765,
  );
  db.prepare("INSERT INTO layers VALUES (?, ?, ?, ?)").run("sha256:aa", "base", "/layers/aa", "1.2");
  db.close();
}

const compact = (sql) => sql.replace(/\s+/g, " ").trim();

test("migration 1 is the shipped version-1 schema, unchanged", () => {
  assert.equal(compact(SM_MIGRATIONS[0]), compact(V1));
  assert.ok(SM_SCHEMA_VERSION >= 2);
});

test("a version-1 file with rows in every table opens with every row intact, at the current version", () => {
  const file = path.join(tempDir(), "servicemanager.db");
  createV1File(file);
  const store = ServiceManagerStore.open({ file });
  assert.equal(store.schemaVersion(), SM_SCHEMA_VERSION);
  assert.equal(store.getOperationVersion(), 41);
  assert.equal(store.getJournalCursor(), "s=abc;i=42");
  assert.deepEqual(store.getServices(), [
    {
      id: "svc-1",
      version: 101,
      serviceProvider: "provider-1",
      path: "/srv/svc-1",
      unit: "unit-1",
      user: "user-1",
      hostname: "host-1",
      permissions: "perm-1",
      state: "running",
      status: "ok",
      statusMessage: "",
      startAt: new Date("2024-01-15T08:09:10.123Z"),
      ttl: 102,
      alertRules: { cpu: { maxThreshold: 90 } },
      ulLimit: 111,
      dlLimit: 112,
      ulSpeed: 113,
      dlSpeed: 114,
      storageLimit: 115,
      stateLimit: 116,
      layerList: ["/layers/1"],
      deviceResources: ["gpu1"],
    },
    {
      id: "svc-2",
      version: 201,
      serviceProvider: "provider-2",
      path: "/srv/svc-2",
      unit: "unit-2",
      user: "user-2",
      hostname: "host-2",
      permissions: "perm-2",
      state: "stopped",
      status: "error",
      statusMessage: "", // version 1 had no place for the message
      startAt: new Date("2024-02-15T08:09:10.223Z"),
      ttl: 202,
      alertRules: null,
      ulLimit: 211,
      dlLimit: 212,
      ulSpeed: 213,
      dlSpeed: 214,
      storageLimit: 215,
      stateLimit: 216,
      layerList: ["/layers/2"],
      deviceResources: ["gpu2"],
    },
  ]);
  assert.deepEqual(store.getUsersService(["alice", "bob"], "svc-1"), {
    users: ["alice", "bob"],
    serviceId: "svc-1",
    storageFolder: "/st/1",
    stateChecksum: Buffer.from([1, 2, 3]),
  });
  assert.deepEqual(
    store.getUsersServices(["alice"]).map((s) => s.id),
    ["svc-2"],
  );
  assert.deepEqual(store.getAllTrafficMonitorData(), [
    { chain: "SYSTEM_OUT", time: new Date("2024-03-01T23:59:59.999Z"), value: 98765 },
    { chain: "unit-1_IN", time: new Date("2024-03-01T00:00:00.001Z"), value: 1234 },
  ]);
  assert.deepEqual(store.getLayers(), [
    { digest: "sha256:aa", layerId: "base", path: "/layers/aa", osVersion: "1.2" },
  ]);
  // What version 2 added works on the migrated rows.
  store.setServiceStatus("svc-2", "error", "exit 3");
  assert.equal(store.getService("svc-2").statusMessage, "exit 3");
  store.removeService("svc-2");
  store.close();

  // Opening again migrates nothing and loses nothing.
  const again = ServiceManagerStore.open({ file });
  assert.equal(again.schemaVersion(), SM_SCHEMA_VERSION);
  assert.deepEqual(
    again.getServices().map((s) => s.id),
    ["svc-1"],
  );
  assert.equal(again.getOperationVersion(), 41);
  again.close();
});

test("each migration runs in one transaction with its version bump: a failing one leaves the file as it was", () => {
  const file = path.join(tempDir(), "servicemanager.db");
  createV1File(file);
  // A table in the way of migration 2 makes it fail part-way.
  const db = new Database(file);
  db.exec("CREATE INDEX services_unit ON services (path)");
  db.close();
  assert.throws(() => ServiceManagerStore.open({ file }), /services_unit already exists/);
  const check = new Database(file);
  assert.equal(check.pragma("user_version", { simple: true }), 1);
  const tables = check
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'service_status_messages'")
    .all();
  assert.deepEqual(tables, []);
  assert.equal(check.prepare("SELECT COUNT(*) AS n FROM services").get().n, 2);
  check.close();
});
