// The service-manager store on a real SQLite file: the seed schema, every API call, not-found on
// every get/update/set/remove of a missing key, duplicates, JSON and TIMESTAMP columns.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const Database = require("better-sqlite3");
const { openStore, distinctService, tempDir } = require("./fixtures/sm-helpers.js");
const {
  ServiceManagerStore,
  serviceManagerFile,
  SERVICE_MANAGER_FILE,
} = require("../dist/service-manager/store.js");
const { SM_SCHEMA_VERSION } = require("../dist/service-manager/schema.js");
const {
  SmNotFoundError,
  SmDuplicateError,
  SmCorruptValueError,
} = require("../dist/service-manager/errors.js");
const { VoInputError } = require("../dist/errors.js");

const notFound = (fn) =>
  assert.throws(fn, (err) => err instanceof SmNotFoundError && err.code === "VO_NOT_FOUND", fn.toString());
const duplicate = (fn) =>
  assert.throws(fn, (err) => err instanceof SmDuplicateError && err.code === "VO_DUPLICATE", fn.toString());
const badInput = (fn, pattern) =>
  assert.throws(
    fn,
    (err) => err instanceof VoInputError && err.code === "VO_INPUT" && pattern.test(err.message),
  );
const corrupt = (fn, pattern) =>
  assert.throws(fn, (err) => err instanceof SmCorruptValueError && pattern.test(err.message));

/** A second, plain connection to the same file, to read and write raw cells. */
const raw = (file) => new Database(file);

// The seed (shared/seeds/000) table by table: column, declared type, part of the primary key.
const SEED = {
  config: [
    ["version", "INTEGER", 0],
    ["cursor", "TEXT", 0],
  ],
  services: [
    ["id", "TEXT", 1],
    ["version", "INTEGER", 0],
    ["serviceProvider", "TEXT", 0],
    ["path", "TEXT", 0],
    ["unit", "TEXT", 0],
    ["user", "TEXT", 0],
    ["hostname", "TEXT", 0],
    ["permissions", "TEXT", 0],
    ["state", "INTEGER", 0],
    ["status", "INTEGER", 0],
    ["startat", "TIMESTAMP", 0],
    ["ttl", "INTEGER", 0],
    ["alertRules", "TEXT", 0],
    ["ulLimit", "INTEGER", 0],
    ["dlLimit", "INTEGER", 0],
    ["ulSpeed", "INTEGER", 0],
    ["dlSpeed", "INTEGER", 0],
    ["storageLimit", "INTEGER", 0],
    ["stateLimit", "INTEGER", 0],
    ["layerList", "TEXT", 0],
    ["deviceResources", "TEXT", 0],
  ],
  users: [
    ["users", "TEXT", 1],
    ["serviceid", "TEXT", 2],
    ["storageFolder", "TEXT", 0],
    ["stateCheckSum", "BLOB", 0],
  ],
  trafficmonitor: [
    ["chain", "TEXT", 1],
    ["time", "TIMESTAMP", 0],
    ["value", "INTEGER", 0],
  ],
  layers: [
    ["digest", "TEXT", 1],
    ["layerId", "TEXT", 0],
    ["path", "TEXT", 0],
    ["osVersion", "TEXT", 0],
  ],
};

test("the file holds the seed's five tables, every column in order with its type and key", () => {
  const { store, file } = openStore();
  const db = raw(file);
  for (const [table, columns] of Object.entries(SEED)) {
    const info = db.prepare(`SELECT name, type, pk FROM pragma_table_info(?)`).all(table);
    assert.deepEqual(
      info.map((c) => [c.name, c.type, c.pk]),
      columns,
      table,
    );
  }
  // The companion table of the status message (migration 2), removed with its service.
  const fk = db.prepare("SELECT * FROM pragma_foreign_key_list('service_status_messages')").all();
  assert.equal(fk[0].table, "services");
  assert.equal(fk[0].on_delete, "CASCADE");
  assert.equal(store.schemaVersion(), SM_SCHEMA_VERSION);
  db.close();
  store.close();
});

