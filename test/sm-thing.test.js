// The service-manager Thing on a real node-wot servient with its HTTP server on port 0, driven by
// plain HTTP requests that follow only the TD's forms: manage services, limits, users, layers and
// traffic; statuses 400/404/409/403 with the plugin's HTTP context; refusals by `authorize`.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
require("../dist/quirks.js");
const { Servient, Helpers } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { startTestVo } = require("./helpers/vo.js");
const { form, expand } = require("./helpers/sm.js");
const { reject } = require("../dist/node-wot/request-context.js");
const { VoInputError } = require("../dist/errors.js");
const { openStore, distinctService } = require("./fixtures/sm-helpers.js");
const { TrafficMonitor } = require("../dist/service-manager/traffic-monitor.js");
const { exposeServiceManagerThing } = require("../dist/service-manager/thing.js");

/** A tiny TD client: reads properties and invokes actions through the TD's forms only. */
function client(td) {
  const answer = async (r) => {
    const text = await r.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text (error messages)
    }
    return { status: r.status, body, text };
  };
  return {
    read: async (name, vars) => {
      const { href, method } = form(td.properties[name]);
      assert.equal(method ?? "GET", "GET");
      return answer(await fetch(expand(href, vars)));
    },
    invoke: async (name, input, raw) => {
      const { href, method } = form(td.actions[name]);
      return answer(
        await fetch(expand(href), {
          method: method ?? "POST",
          headers: { "Content-Type": "application/json" },
          body: raw ?? JSON.stringify(input),
        }),
      );
    },
  };
}

/** Fetches the ServiceManager TD from the servient's thing list (`GET /` → TD URLs). */
async function fetchTd(baseUrl, path) {
  const res = await fetch(`${baseUrl}/${path}`);
  assert.equal(res.status, 200);
  return res.json();
}

const jsonService = (s) => ({ ...s, startAt: s.startAt === null ? null : s.startAt.toISOString() });

