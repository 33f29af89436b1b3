// Observers, redirect IPs and device IP through the TD: add, list, remove, duplicates and invalid
// addresses refused with clear 4xx errors; changes need credentials when the servient has them,
// and are refused to non-loopback clients when it has none. Plus the VO self-check.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const os = require("node:os");
const { startTestVo, exposeThing, waitFor } = require("./helpers/vo.js");

const JSON_HEADERS = { "content-type": "application/json" };

function post(url, body, headers = {}) {
  return fetch(url, { method: "POST", headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) });
}

test("observers, redirect IPs and the device IP: add, list, remove, duplicates and invalid refused", async (t) => {
  const vo = await startTestVo({ vo: { device: { address: "127.0.0.1:9", periodMs: 60000 } } });
  t.after(() => vo.stop());
  await exposeThing(vo.wot, { title: "State" }, () => undefined);
  const base = `${vo.baseUrl}/state`;
  const td = await (await fetch(base)).json();
  for (const name of [
    "observers",
    "redirectIps",
    "deviceIp",
    "voStatus",
    "voStatusHistory",
    "deviceStatusHistory",
  ])
    assert.equal(td.properties[name]["vo:plugin"], true, name);
  for (const name of ["addObserver", "removeObserver", "addRedirectIp", "removeRedirectIp", "setDeviceIp"])
    assert.equal(td.actions[name]["vo:plugin"], true, name);
  assert.equal(td.events.voConnection["vo:plugin"], true);
  assert.equal(td.events.deviceConnection["vo:plugin"], true);
  const read = async (name) => (await fetch(`${base}/properties/${name}`)).json();

  // The device IP comes from the device configuration.
  assert.deepEqual(await read("deviceIp"), { address: "127.0.0.1:9" });

  for (const [add, remove, list] of [
    ["addObserver", "removeObserver", "observers"],
    ["addRedirectIp", "removeRedirectIp", "redirectIps"],
  ]) {
    assert.deepEqual(await read(list), []);
    let res = await post(`${base}/actions/${add}`, { address: "192.168.1.20:8080" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), ["192.168.1.20:8080"]);
    res = await post(`${base}/actions/${add}`, "fd00:0:0::2"); // a bare string works too; IPv6 is canonicalised
    assert.deepEqual(await res.json(), ["192.168.1.20:8080", "fd00::2"]);
    assert.deepEqual(await read(list), ["192.168.1.20:8080", "fd00::2"]);

    res = await post(`${base}/actions/${add}`, { address: "fd00::2" });
    assert.equal(res.status, 409);
    assert.match(await res.text(), /fd00::2 is already in the list/);
    for (const bad of ["999.1.1.1", "10.0.0.1:99999", "example.com", "1.2.3.4; DROP TABLE observer", ""]) {
      res = await post(`${base}/actions/${add}`, { address: bad });
      assert.equal(res.status, 400, bad);
      assert.match(await res.text(), /is not an IP address; expected IPv4 or IPv6 with an optional port/);
    }
    res = await post(`${base}/actions/${add}`, { ip: "10.0.0.1" });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /expected \{"address": "<ip>\[:port\]"\}/);
    assert.deepEqual(await read(list), ["192.168.1.20:8080", "fd00::2"]);

    res = await post(`${base}/actions/${remove}`, { address: "192.168.1.20:8080" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), ["fd00::2"]);
    res = await post(`${base}/actions/${remove}`, { address: "192.168.1.20:8080" });
    assert.equal(res.status, 404);
    assert.match(await res.text(), /is not in the list/);
    assert.deepEqual(await read(list), ["fd00::2"]);
  }

  let res = await post(`${base}/actions/setDeviceIp`, { address: "[fd00::7]:8081" });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { address: "[fd00::7]:8081" });
  assert.deepEqual(await read("deviceIp"), { address: "[fd00::7]:8081" });
  res = await post(`${base}/actions/setDeviceIp`, { address: "not-an-ip" });
  assert.equal(res.status, 400);
  assert.deepEqual(await read("deviceIp"), { address: "[fd00::7]:8081" });

  // The same tables back servient.sqlite_db.
  assert.deepEqual(vo.servient.sqlite_db.listObservers(), ["fd00::2"]);

  // Through a node-wot consumer.
  const consumed = await vo.wot.consume(await vo.wot.requestThingDescription(base));
  assert.deepEqual(await (await consumed.invokeAction("addObserver", { address: "10.1.1.1" })).value(), [
    "fd00::2",
    "10.1.1.1",
  ]);
  assert.deepEqual(await (await consumed.readProperty("observers")).value(), ["fd00::2", "10.1.1.1"]);
  await assert.rejects(
    consumed.invokeAction("addObserver", { address: "10.1.1.1" }),
    /Client error: observer 10.1.1.1 is already in the list/,
  );
});