test("opened like the original: WAL, synchronous NORMAL, a 60 s busy timeout; file under the data dir", () => {
  const dir = tempDir();
  assert.equal(serviceManagerFile(dir), path.join(dir, SERVICE_MANAGER_FILE));
  assert.equal(SERVICE_MANAGER_FILE, "servicemanager.db");
  const store = ServiceManagerStore.open({ file: serviceManagerFile(path.join(dir, "nested")) });
  assert.ok(fs.existsSync(path.join(dir, "nested", "servicemanager.db")));
  // The connection is private; its pragmas are per connection, so read them on it.
  const db = store.db;
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(db.pragma("synchronous", { simple: true }), 1); // NORMAL
  assert.equal(db.pragma("busy_timeout", { simple: true }), 60000);
  assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
  store.close();
  store.close(); // idempotent
});

test("operation version: null on a fresh file, set/get, and the cleanup only on a real mismatch", async () => {
  const { store, dir } = openStore();
  assert.equal(store.getOperationVersion(), null);
  const calls = [];
  const cleanup = (recorded, expected) => calls.push([recorded, expected]);
  // A fresh file records the version without cleaning up (the original cleaned up every first start).
  assert.equal(await store.checkOperationVersion(7, cleanup), false);
  assert.equal(store.getOperationVersion(), 7);
  assert.equal(await store.checkOperationVersion(7, cleanup), false);
  assert.deepEqual(calls, []);
  // A mismatch: cleanup first, then the new version.
  assert.equal(await store.checkOperationVersion(8, cleanup), true);
  assert.deepEqual(calls, [[7, 8]]);
  assert.equal(store.getOperationVersion(), 8);
  // A cleanup that fails records nothing, so it runs again at the next start.
  await assert.rejects(
    store.checkOperationVersion(9, async () => {
      throw new Error("disk busy");
    }),
    /disk busy/,
  );
  assert.equal(store.getOperationVersion(), 8);
  assert.equal(await store.checkOperationVersion(9, cleanup), true);
  assert.deepEqual(calls, [
    [7, 8],
    [8, 9],
  ]);
  store.setOperationVersion(123);
  assert.equal(store.getOperationVersion(), 123);
  badInput(() => store.setOperationVersion(-1), /operation version/);
  badInput(() => store.setOperationVersion(1.5), /operation version/);
  store.close();
  // Survives a reopen.
  const again = openStore(dir).store;
  assert.equal(again.getOperationVersion(), 123);
  again.close();
});

test("journal cursor: '' until set, then round-trips; a missing config row is not-found", () => {
  const { store, file } = openStore();
  assert.equal(store.getJournalCursor(), "");
  store.setJournalCursor("cursor123");
  assert.equal(store.getJournalCursor(), "cursor123");
  badInput(() => store.setJournalCursor(5), /journal cursor/);
  const db = raw(file);
  db.exec("DELETE FROM config");
  notFound(() => store.getJournalCursor());
  notFound(() => store.setJournalCursor("x"));
  notFound(() => store.getOperationVersion());
  notFound(() => store.setOperationVersion(1));
  db.close();
  store.close();
});

