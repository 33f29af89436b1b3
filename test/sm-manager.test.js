// The ServiceManager in process, with an injected clock: a stopped service whose last start is
// older than its ttl is removed by the periodic check, and an alert rule over its traffic fires an
// `alert` event of the ServiceManager Thing, recorded in the history like any event.
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
    },
    { now: () => clock.now },
  );
  await sm.start(vo.wot);
  return sm;
}

test("TTL: a stopped service older than its ttl is removed by the periodic check", async (t) => {
  const vo = await startTestVo({ sqlite: { file: ":memory:" } });
  const dataDir = tempDir("nwv-smm-");
  const clock = { now: Date.parse("2025-03-01T00:00:00Z") };
  const sm = await managerOn(vo, dataDir, clock);
  t.after(async () => {
    await sm.close();
    await vo.stop();
  });
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
  const vo = await startTestVo({ sqlite: { file: ":memory:" } });
  const dataDir = tempDir("nwv-smm-");
  const clock = { now: Date.parse("2025-03-01T00:00:00Z") };
  const sm = await managerOn(vo, dataDir, clock);
  t.after(async () => {
    await sm.close();
    await vo.stop();
  });
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