test("with credentials configured, changes need them", async (t) => {
  const plainId = "urn:test:secured-vo";
  const basicId = "urn:test:basic-vo";
  const vo = await startTestVo({
    http: { security: [{ scheme: "basic" }] },
    credentials: {
      [plainId]: { username: "admin", password: "s3cret" },
      [basicId]: { username: "admin", password: "s3cret" },
    },
  });
  t.after(() => vo.stop());
  // node-wot 0.9.2 alone would give this thing "nosec"; the launcher makes the configured "basic"
  // the scheme things get, so node-wot checks its credentials on every request.
  await exposeThing(vo.wot, { title: "Secured", id: plainId }, () => undefined);
  const securedTd = await (await fetch(`${vo.baseUrl}/secured`)).json();
  assert.deepEqual(securedTd.security, ["basic"]);
  // A thing that declares basic: node-wot checks every request.
  await exposeThing(
    vo.wot,
    {
      title: "Basic",
      id: basicId,
      securityDefinitions: { basic_sc: { scheme: "basic" } },
      security: ["basic_sc"],
    },
    () => undefined,
  );
  const auth = { authorization: `Basic ${Buffer.from("admin:s3cret").toString("base64")}` };
  const wrong = { authorization: `Basic ${Buffer.from("admin:nope").toString("base64")}` };

  for (const path of ["secured", "basic"]) {
    const base = `${vo.baseUrl}/${path}`;
    let res = await post(`${base}/actions/addObserver`, { address: "10.0.0.1" });
    assert.equal(res.status, 401, path);
    assert.match(res.headers.get("www-authenticate") ?? "", /Basic/);
    res = await post(`${base}/actions/addObserver`, { address: "10.0.0.1" }, wrong);
    assert.equal(res.status, 401, path);
    res = await post(
      `${base}/actions/setDeviceIp`,
      { address: "10.0.0.9" },
      { authorization: "Bearer nope" },
    );
    assert.equal(res.status, 401, path);
    assert.deepEqual(vo.servient.sqlite_db.listObservers(), []);
    assert.equal(vo.servient.sqlite_db.getDeviceIp(), undefined);
  }
  let res = await post(`${vo.baseUrl}/secured/actions/addObserver`, { address: "10.0.0.1" }, auth);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), ["10.0.0.1"]);
  res = await post(`${vo.baseUrl}/basic/actions/addRedirectIp`, { address: "10.0.0.2" }, auth);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), ["10.0.0.2"]);
  const list = await fetch(`${vo.baseUrl}/basic/properties/observers`, { headers: auth });
  assert.deepEqual(await list.json(), ["10.0.0.1"]);
});

test("without credentials, changes from a non-loopback client are refused", async (t) => {
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal);
  if (!external) return t.skip("no non-loopback IPv4 interface on this machine");
  const vo = await startTestVo({ http: { address: "0.0.0.0", staticAddress: "127.0.0.1" } });
  t.after(() => vo.stop());
  await exposeThing(vo.wot, { title: "Open" }, () => undefined);
  const remote = `http://${external.address}:${vo.running.port}/open`;
  let res = await post(`${remote}/actions/addObserver`, { address: "10.0.0.1" });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /only offered to loopback clients/);
  res = await post(`${remote}/actions/setDeviceIp`, { address: "10.0.0.1" });
  assert.equal(res.status, 403);
  assert.deepEqual(vo.servient.sqlite_db.listObservers(), []);
  // Reading is fine from anywhere; changing from loopback is fine.
  assert.deepEqual(await (await fetch(`${remote}/properties/observers`)).json(), []);
  res = await post(`http://127.0.0.1:${vo.running.port}/open/actions/addObserver`, { address: "10.0.0.1" });
  assert.equal(res.status, 200);
});