test("services: add, get, update, remove round-trip every field (distinct values)", () => {
  const { store } = openStore();
  const s1 = distinctService(1);
  assert.deepEqual(store.addService(s1), s1);
  assert.deepEqual(store.getService("svc-1"), s1);
  // Defaults for fields not given.
  const bare = store.addService({ id: "bare" });
  assert.deepEqual(bare, {
    id: "bare",
    version: 0,
    serviceProvider: "",
    path: "",
    unit: "",
    user: "",
    hostname: "",
    permissions: "",
    state: "init",
    status: "ok",
    statusMessage: "",
    startAt: null,
    ttl: 0,
    alertRules: null,
    ulLimit: 0,
    dlLimit: 0,
    ulSpeed: 0,
    dlSpeed: 0,
    storageLimit: 0,
    stateLimit: 0,
    layerList: [],
    deviceResources: [],
  });
  // Update some fields, then all of them (a whole replacement, like the original).
  const partial = store.updateService("svc-1", { version: 999, ulSpeed: 7777 });
  assert.deepEqual(partial, { ...s1, version: 999, ulSpeed: 7777 });
  const whole = { ...distinctService(5) };
  delete whole.id;
  assert.deepEqual(store.updateService("svc-1", whole), { ...distinctService(5), id: "svc-1" });
  // Back to ok drops the error message.
  assert.equal(store.updateService("svc-1", { status: "ok" }).statusMessage, "");
  badInput(() => store.updateService("svc-1", { id: "other" }), /id cannot be changed/);
  badInput(() => store.updateService("svc-1", { colour: "red" }), /unknown service field "colour"/);
  badInput(() => store.addService({ id: "" }), /service id must not be empty/);
  badInput(() => store.addService({ id: "x", status: "ok", statusMessage: "oops" }), /status message/);
  store.removeService("svc-1");
  notFound(() => store.getService("svc-1"));
  assert.deepEqual(
    store.getServices().map((s) => s.id),
    ["bare"],
  );
  store.close();
});

test("storage and state limits land in their own columns (the original's scan-order bug)", () => {
  const { store, file } = openStore();
  const s = distinctService(3);
  store.addService(s);
  store.addServiceToUsers(["alice"], s.id);
  const db = raw(file);
  const row = db.prepare("SELECT * FROM services WHERE id = ?").get(s.id);
  // Column by column, as stored.
  assert.equal(row.version, 301);
  assert.equal(row.serviceProvider, "provider-3");
  assert.equal(row.path, "/srv/services/svc-3");
  assert.equal(row.unit, "unit-3");
  assert.equal(row.user, "user-3");
  assert.equal(row.hostname, "host-3.local");
  assert.equal(row.permissions, '{"*":"rw3"}');
  assert.equal(row.state, 1);
  assert.equal(row.status, 1);
  assert.equal(row.startat, "2025-03-03T12:34:56.789Z");
  assert.equal(row.ttl, 302);
  assert.deepEqual(JSON.parse(row.alertRules), s.alertRules);
  assert.equal(row.ulLimit, 311);
  assert.equal(row.dlLimit, 312);
  assert.equal(row.ulSpeed, 313);
  assert.equal(row.dlSpeed, 314);
  assert.equal(row.storageLimit, 315);
  assert.equal(row.stateLimit, 316);
  assert.equal(row.layerList, '["/layers/a3","/layers/b3"]');
  assert.equal(row.deviceResources, '["gpu3",{"name":"mic3","permissions":"r"}]');
  db.close();
  // Every read path gives the same fields back.
  assert.deepEqual(store.getService(s.id), s);
  assert.deepEqual(store.getServices(), [s]);
  assert.deepEqual(store.getServiceProviderServices("provider-3"), [s]);
  assert.deepEqual(store.getServiceByUnitName("unit-3"), s);
  assert.deepEqual(store.getUsersServices(["alice"]), [s]);
  store.close();
});

