// The node-wot adapter's HTTP API (src/node-wot/http-server.ts), on a real node-wot Servient with a
// real HttpServer on a free port, over real HTTP: routes answered before node-wot, gates asked for
// every request addressed to a thing, both on servers added before or after, through one wrap.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { attach } = require("../dist/index.js"); // first: it quiets node-wot's load-time warnings
const { Servient } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { addHttpRoute, addThingRequestGate, thingsServedBy } = require("../dist/node-wot/http-server.js");
const { tempDir } = require("./helpers/vo.js");

const LAMP = {
  id: "urn:test:lamp",
  title: "Lamp",
  properties: { on: { type: "boolean" }, brightness: { type: "integer" } },
};

/** A servient with one HttpServer on 127.0.0.1:0; `before(servient, server)` runs before start. */
async function servientWithLamp(before = () => undefined, { addServerLate = false } = {}) {
  const servient = new Servient();
  const server = new HttpServer({ port: 0, address: "127.0.0.1" });
  if (!addServerLate) servient.addServer(server);
  await before(servient, server);
  if (addServerLate) servient.addServer(server);
  const wot = await servient.start();
  const writes = [];
  let on = false;
  const lamp = await wot.produce(LAMP);
  lamp.setPropertyReadHandler("on", async () => on);
  lamp.setPropertyWriteHandler("on", async (value) => {
    on = await value.value();
    writes.push(on);
  });
  lamp.setPropertyReadHandler("brightness", async () => 7);
  await lamp.expose();
  return { servient, server, lamp, writes, base: `http://127.0.0.1:${server.getPort()}` };
}

const put = (url, value) =>
  fetch(url, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(value) });

test("routes answer before node-wot, in order, sync or async; a route that passes leaves node-wot its request", async (t) => {
  const seen = [];
  const { servient, base } = await servientWithLamp((s) => {
    addHttpRoute(s, (req) => {
      seen.push(`first ${req.url}`);
      return false;
    });
    addHttpRoute(s, async (req, res) => {
      if (req.url !== "/metrics") return false;
      await new Promise((resolve) => setImmediate(resolve));
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("requests_total 1\n");
      return true;
    });
    addHttpRoute(s, (req, res) => {
      if (!req.url.startsWith("/dashboard/")) return false;
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<h1>dashboard</h1>");
      return true;
    });
  });
  t.after(() => servient.shutdown());

  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  assert.equal(await metrics.text(), "requests_total 1\n");
  const dashboard = await fetch(`${base}/dashboard/`);
  assert.equal(dashboard.status, 200);
  assert.equal(await dashboard.text(), "<h1>dashboard</h1>");
  // Not a route's: node-wot answers as it would without any.
  const td = await (await fetch(`${base}/lamp`)).json();
  assert.equal(td.id, LAMP.id);
  assert.equal(await (await fetch(`${base}/lamp/properties/brightness`)).json(), 7);
  assert.equal((await fetch(`${base}/nothing-here`)).status, 404);
  assert.deepEqual(seen, [
    "first /metrics",
    "first /dashboard/",
    "first /lamp",
    "first /lamp/properties/brightness",
    "first /nothing-here",
  ]);
});

test("a route that throws is answered 500 with its message; the server lives on", async (t) => {
  const { servient, base } = await servientWithLamp((s) =>
    addHttpRoute(s, (req) => {
      if (req.url === "/broken") throw new Error("route exploded");
      return false;
    }),
  );
  t.after(() => servient.shutdown());
  const res = await fetch(`${base}/broken`);
  assert.equal(res.status, 500);
  assert.match(await res.text(), /route exploded/);
  assert.equal(await (await fetch(`${base}/lamp/properties/brightness`)).json(), 7);
});

test("a route added before the HttpServer is added answers too", async (t) => {
  const { servient, base } = await servientWithLamp(
    (s) =>
      addHttpRoute(s, (req, res) => {
        if (req.url !== "/late") return false;
        res.end("served");
        return true;
      }),
    { addServerLate: true },
  );
  t.after(() => servient.shutdown());
  assert.equal(await (await fetch(`${base}/late`)).text(), "served");
});