test("the self-check appends to vo_status and reports a lost VO endpoint with an event", async (t) => {
  const vo = await startTestVo({ vo: { selfCheck: { enabled: true, periodMs: 200, timeoutMs: 500 } } });
  t.after(() => vo.stop());
  await exposeThing(vo.wot, { title: "Self" }, () => undefined);
  const base = `${vo.baseUrl}/self`;
  const rows = await waitFor(
    async () => {
      const r = await (await fetch(`${base}/properties/voStatusHistory?limit=5`)).json();
      return r.length >= 2 && r;
    },
    { what: "two self-check rows" },
  );
  assert.ok(rows.every((r) => r.online === true));
  const status = await (await fetch(`${base}/properties/voStatus`)).json();
  assert.equal(status.vo.online, true);
  assert.equal(status.vo.selfCheck, true);
  assert.equal(status.device.configured, false);
  assert.equal(vo.servient.vo.runtime.selfCheckUrl, `${vo.baseUrl}/`);

  // A VO whose advertised endpoint does not answer: rows with 0 and a "lost" event.
  const dead = await startTestVo({
    vo: { selfCheck: { enabled: true, periodMs: 200, timeoutMs: 300, url: "http://127.0.0.1:9/" } },
  });
  t.after(() => dead.stop());
  const thing = await exposeThing(dead.wot, { title: "Dead" }, () => undefined);
  const events = [];
  const emit = thing.emitEvent.bind(thing);
  thing.emitEvent = (name, data) => {
    events.push({ name, data });
    return emit(name, data);
  };
  await waitFor(() => events.length > 0, { what: "voConnection event" });
  assert.equal(events[0].name, "voConnection");
  assert.equal(events[0].data.state, "lost");
  assert.equal(events[0].data.online, false);
  assert.equal(events[0].data.target, "http://127.0.0.1:9/");
  await waitFor(() => dead.servient.sqlite_db.voStatusHistory(10).length >= 2, { what: "rows" });
  assert.ok(dead.servient.sqlite_db.voStatusHistory(10).every((r) => r.status === 0));
  const deadStatus = await (await fetch(`${dead.baseUrl}/dead/properties/voStatus`)).json();
  assert.equal(deadStatus.vo.online, false);
});

test("a nosec thing with credentials configured: the plugin itself guards the changing actions", async (t) => {
  const id = "urn:test:nosec-with-credentials";
  const vo = await startTestVo({ credentials: { [id]: { token: "t0ken" } } });
  t.after(() => vo.stop());
  await exposeThing(vo.wot, { title: "Token", id }, () => undefined);
  const td = await (await fetch(`${vo.baseUrl}/token`)).json();
  assert.deepEqual(td.security, ["nosec"]);
  let res = await post(`${vo.baseUrl}/token/actions/addObserver`, { address: "10.0.0.7" });
  assert.equal(res.status, 401);
  res = await post(
    `${vo.baseUrl}/token/actions/addObserver`,
    { address: "10.0.0.7" },
    { authorization: "Bearer wrong" },
  );
  assert.equal(res.status, 401);
  assert.deepEqual(vo.servient.sqlite_db.listObservers(), []);
  res = await post(
    `${vo.baseUrl}/token/actions/addObserver`,
    { address: "10.0.0.7" },
    { authorization: "Bearer t0ken" },
  );
  assert.equal(res.status, 200);
  assert.deepEqual(vo.servient.sqlite_db.listObservers(), ["10.0.0.7"]);
  // Reading stays open.
  assert.deepEqual(await (await fetch(`${vo.baseUrl}/token/properties/observers`)).json(), ["10.0.0.7"]);
});