test("services: list, by provider, by unit; state, status with message, start time, limits", () => {
  const { store } = openStore();
  store.addService(distinctService(1, { serviceProvider: "acme" }));
  store.addService(distinctService(2, { serviceProvider: "other" }));
  store.addService(distinctService(3, { serviceProvider: "acme" }));
  assert.deepEqual(
    store.getServiceProviderServices("acme").map((s) => s.id),
    ["svc-1", "svc-3"],
  );
  assert.deepEqual(store.getServiceProviderServices("nobody"), []);
  assert.equal(store.getServices().length, 3);
  assert.equal(store.getServiceByUnitName("unit-2").id, "svc-2");

  store.setServiceState("svc-2", "stopped");
  assert.equal(store.getService("svc-2").state, "stopped");
  store.setServiceState("svc-2", "init");
  assert.equal(store.getService("svc-2").state, "init");
  badInput(() => store.setServiceState("svc-2", "paused"), /state must be one of init, running, stopped/);

  store.setServiceStatus("svc-2", "ok");
  assert.deepEqual((({ status, statusMessage }) => ({ status, statusMessage }))(store.getService("svc-2")), {
    status: "ok",
    statusMessage: "",
  });
  store.setServiceStatus("svc-2", "error", "exit code 3");
  assert.equal(store.getService("svc-2").statusMessage, "exit code 3");
  assert.equal(store.getService("svc-2").status, "error");
  badInput(() => store.setServiceStatus("svc-2", "ok", "no"), /status message/);
  badInput(() => store.setServiceStatus("svc-2", "bad"), /status must be one of ok, error/);

  const t = new Date(Date.UTC(2031, 11, 31, 23, 59, 59, 999));
  store.setServiceStartTime("svc-2", t);
  assert.deepEqual(store.getService("svc-2").startAt, t);
  badInput(() => store.setServiceStartTime("svc-2", new Date("nope")), /start time must be a valid Date/);
  badInput(() => store.setServiceStartTime("svc-2", "2025-01-01"), /start time must be a valid Date/);

  const limited = store.setServiceLimits("svc-2", { ulLimit: 1, dlSpeed: 2 });
  assert.deepEqual([limited.ulLimit, limited.dlLimit, limited.ulSpeed, limited.dlSpeed], [1, 212, 213, 2]);
  badInput(() => store.setServiceLimits("svc-2", { ulLimit: -5 }), /ulLimit must be an integer/);
  badInput(() => store.setServiceLimits("svc-2", { upLimit: 5 }), /unknown limit "upLimit"/);

  // Removing a service removes its status message with it (foreign key, ON DELETE CASCADE).
  store.removeService("svc-2");
  const count = store.db
    .prepare("SELECT COUNT(*) AS n FROM service_status_messages WHERE id = 'svc-2'")
    .get();
  assert.equal(count.n, 0);
  store.close();
});

test("every get, update, set and remove of a missing key is not-found", () => {
  const { store } = openStore();
  store.addService(distinctService(1));
  store.addServiceToUsers(["u"], "svc-1");
  notFound(() => store.getService("nope"));
  notFound(() => store.updateService("nope", { version: 1 }));
  notFound(() => store.removeService("nope"));
  notFound(() => store.getServiceByUnitName("no-unit"));
  notFound(() => store.setServiceState("nope", "running"));
  notFound(() => store.setServiceStatus("nope", "ok"));
  notFound(() => store.setServiceStatus("nope", "error", "x"));
  notFound(() => store.setServiceStartTime("nope", new Date()));
  notFound(() => store.setServiceLimits("nope", { ulLimit: 1 }));
  notFound(() => store.addServiceToUsers(["u"], "nope"));
  notFound(() => store.removeServiceFromUsers(["u"], "nope"));
  notFound(() => store.removeServiceFromUsers(["v"], "svc-1"));
  notFound(() => store.setUsersStorageFolder(["v"], "svc-1", "/x"));
  notFound(() => store.setUsersStateChecksum(["v"], "svc-1", Buffer.from([1])));
  notFound(() => store.getUsersService(["v"], "svc-1"));
  notFound(() => store.getUsersService(["u"], "nope"));
  notFound(() => store.getTrafficMonitorData("nope_IN"));
  notFound(() => store.removeTrafficMonitorData("nope_IN"));
  notFound(() => store.deleteLayerByDigest("sha256:nope"));
  notFound(() => store.getLayerPathByDigest("sha256:nope"));
  notFound(() => store.getLayer("sha256:nope"));
  // Bulk calls on nothing are no error: there is no key that is missing.
  assert.equal(store.removeServiceFromAllUsers("nope"), 0);
  assert.deepEqual(store.getUsersServicesByServiceId("nope"), []);
  assert.deepEqual(store.getUsersServices(["nobody"]), []);
  store.close();
});