test("with the plugin attached: a TD client manages the store through the TD's forms; statuses are right", async (ctx) => {
  const vo = await startTestVo();
  const { store } = openStore();
  const traffic = new TrafficMonitor({ store, persistIntervalMs: 0 });
  ctx.after(async () => {
    await vo.stop();
    traffic.close();
    store.close();
  });
  let allow = true;
  const asked = [];
  const authorize = (action) => {
    asked.push(action);
    if (!allow)
      throw new VoInputError(`changing the service manager (${action}) is refused here`, "VO_FORBIDDEN");
  };
  const thing = await exposeServiceManagerThing({ wot: vo.wot, store, traffic, authorize, onError: reject });
  assert.equal(thing.getThingDescription().title, "ServiceManager");

  const td = await fetchTd(vo.baseUrl, "servicemanager");
  assert.equal(td.title, "ServiceManager");
  for (const p of ["services", "service", "users", "layers", "traffic"]) assert.ok(td.properties[p], p);
  for (const a of [
    "addService",
    "updateService",
    "removeService",
    "setServiceState",
    "setServiceStatus",
    "setServiceLimits",
    "addServiceToUsers",
    "removeServiceFromUsers",
    "setUsersStorageFolder",
    "addLayer",
    "removeLayer",
    "setTrafficMonitorData",
  ]) {
    assert.ok(td.actions[a], a);
    assert.equal(td.actions[a].input.type, "object", `${a} has an input schema`);
  }
  const c = client(td);

  // Add a service with a distinct value in every field; read it back.
  const s = jsonService(distinctService(7));
  const added = await c.invoke("addService", s);
  assert.equal(added.status, 200, added.text);
  assert.deepEqual(added.body, s);
  assert.deepEqual((await c.read("services")).body, [s]);
  assert.deepEqual((await c.read("service", { id: "svc-7" })).body, s);
  assert.deepEqual(store.getService("svc-7"), distinctService(7));

  // Set a limit: stored, and the traffic monitor holds the thing to it.
  const limited = await c.invoke("setServiceLimits", { id: "svc-7", dlLimit: 5000, ulSpeed: 250 });
  assert.equal(limited.status, 200, limited.text);
  assert.deepEqual(
    [limited.body.ulLimit, limited.body.dlLimit, limited.body.ulSpeed, limited.body.dlSpeed],
    [711, 5000, 250, 714],
  );
  const chains = (await c.read("traffic")).body.chains;
  const unitIn = chains.find((ch) => ch.chain === "unit-7_IN");
  assert.deepEqual([unitIn.limit, unitIn.direction], [5000, "in"]);
  assert.equal(chains.find((ch) => ch.chain === "unit-7_OUT").speed, 250);

  // State, status with message, partial update.
  assert.equal((await c.invoke("setServiceState", { id: "svc-7", state: "stopped" })).body.state, "stopped");
  const failed = await c.invoke("setServiceStatus", { id: "svc-7", status: "error", message: "exit 2" });
  assert.deepEqual([failed.body.status, failed.body.statusMessage], ["error", "exit 2"]);
  const updated = await c.invoke("updateService", {
    id: "svc-7",
    version: 8,
    startAt: "2025-07-01T10:00:00+02:00",
  });
  assert.deepEqual([updated.body.version, updated.body.startAt], [8, "2025-07-01T08:00:00.000Z"]);

  // Users lists and layers.
  const users = await c.invoke("addServiceToUsers", { users: ["alice", "bob"], serviceId: "svc-7" });
  assert.deepEqual(users.body, {
    users: ["alice", "bob"],
    serviceId: "svc-7",
    storageFolder: "",
    stateChecksum: "",
  });
  store.setUsersStateChecksum(["alice", "bob"], "svc-7", Buffer.from([0xab, 0xcd]));
  const folder = await c.invoke("setUsersStorageFolder", {
    users: ["alice", "bob"],
    serviceId: "svc-7",
    storageFolder: "/st/7",
  });
  assert.deepEqual(folder.body.storageFolder, "/st/7");
  assert.deepEqual((await c.read("users")).body, [
    { users: ["alice", "bob"], serviceId: "svc-7", storageFolder: "/st/7", stateChecksum: "abcd" },
  ]);
  const layer = { digest: "sha256:77", layerId: "base", path: "/layers/77", osVersion: "2.1" };
  assert.deepEqual((await c.invoke("addLayer", layer)).body, layer);
  assert.deepEqual((await c.read("layers")).body, [layer]);

  // Traffic totals.
  const set = await c.invoke("setTrafficMonitorData", { chain: "unit-7_OUT", value: 1234 });
  assert.equal(set.status, 200, set.text);
  assert.equal(set.body.value, 1234);
  assert.equal(store.getTrafficMonitorData("unit-7_OUT").value, 1234);

  // Statuses of refused changes.
  const dup = await c.invoke("addService", { id: "svc-7" });
  assert.equal(dup.status, 409, dup.text);
  assert.match(dup.text, /already exists/);
  assert.equal(
    (await c.invoke("addServiceToUsers", { users: ["alice", "bob"], serviceId: "svc-7" })).status,
    409,
  );
  assert.equal((await c.invoke("addLayer", layer)).status, 409);
  assert.equal((await c.invoke("removeService", { id: "nope" })).status, 404);
  assert.equal((await c.invoke("setServiceLimits", { id: "nope", ulLimit: 1 })).status, 404);
  assert.equal((await c.invoke("removeLayer", { digest: "sha256:nope" })).status, 404);
  assert.equal((await c.invoke("removeServiceFromUsers", { users: ["x"], serviceId: "svc-7" })).status, 404);
  assert.equal((await c.read("service", { id: "nope" })).status, 404);
  for (const [input, pattern] of [
    [{}, /must have required property 'id'/],
    [{ id: "x", colour: "red" }, /must NOT have additional properties \("colour"\)/],
    [{ id: "x", ulLimit: -1 }, /ulLimit must be >= 0/],
    [{ id: "x", state: "paused" }, /state must be equal to one of the allowed values/],
    [{ id: "x", startAt: "yesterday" }, /startAt/],
    [{ id: "x", layerList: "/a" }, /layerList must be array/],
    [{ id: "x", unit: "SYSTEM" }, /reserved/],
  ]) {
    const bad = await c.invoke("addService", input);
    assert.equal(bad.status, 400, `${JSON.stringify(input)}: ${bad.text}`);
    assert.match(bad.text, pattern);
  }
  const notJson = await c.invoke("addService", undefined, "{id: x");
  assert.equal(notJson.status, 400);
  assert.match(notJson.text, /not JSON/);
  assert.equal((await c.invoke("setTrafficMonitorData", { chain: "nochain", value: 1 })).status, 400);

  // The authorization callback refuses: 403, nothing changes; reads still work.
  allow = false;
  const before = store.getService("svc-7");
  const refused = await c.invoke("setServiceLimits", { id: "svc-7", dlLimit: 1 });
  assert.equal(refused.status, 403, refused.text);
  assert.match(refused.text, /refused/);
  assert.equal((await c.invoke("removeService", { id: "svc-7" })).status, 403);
  assert.equal((await c.invoke("addService", { id: "new" })).status, 403);
  assert.deepEqual(store.getService("svc-7"), before);
  assert.deepEqual(
    store.getServices().map((x) => x.id),
    ["svc-7"],
  );
  assert.equal((await c.read("services")).status, 200);
  assert.ok(asked.includes("setServiceLimits") && asked.includes("addService"));

  // Allowed again: remove.
  allow = true;
  assert.equal((await c.invoke("removeLayer", { digest: "sha256:77" })).status, 204);
  assert.equal(
    (await c.invoke("removeServiceFromUsers", { users: ["alice", "bob"], serviceId: "svc-7" })).status,
    204,
  );
  assert.equal((await c.invoke("removeService", { id: "svc-7" })).status, 204);
  assert.deepEqual((await c.read("services")).body, []);
  assert.equal((await c.read("service", { id: "svc-7" })).status, 404);
});

