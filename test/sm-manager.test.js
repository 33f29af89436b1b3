// The ServiceManager in process, with an injected clock: a stopped service whose last start is
// older than its ttl is removed by the periodic check, an alert rule over its traffic fires an
// `alert` event of the ServiceManager Thing, recorded in the history like any event, and a service
// over its stateLimit (storage folder) or storageLimit (recorded history) is stopped with the reason.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { startTestVo, tempDir, waitFor } = require("./helpers/vo.js");
const { ServiceManager } = require("../dist/service-manager/index.js");

const DAY = 86_400_000;

function script(title) {
  return `WoT.produce({ title: ${JSON.stringify(title)}, properties: { n: { type: "integer", readOnly: true } } })
  .then(async (t) => { t.setPropertyReadHandler("n", async () => 1); await t.expose(); });`;
}

async function managerOn(vo, dataDir, clock) {
  const sm = new ServiceManager(
    {
      servient: vo.servient,
      options: {
        dataDir,
        serviceManager: {
          enabled: true,
          period: "year",
          persistIntervalMs: 3_600_000,
          checkIntervalMs: 3_600_000,
          defaultUsers: ["local"],
        },
      },
      checkMayChange: () => undefined,
      historyBytes: (ids) => vo.servient.vo.historyBytes(ids),
    },
    { now: () => clock.now },
  );
  await sm.start(vo.wot);
  return sm;
}

/** A test VO (in-memory history) with a manager on a fresh data directory and a clock at 2025-03-01. */
async function setup(t) {
  const vo = await startTestVo({ sqlite: { file: ":memory:" } });
  const clock = { now: Date.parse("2025-03-01T00:00:00Z") };
  const sm = await managerOn(vo, tempDir("nwv-smm-"), clock);
  t.after(async () => {
    await sm.close();
    await vo.stop();
  });
  return { vo, sm, clock };
}

test("TTL: a stopped service older than its ttl is removed by the periodic check", async (t) => {
  const { sm, clock } = await setup(t);
  fs.writeFileSync(path.join(sm.servicesDir, "old.js"), script("Old"));
  fs.writeFileSync(path.join(sm.servicesDir, "young.js"), script("Young"));
  for (const id of ["old", "young"]) {
    await sm.installService({ path: `${id}.js` });
    await sm.startService(id);
    await sm.stopService(id);
    sm.store.updateService(id, { ttl: id === "old" ? 1 : 5 });
  }
  clock.now += 2 * DAY;
  await sm.check();
  assert.throws(() => sm.store.getService("old"), /old/);
  assert.equal(sm.store.getService("young").state, "stopped");
  assert.ok(!fs.existsSync(path.join(sm.storageDir, "old")));
});