test("duplicates are refused: service id, unit name, users pair, layer digest", () => {
  const { store } = openStore();
  store.addService(distinctService(1));
  duplicate(() => store.addService(distinctService(1)));
  duplicate(() => store.addService(distinctService(2, { unit: "unit-1" })));
  store.addService(distinctService(2));
  duplicate(() => store.updateService("svc-2", { unit: "unit-1" }));
  // Services without a unit yet may share the empty one; SYSTEM is reserved for the system chains.
  store.addService({ id: "a" });
  store.addService({ id: "b" });
  badInput(() => store.addService({ id: "c", unit: "SYSTEM" }), /reserved/);
  store.addServiceToUsers(["u1", "u2"], "svc-1");
  duplicate(() => store.addServiceToUsers(["u1", "u2"], "svc-1"));
  store.addServiceToUsers(["u2", "u1"], "svc-1"); // another list: order matters, as in the original
  store.addLayer({ digest: "sha256:1", layerId: "l1", path: "/l/1", osVersion: "1.0" });
  duplicate(() => store.addLayer({ digest: "sha256:1", layerId: "x", path: "/x", osVersion: "x" }));
  // Nothing of the refused inserts was written.
  assert.equal(store.getService("svc-1").version, 101);
  assert.equal(store.getLayer("sha256:1").layerId, "l1");
  store.close();
});

test("JSON columns round-trip and malformed values are refused on the way in", () => {
  const { store } = openStore();
  const rules = { ram: { minTimeout: "10s", minThreshold: 1, maxThreshold: 2.5 }, tags: ["ü", "✓", null] };
  const s = store.addService({
    id: "j",
    alertRules: rules,
    layerList: ["/a", "/b ü"],
    deviceResources: ["gpu0", { name: "camera0" }, { name: "mic0", permissions: "rw" }],
  });
  assert.deepEqual(s.alertRules, rules);
  assert.deepEqual(store.getService("j").layerList, ["/a", "/b ü"]);
  assert.deepEqual(store.getService("j").deviceResources, [
    "gpu0",
    { name: "camera0" },
    { name: "mic0", permissions: "rw" },
  ]);
  assert.equal(store.updateService("j", { alertRules: null }).alertRules, null);
  badInput(() => store.updateService("j", { layerList: "/a" }), /layerList must be a JSON array/);
  badInput(() => store.updateService("j", { layerList: [1] }), /layerList must be a JSON array/);
  badInput(() => store.updateService("j", { layerList: [""] }), /layerList/);
  badInput(() => store.updateService("j", { deviceResources: [{}] }), /deviceResources/);
  badInput(() => store.updateService("j", { deviceResources: [{ name: "x", extra: 1 }] }), /deviceResources/);
  badInput(() => store.updateService("j", { alertRules: ["ram"] }), /alertRules must be a JSON object/);
  badInput(() => store.updateService("j", { alertRules: "{}" }), /alertRules must be a JSON object/);
  let deep = {};
  for (let i = 0; i < 40; i++) deep = { d: deep };
  badInput(() => store.updateService("j", { alertRules: deep }), /nests deeper than 16/);
  badInput(() => store.updateService("j", { alertRules: { big: "x".repeat(70 * 1024) } }), /at most 65536/);
  const cyclic = {};
  cyclic.self = cyclic;
  badInput(() => store.updateService("j", { alertRules: cyclic }), /cannot be written as JSON/);
  badInput(() => store.addServiceToUsers("alice", "j"), /users list must be a JSON array of strings/);
  badInput(() => store.addServiceToUsers([1], "j"), /users list/);
  assert.deepEqual(store.getService("j").layerList, ["/a", "/b ü"]);
  store.close();
});