test("on a plain servient (no plugin) the Thing works too; node-wot answers its errors 500", async (ctx) => {
  Helpers.setStaticAddress("127.0.0.1");
  const servient = new Servient();
  const server = new HttpServer({ port: 0, address: "127.0.0.1" });
  servient.addServer(server);
  const wot = await servient.start();
  const { store } = openStore();
  const traffic = new TrafficMonitor({ store, persistIntervalMs: 0 });
  ctx.after(async () => {
    await servient.shutdown();
    traffic.close();
    store.close();
  });
  let allow = true;
  await exposeServiceManagerThing({
    wot,
    store,
    traffic,
    title: "SM",
    authorize: () => {
      if (!allow) throw new VoInputError("no", "VO_FORBIDDEN");
    },
  });
  const td = await fetchTd(`http://127.0.0.1:${server.getPort()}`, "sm");
  assert.equal(td.title, "SM");
  const c = client(td);
  assert.equal((await c.invoke("addService", { id: "a", unit: "ua", ulLimit: 10 })).status, 200);
  assert.equal((await c.invoke("setServiceLimits", { id: "a", ulLimit: 20 })).body.ulLimit, 20);
  assert.deepEqual(
    (await c.read("services")).body.map((s) => [s.id, s.ulLimit]),
    [["a", 20]],
  );
  const dup = await c.invoke("addService", { id: "a" });
  assert.equal(dup.status, 500);
  assert.match(dup.text, /already exists/);
  allow = false;
  assert.equal((await c.invoke("removeService", { id: "a" })).status, 500);
  assert.equal(store.getServices().length, 1);
  allow = true;
  assert.equal((await c.invoke("removeService", { id: "a" })).status, 204);
  assert.deepEqual((await c.read("services")).body, []);
});