test("an alert rule over a service's traffic fires the ServiceManager Thing's alert event", async (t) => {
  const { vo, sm, clock } = await setup(t);
  const dir = path.join(sm.servicesDir, "chatty");
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, "service.json"),
    JSON.stringify({
      id: "chatty",
      version: 1,
      alertRules: { inTraffic: { minTimeout: "1m", minThreshold: 10, maxThreshold: 100 } },
    }),
  );
  fs.writeFileSync(path.join(dir, "index.js"), script("Chatty"));
  await sm.installService({ path: "chatty" });
  const started = await sm.startService("chatty");
  assert.equal(started.status, "ok", started.statusMessage);
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${vo.baseUrl}/chatty/properties/n`)).status, 200);
  await waitFor(() => sm.traffic.chain("Chatty_IN").value > 100, { what: "traffic counted" });
  await sm.check(); // over maxThreshold: the clock starts
  clock.now += 30_000;
  await sm.check(); // not yet a minute
  const events = () =>
    vo.servient.vo.history.query({ thingTitle: "ServiceManager", kind: "event", name: "alert", limit: 10 });
  assert.equal(events().length, 0);
  clock.now += 31_000;
  await sm.check();
  const fired = await waitFor(() => events().length > 0 && events(), { what: "the alert event recorded" });
  const data = typeof fired[0].value === "string" ? JSON.parse(fired[0].value) : fired[0].value;
  assert.equal(data.service, "chatty");
  assert.equal(data.resource, "inTraffic");
  assert.equal(data.kind, "fired");
});

function serviceEvents(vo) {
  return vo.servient.vo.history
    .query({ thingTitle: "ServiceManager", kind: "event", name: "serviceEvent", limit: 50 })
    .map((r) => (typeof r.value === "string" ? JSON.parse(r.value) : r.value));
}

/** The service is stopped with status error and `reason`, its thing answers 404, and the Thing said why. */
async function assertStoppedOverLimit(vo, sm, id, thingPath, reason) {
  const row = sm.store.getService(id);
  assert.equal(row.state, "stopped");
  assert.equal(row.status, "error");
  assert.match(row.statusMessage, reason);
  assert.equal((await fetch(`${vo.baseUrl}${thingPath}`)).status, 404);
  return waitFor(() => serviceEvents(vo).find((e) => e.kind === "limit" && e.service === id), {
    what: "the limit serviceEvent recorded",
  });
}

test("storageLimit: a service whose recorded history grows over it is stopped with the reason", async (t) => {
  const { vo, sm } = await setup(t);
  fs.writeFileSync(
    path.join(sm.servicesDir, "notes.js"),
    `WoT.produce({ title: "Notes", properties: { note: { type: "string" } } })
      .then(async (t) => { let v = ""; t.setPropertyReadHandler("note", async () => v);
        t.setPropertyWriteHandler("note", async (x) => { v = await x.value(); }); await t.expose(); });`,
  );
  await sm.installService({ path: "notes.js" });
  assert.equal((await sm.startService("notes")).status, "ok");
  const thingId = (await (await fetch(`${vo.baseUrl}/notes`)).json()).id;
  assert.ok(thingId, "the thing has an id");
  const put = (text) =>
    fetch(`${vo.baseUrl}/notes/properties/note`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(text),
    });

  // The count follows the records, in UTF-8 bytes, and only of the things asked for.
  assert.equal(await vo.servient.vo.historyBytes([]), 0);
  assert.equal((await put("a")).status, 204);
  const one = await vo.servient.vo.historyBytes([thingId]);
  assert.ok(one > 32, `one small record counts its texts and 32 bytes: ${one}`);
  assert.equal((await put("é".repeat(1000))).status, 204);
  const two = await vo.servient.vo.historyBytes([thingId]);
  assert.ok(
    two - one >= 2002 && two - one < 2002 + 200,
    `1000 × 'é' is 2002 bytes of JSON text: +${two - one}`,
  );
  assert.equal(await vo.servient.vo.historyBytes(["no-such-thing"]), 0);

  // Under the limit it keeps running; over it, the check stops it and says why.
  sm.store.updateService("notes", { storageLimit: two + 1000 });
  await sm.check();
  assert.equal(sm.store.getService("notes").state, "running");
  assert.equal((await put("x".repeat(2000))).status, 204);
  await sm.check();
  const event = await assertStoppedOverLimit(
    vo,
    sm,
    "notes",
    "/notes/properties/note",
    /^stopped: the recorded history uses \d+ bytes, over its storageLimit of \d+ bytes$/,
  );
  assert.match(event.message, /storageLimit/);
  // Its history stays: the limit stops the service, it deletes nothing.
  assert.ok((await vo.servient.vo.historyBytes([thingId])) >= two);
});

test("stateLimit: a service whose storage folder grows over it is stopped with the reason", async (t) => {
  const { vo, sm } = await setup(t);
  fs.writeFileSync(
    path.join(sm.servicesDir, "hoarder.js"),
    `const fs = require("node:fs"), path = require("node:path");
     WoT.produce({ title: "Hoarder", actions: { hoard: { input: { type: "integer" } } } })
      .then(async (t) => {
        t.setActionHandler("hoard", async (n) => {
          fs.writeFileSync(path.join(STORAGE_DIR, "blob"), "x".repeat(await n.value())); return undefined; });
        await t.expose(); });`,
  );
  await sm.installService({ path: "hoarder.js" });
  sm.store.updateService("hoarder", { stateLimit: 4096 });
  assert.equal((await sm.startService("hoarder")).status, "ok");
  const hoard = (n) =>
    fetch(`${vo.baseUrl}/hoarder/actions/hoard`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(n),
    });
  assert.ok((await hoard(4096)).ok, "exactly the limit is within it");
  await sm.check();
  assert.equal(sm.store.getService("hoarder").state, "running");
  assert.ok((await hoard(5000)).ok);
  await sm.check();
  await assertStoppedOverLimit(
    vo,
    sm,
    "hoarder",
    "/hoarder/actions/hoard",
    /^stopped: the storage folder uses 5000 bytes, over its stateLimit of 4096 bytes$/,
  );
});