test("a gate sees every request addressed to a thing, by the thing's URL name, and can answer 429 itself", async (t) => {
  const calls = [];
  let refusing = false;
  const { servient, lamp, writes, base } = await servientWithLamp((s) =>
    addThingRequestGate(s, (thingName, thing, req, res) => {
      calls.push({ thingName, same: thing === lamp, method: req.method, url: req.url });
      if (!refusing) return true;
      res.writeHead(429, { "Retry-After": "1", "Content-Type": "text/plain" });
      res.end(`'${thingName}' is over its limit`);
      return false;
    }),
  );
  t.after(() => servient.shutdown());

  assert.equal((await put(`${base}/lamp/properties/on`, true)).status, 204);
  assert.equal(await (await fetch(`${base}/urn%3Atest%3Alamp/properties/on`)).json(), true);
  assert.equal((await fetch(`${base}/lamp`)).status, 200);
  // Not addressed to a thing: no gate.
  assert.equal((await fetch(`${base}/`)).status, 200);
  assert.equal((await fetch(`${base}/nothing-here/properties/on`)).status, 404);
  assert.deepEqual(calls, [
    { thingName: "lamp", same: true, method: "PUT", url: "/lamp/properties/on" },
    { thingName: "urn:test:lamp", same: true, method: "GET", url: "/urn%3Atest%3Alamp/properties/on" },
    { thingName: "lamp", same: true, method: "GET", url: "/lamp" },
  ]);
  assert.deepEqual(writes, [true]);

  refusing = true;
  const refused = await put(`${base}/lamp/properties/on`, false);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.equal(await refused.text(), "'lamp' is over its limit");
  assert.deepEqual(writes, [true], "node-wot never handled the refused write");
  assert.equal((await fetch(`${base}/lamp`)).status, 429, "the TD too");
});

test("with the plugin attached: one wrap for routes, gates and the plugin; a refused write is not recorded", async (t) => {
  let wrapsSeen;
  const { servient, server, base } = await servientWithLamp((s, srv) => {
    addHttpRoute(s, () => false);
    const wrapped = srv.handleRequest;
    addThingRequestGate(s, (_name, _thing, req, res) => {
      if (req.headers["x-over-limit"] === undefined) return true;
      res.writeHead(429);
      res.end();
      return false;
    });
    attach(s, {
      dataDir: tempDir(),
      vo: { selfCheck: { enabled: false } },
      recorder: { maxBodyBytes: 1024 },
    });
    addHttpRoute(s, () => false);
    wrapsSeen = [wrapped, srv.handleRequest];
  });
  t.after(() => servient.shutdown());
  assert.equal(wrapsSeen[0], wrapsSeen[1], "adding more routes, gates or the plugin wraps nothing again");
  assert.equal(server.handleRequest, wrapsSeen[0]);

  assert.equal((await put(`${base}/lamp/properties/on`, true)).status, 204);
  const refused = await fetch(`${base}/lamp/properties/on`, {
    method: "PUT",
    headers: { "Content-Type": "application/json", "X-Over-Limit": "1" },
    body: "false",
  });
  assert.equal(refused.status, 429);
  // The plugin's own answers still come from the same wrap.
  const tooLarge = await put(`${base}/lamp/properties/on`, "x".repeat(2000));
  assert.equal(tooLarge.status, 413);
  servient.vo.history.flush();
  const rows = servient.vo.history.query({ thingId: LAMP.id, name: "on" });
  assert.deepEqual(
    rows.map((r) => r.value),
    [true],
    "only the write node-wot handled is in the history",
  );
});

test("thingsServedBy: an HttpServer's things by URL path segment (title slug and id)", async (t) => {
  const { servient, server, lamp } = await servientWithLamp();
  t.after(() => servient.shutdown());
  const served = thingsServedBy(server);
  assert.ok(served instanceof Map);
  assert.equal(served.get("lamp"), lamp);
  assert.equal(served.get(LAMP.id), lamp);
  assert.equal(thingsServedBy({}), undefined, "not an HttpServer");
});
