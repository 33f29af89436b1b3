// Device mirroring and the device liveness check, with the example device (things/device-thermostat.js)
// in a child process: reads, writes, actions and events go through the mirror and are recorded;
// killing the device flips the device status, emits the event, appends rows, and mirrored reads
// answer from the last recorded value; restarting it recovers. A VO started while its device is
// down starts anyway and mirrors the device once it answers; restarted, it mirrors from its cache.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { startTestVo, tempDir, waitFor } = require("./helpers/vo.js");
const { freePort } = require("./helpers/servers.js");

const DEVICE_SCRIPT = path.join(__dirname, "..", "things", "device-thermostat.js");
const JSON_HEADERS = { "content-type": "application/json" };
const FAST = { periodMs: 200, timeoutMs: 500 };

/** Starts the example device on `port`; resolves when it says it is ready. */
function startDevice(port) {
  const child = spawn(process.execPath, [DEVICE_SCRIPT], {
    env: { ...process.env, DEVICE_PORT: String(port), DEVICE_PERIOD_MS: "100000" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("device ready") && resolve(child));
    child.once("exit", (code) => reject(new Error(`device exited (${code}): ${err.slice(-500)}`)));
  });
}

function kill(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGKILL");
  });
}

function mirrorOptions(port, extra = {}) {
  return {
    vo: {
      device: {
        tdUrl: `http://127.0.0.1:${port}/thermostat-device`,
        ...FAST,
        mirror: {
          properties: { temperature: "temperature", setPoint: "targetTemperature" },
          actions: { boost: "boost" },
          events: { setpointChanged: "setpointChanged" },
        },
      },
    },
    ...extra,
  };
}

const json = async (url, init) => (await fetch(url, init)).json();