test("malformed stored values are a clear error on every read path, never swallowed", () => {
  const { store, file } = openStore();
  store.addService(distinctService(1));
  store.addServiceToUsers(["u"], "svc-1");
  const db = raw(file);
  const reads = [
    () => store.getService("svc-1"),
    () => store.getServices(),
    () => store.getServiceByUnitName("unit-1"), // the original returned the service, error dropped
    () => store.getServiceProviderServices("provider-1"),
    () => store.getUsersServices(["u"]),
  ];
  const cases = [
    ["layerList", "[not json", /services\.layerList of "svc-1" is not valid JSON/],
    ["layerList", '{"a":1}', /services\.layerList of "svc-1" holds .* not a JSON array/],
    ["deviceResources", "[1,2]", /services\.deviceResources of "svc-1"/],
    ["alertRules", "[]", /services\.alertRules of "svc-1"/],
    ["startat", "2025-03-01 12:00:00.000000000+00:00", /services\.startat of "svc-1" .* not a time/],
    ["startat", "2025-02-30T00:00:00.000Z", /services\.startat of "svc-1"/],
    ["state", 7, /services\.state of "svc-1" holds 7, not a state/],
    ["status", -1, /services\.status of "svc-1"/],
    ["ulLimit", -3, /services\.ulLimit of "svc-1"/],
    ["ttl", "ten", /services\.ttl of "svc-1"/],
  ];
  const good = db.prepare("SELECT * FROM services WHERE id = 'svc-1'").get();
  for (const [column, value, pattern] of cases) {
    db.prepare(`UPDATE services SET ${column} = ? WHERE id = 'svc-1'`).run(value);
    for (const read of reads) corrupt(read, pattern);
    db.prepare(`UPDATE services SET ${column} = ? WHERE id = 'svc-1'`).run(good[column]);
  }
  assert.deepEqual(store.getService("svc-1"), distinctService(1));
  // The original wrote a nil layer list as "null": that reads as no layers.
  db.prepare(`UPDATE services SET layerList = 'null' WHERE id = 'svc-1'`).run();
  assert.deepEqual(store.getService("svc-1").layerList, []);
  db.prepare("UPDATE users SET users = '[\"u\"' ").run();
  corrupt(
    () => store.getUsersServicesByServiceId("svc-1"),
    /users\.users of the service "svc-1" is not valid JSON/,
  );
  db.prepare("INSERT INTO trafficmonitor VALUES ('x_IN', 'yesterday', 5)").run();
  corrupt(() => store.getTrafficMonitorData("x_IN"), /trafficmonitor\.time of "x_IN" holds "yesterday"/);
  // The whole list fails on it, unless the caller takes the bad rows aside.
  db.prepare("INSERT INTO trafficmonitor VALUES ('y_IN', '2025-01-01T00:00:00.000Z', 6)").run();
  corrupt(() => store.getAllTrafficMonitorData(), /"x_IN"/);
  const skipped = [];
  assert.deepEqual(
    store.getAllTrafficMonitorData((err) => skipped.push(err.message)),
    [{ chain: "y_IN", time: new Date("2025-01-01T00:00:00.000Z"), value: 6 }],
  );
  assert.equal(skipped.length, 1);
  assert.match(skipped[0], /"x_IN"/);
  db.close();
  store.close();
});

test("TIMESTAMP columns: UTC ISO 8601 text with milliseconds, times round-trip exactly", () => {
  const { store, file } = openStore();
  store.addService({ id: "t" });
  const times = [
    new Date(Date.UTC(2025, 0, 1, 0, 0, 0, 1)),
    new Date(Date.UTC(1, 0, 1)),
    new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
    new Date(Date.UTC(1970, 0, 1)),
    new Date(1_750_000_000_123),
  ];
  times[1].setUTCFullYear(1); // Date.UTC maps 1 to 1901
  const db = raw(file);
  for (const t of times) {
    store.setServiceStartTime("t", t);
    assert.equal(store.getService("t").startAt.getTime(), t.getTime());
    assert.equal(db.prepare("SELECT startat FROM services WHERE id = 't'").get().startat, t.toISOString());
    store.setTrafficMonitorData("t_IN", t, 1);
    assert.equal(store.getTrafficMonitorData("t_IN").time.getTime(), t.getTime());
    assert.equal(
      db.prepare("SELECT time FROM trafficmonitor WHERE chain = 't_IN'").get().time,
      t.toISOString(),
    );
  }
  // SQLite's own date functions read the encoding.
  store.setServiceStartTime("t", new Date(Date.UTC(2025, 5, 15, 8, 30, 0, 250)));
  assert.equal(
    db.prepare("SELECT strftime('%Y-%m-%d %H:%M:%f', startat) AS t FROM services WHERE id = 't'").get().t,
    "2025-06-15 08:30:00.250",
  );
  badInput(() => store.setServiceStartTime("t", new Date(Date.UTC(10000, 0, 1))), /years 0000 to 9999/);
  badInput(() => store.setTrafficMonitorData("t_IN", new Date(NaN), 1), /valid Date/);
  db.close();
  store.close();
});