test("the mirror forwards, records, survives a device outage and recovers", async (t) => {
  const port = await freePort();
  let device = await startDevice(port);
  t.after(() => kill(device));
  const vo = await startTestVo(mirrorOptions(port));
  t.after(() => vo.stop());
  const runtime = vo.servient.vo.runtime;
  await waitFor(() => runtime.mirror.thing && runtime.mirror.connected, { what: "the mirror" });
  const base = `${vo.baseUrl}/thermostat-device-vo`;

  const td = await json(base);
  assert.equal(td.id, `urn:node-wot-vo:mirror:127.0.0.1-${port}-thermostat-device`);
  assert.deepEqual(
    Object.keys(td.properties).filter((n) => !td.properties[n]["vo:plugin"]),
    ["temperature", "setPoint"],
  );
  assert.equal(td.properties.mirrorStatus["vo:plugin"], true);
  assert.equal(td.properties.setPoint.maximum, 30, "the device's schema is kept");
  assert.deepEqual(Object.keys(td.events), [
    "setpointChanged",
    "voConnection",
    "deviceConnection",
    "voHealthChanged",
  ]);
  assert.equal(td.events.deviceConnection["vo:plugin"], true);
  assert.deepEqual(await json(`${base}/properties/deviceIp`), { address: `127.0.0.1:${port}` });

  // A node-wot consumer of the VO listens to the device connection event.
  const consumed = await vo.wot.consume(await vo.wot.requestThingDescription(base));
  const connection = [];
  const sub = await consumed.subscribeEvent("deviceConnection", async (d) =>
    connection.push(await d.value()),
  );
  t.after(() => sub.stop().catch(() => undefined));

  // Forwarded: read, write, action; device events re-emitted. All recorded on the mirror.
  assert.equal(await json(`${base}/properties/temperature`), 21);
  const history = (q) => json(`${base}/properties/history?${q}`);
  let res = await fetch(`${base}/properties/setPoint`, { method: "PUT", headers: JSON_HEADERS, body: "25" });
  assert.equal(res.status, 204);
  // node-wot's long-poll client loses events emitted before it polls again: one at a time.
  await waitFor(async () => (await history("name=setpointChanged")).length === 1, {
    what: "re-emitted event",
  });
  res = await fetch(`${base}/actions/boost`, { method: "POST", headers: JSON_HEADERS, body: '{"delta":1}' });
  assert.equal(await res.json(), 26);
  assert.equal(await (await consumed.readProperty("setPoint")).value(), 26);
  await waitFor(async () => (await history("name=setpointChanged")).length === 2, {
    what: "re-emitted events",
  });
  assert.deepEqual(
    (await history("name=setpointChanged")).map((r) => r.value),
    [26, 25],
  );
  const setPoints = await history("name=setPoint&order=asc");
  assert.deepEqual(
    setPoints.map((r) => [r.op, r.value]),
    [
      ["write", 25],
      ["change", 26],
    ],
  );
  const [boost] = await history("name=boost");
  assert.deepEqual([boost.op, boost.value, boost.output], ["invoke", { delta: 1 }, 26]);
  const lastValue = setPoints[1];

  // The device goes away.
  const rowsBefore = vo.servient.sqlite_db.deviceStatusHistory(100000).length;
  await kill(device);
  await waitFor(async () => (await json(`${base}/properties/voStatus`)).device.online === false, {
    what: "device status down",
  });
  await waitFor(() => connection.some((e) => e.state === "lost"), { what: "the lost event" });
  const lost = connection.find((e) => e.state === "lost");
  assert.equal(lost.online, false);
  assert.equal(lost.target, `http://127.0.0.1:${port}/thermostat-device`);
  const rows = await json(`${base}/properties/deviceStatusHistory?limit=1000`);
  assert.ok(rows.length > rowsBefore, "rows are appended");
  assert.equal(rows[0].online, false);
  assert.ok(rows.some((r) => r.online === true));

  // Mirrored reads answer the last recorded value, with its time.
  res = await fetch(`${base}/properties/setPoint`);
  assert.equal(res.status, 200);
  assert.equal(await res.json(), 26);
  assert.equal(res.headers.get("x-vo-source"), "history");
  assert.equal(res.headers.get("x-vo-value-time"), new Date(lastValue.time).toISOString());
  assert.ok(res.headers.get("last-modified"));
  assert.equal(await (await consumed.readProperty("setPoint")).value(), 26);
  const status = await (await consumed.readProperty("mirrorStatus")).value();
  assert.equal(status.device.online, false);
  assert.deepEqual(status.properties.setPoint, {
    value: 26,
    time: lastValue.time,
    at: lastValue.at,
    servedFrom: "history",
  });
  // Writes and actions cannot be forwarded: 503, recorded as failed.
  res = await fetch(`${base}/properties/setPoint`, { method: "PUT", headers: JSON_HEADERS, body: "22" });
  assert.equal(res.status, 503);
  assert.match(await res.text(), /the device is unreachable/);
  const [failed] = await history("name=setPoint&limit=1");
  assert.deepEqual([failed.op, failed.ok, failed.value], ["write", false, 22]);
  assert.equal(await json(`${base}/properties/setPoint`), 26, "a failed write is not a value");

  // The device comes back (a fresh process: its set point is 21.5 again).
  device = await startDevice(port);
  await waitFor(async () => (await json(`${base}/properties/voStatus`)).device.online === true, {
    what: "device status up",
  });
  await waitFor(() => connection.some((e) => e.state === "restored"), { what: "the restored event" });
  await waitFor(() => runtime.mirror.connected, { what: "reconnected" });
  res = await fetch(`${base}/properties/setPoint`);
  assert.equal(await res.json(), 21.5);
  assert.equal(res.headers.get("x-vo-source"), null);
  // Events flow again (the new long-poll may not be registered yet when the first write lands).
  await waitFor(
    async () => {
      res = await fetch(`${base}/properties/setPoint`, { method: "PUT", headers: JSON_HEADERS, body: "24" });
      assert.equal(res.status, 204);
      return (await history("name=setpointChanged&limit=1"))[0].value === 24;
    },
    { what: "events re-subscribed", intervalMs: 200 },
  );
  assert.equal((await consumed.readProperty("mirrorStatus").then((o) => o.value())).device.online, true);
  await sub.stop();
});

test("a VO whose device is down starts anyway, mirrors it when it answers, and mirrors from its cache after a restart", async (t) => {
  const port = await freePort();
  const dataDir = tempDir();
  let vo = await startTestVo({ ...mirrorOptions(port), dataDir });
  t.after(() => vo.stop());
  const sqlite = vo.servient.sqlite_db;
  await waitFor(() => sqlite.deviceStatusHistory(10).length >= 2, { what: "failed checks" });
  assert.ok(sqlite.deviceStatusHistory(10).every((r) => r.status === 0));
  assert.equal(vo.servient.vo.runtime.mirror.thing, undefined);

  const device = await startDevice(port);
  t.after(() => kill(device));
  await waitFor(() => vo.servient.vo.runtime.mirror.connected, { what: "the mirror" });
  const base = `${vo.baseUrl}/thermostat-device-vo`;
  assert.equal(await json(`${base}/properties/setPoint`), 21.5);
  await vo.stop();
  await kill(device);

  // Restarted while the device is down: the mirror is exposed from the cached TD, reads from history.
  vo = await startTestVo({ ...mirrorOptions(port), dataDir });
  const base2 = `${vo.baseUrl}/thermostat-device-vo`;
  const res = await fetch(`${base2}/properties/setPoint`);
  assert.equal(res.status, 200);
  assert.equal(await res.json(), 21.5);
  assert.equal(res.headers.get("x-vo-source"), "history");
  // Never read, never written: nothing to answer with.
  const none = await fetch(`${base2}/properties/temperature`);
  assert.equal(none.status, 503);
  assert.match(await none.text(), /has no recorded value yet/);
});