test("users: add, defaults, storage folder, checksum bytes, lists by service and by users", () => {
  const { store, file } = openStore();
  for (const n of [1, 2, 3]) store.addService(distinctService(n));
  const lists = [["user0"], ["user0", "user1"], ["élise"], [], ["a", "b", "c"]];
  for (const users of lists) for (const n of [1, 2, 3]) store.addServiceToUsers(users, `svc-${n}`);
  assert.deepEqual(store.getUsersService(["user0"], "svc-2"), {
    users: ["user0"],
    serviceId: "svc-2",
    storageFolder: "",
    stateChecksum: Buffer.alloc(0),
  });
  store.setUsersStorageFolder(["user0"], "svc-2", "/storage/u0/svc-2");
  const checksum = Buffer.from([0, 1, 2, 3, 4, 5, 0xff]);
  store.setUsersStateChecksum(["user0"], "svc-2", checksum);
  store.setUsersStateChecksum(["élise"], "svc-2", new Uint8Array([9, 8, 7]));
  assert.deepEqual(store.getUsersService(["user0"], "svc-2"), {
    users: ["user0"],
    serviceId: "svc-2",
    storageFolder: "/storage/u0/svc-2",
    stateChecksum: checksum,
  });
  assert.deepEqual(store.getUsersService(["élise"], "svc-2").stateChecksum, Buffer.from([9, 8, 7]));
  badInput(() => store.setUsersStateChecksum(["user0"], "svc-2", "abc"), /checksum must be bytes/);
  // Stored as a BLOB, the users list as its JSON text.
  const db = raw(file);
  const row = db
    .prepare("SELECT users, typeof(stateCheckSum) AS t FROM users WHERE storageFolder <> ''")
    .get();
  assert.deepEqual(row, { users: '["user0"]', t: "blob" });
  db.close();

  const byJson = (a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  assert.deepEqual(
    store
      .getUsersServicesByServiceId("svc-1")
      .map((u) => u.users)
      .sort(byJson),
    [...lists].sort(byJson),
  );
  assert.deepEqual(
    store.getUsersServices(["user0", "user1"]),
    [1, 2, 3].map((n) => distinctService(n)),
  );
  assert.equal(store.getAllUsersServices().length, 15);
  store.removeServiceFromUsers(["user0"], "svc-1");
  notFound(() => store.getUsersService(["user0"], "svc-1"));
  assert.deepEqual(
    store.getUsersServices(["user0"]).map((s) => s.id),
    ["svc-2", "svc-3"],
  );
  assert.equal(store.removeServiceFromAllUsers("svc-1"), 4);
  assert.deepEqual(store.getUsersServicesByServiceId("svc-1"), []);
  assert.equal(store.getAllUsersServices().length, 10);
  store.close();
});

test("traffic monitor rows: upsert, atomic add, get, list, remove; chain names are bound, not pasted", () => {
  const { store } = openStore();
  const t1 = new Date(Date.UTC(2025, 4, 1, 10, 0, 0, 5));
  const t2 = new Date(Date.UTC(2025, 4, 1, 11, 0, 0, 6));
  store.setTrafficMonitorData("chain", t1, 100);
  store.setTrafficMonitorData('x" OR "1"="1', t1, 5);
  store.setTrafficMonitorData("other", t1, 7);
  assert.deepEqual(store.getTrafficMonitorData("chain"), { chain: "chain", time: t1, value: 100 });
  store.setTrafficMonitorData("chain", t2, 42);
  assert.deepEqual(store.getTrafficMonitorData("chain"), { chain: "chain", time: t2, value: 42 });
  assert.deepEqual(store.addTrafficMonitorData("chain", t1, 8), { chain: "chain", time: t1, value: 50 });
  assert.deepEqual(store.addTrafficMonitorData("new", t2, 3), { chain: "new", time: t2, value: 3 });
  store.saveTrafficMonitorData([
    { chain: "a_IN", time: t1, value: 1 },
    { chain: "a_OUT", time: t2, value: 2 },
  ]);
  assert.deepEqual(
    store.getAllTrafficMonitorData().map((r) => [r.chain, r.value]),
    [
      ["a_IN", 1],
      ["a_OUT", 2],
      ["chain", 50],
      ["new", 3],
      ["other", 7],
      ['x" OR "1"="1', 5],
    ],
  );
  store.removeTrafficMonitorData('x" OR "1"="1');
  notFound(() => store.getTrafficMonitorData('x" OR "1"="1'));
  assert.equal(store.getTrafficMonitorData("other").value, 7);
  badInput(() => store.setTrafficMonitorData("", t1, 1), /chain must not be empty/);
  badInput(() => store.setTrafficMonitorData("c", t1, -1), /traffic value/);
  store.close();
});

test("layers: add, get path by digest, get, list, delete", () => {
  const { store } = openStore();
  for (const n of [1, 2, 3])
    store.addLayer({ digest: `sha256:${n}`, layerId: `layer${n}`, path: `path${n}`, osVersion: `os${n}` });
  assert.equal(store.getLayerPathByDigest("sha256:2"), "path2");
  assert.deepEqual(store.getLayer("sha256:3"), {
    digest: "sha256:3",
    layerId: "layer3",
    path: "path3",
    osVersion: "os3",
  });
  store.deleteLayerByDigest("sha256:2");
  notFound(() => store.getLayerPathByDigest("sha256:2"));
  assert.deepEqual(
    store.getLayers().map((l) => l.digest),
    ["sha256:1", "sha256:3"],
  );
  badInput(() => store.addLayer({ digest: "" }), /digest must not be empty/);
  badInput(() => store.addLayer({ digest: "d", size: 3 }), /unknown layer field "size"/);
  store.close();
});

test("service changes are announced to listeners after they are written", () => {
  const { store } = openStore();
  const seen = [];
  const off = store.onServiceChange((id) => seen.push([id, store.getServices().length]));
  store.addService({ id: "a" });
  store.updateService("a", { ulLimit: 5 });
  store.setServiceLimits("a", { dlLimit: 6 });
  store.setServiceState("a", "running");
  store.setServiceStatus("a", "error", "x");
  store.setServiceStartTime("a", new Date());
  assert.throws(() => store.addService({ id: "a" }));
  store.removeService("a");
  off();
  store.addService({ id: "b" });
  assert.deepEqual(seen, [
    ["a", 1],
    ["a", 1],
    ["a", 1],
    ["a", 1],
    ["a", 1],
    ["a", 1],
    ["a", 0],
  ]);
  store.close();
});

test("a corrupt file is moved aside and a fresh one used; a newer schema is refused", () => {
  const dir = tempDir();
  const file = path.join(dir, "servicemanager.db");
  fs.writeFileSync(file, "this is not a database ".repeat(300));
  const store = ServiceManagerStore.open({ file });
  assert.ok(store.movedAside);
  assert.match(store.movedAside.movedTo, /servicemanager\.db\.corrupt-/);
  assert.ok(fs.existsSync(store.movedAside.movedTo));
  assert.deepEqual(store.getServices(), []);
  store.close();

  const db = new Database(file);
  db.pragma("user_version = 99");
  db.close();
  assert.throws(
    () => ServiceManagerStore.open({ file }),
    (err) => err.code === "VO_SCHEMA_NEWER" && /schema version 99/.test(err.message),
  );
});
