// Prometheus metrics and the dashboard routes, in process: a registry of their own, the commit
// hook, per-thing traffic counters, the library call, and credentials on /metrics.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const promClient = require("prom-client");
const { Servient } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { attach, mountDashboard } = require("../dist/index.js");
const { countHttpTraffic } = require("../dist/dashboard/index.js");
const { openDatabase } = require("../dist/store/database.js");
const { HistoryStore } = require("../dist/store/history.js");
const { tempDir, startTestVo, exposeThing } = require("./helpers/vo.js");
const { parsePrometheus, sampleValue } = require("./helpers/dashboard.js");

const LAMP = {
  title: "Metric Lamp",
  id: "urn:test:metric-lamp",
  properties: { level: { type: "number" } },
};

async function lamp(wot) {
  let level = 0;
  return exposeThing(wot, LAMP, (t) => {
    t.setPropertyReadHandler("level", async () => level);
    t.setPropertyWriteHandler("level", async (v) => {
      level = await v.value();
    });
  });
}

/** A raw HTTP request (no URL normalisation), optionally with a chunked body. */
function raw(base, { method = "GET", path: p = "/", headers = {}, chunks } = {}) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: p, headers }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    for (const c of chunks ?? []) req.write(c);
    req.end();
  });
}

test("metrics live in a registry of their own: two servients in one process, the global one untouched", async () => {
  const a = await startTestVo();
  const b = await startTestVo();
  try {
    for (const vo of [a, b]) {
      const res = await fetch(`${vo.baseUrl}/metrics`);
      assert.equal(res.status, 200);
      const parsed = parsePrometheus(await res.text());
      assert.ok(sampleValue(parsed, "nodewotvo_records_committed_total") >= 0);
    }
    const global = await promClient.register.getMetricsAsJSON();
    assert.deepEqual(
      global.filter((m) => m.name.startsWith("nodewotvo_")),
      [],
      "nothing in prom-client's global registry",
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

test("onCommit reports each group commit with its record count and duration; unsubscribing stops it", async () => {
  const db = openDatabase({
    file: path.join(tempDir(), "vo.sqlite"),
    synchronous: "normal",
    busyTimeoutMs: 1000,
  });
  const store = new HistoryStore(db);
  const calls = [];
  const record = (name) => ({
    thingId: "urn:t",
    thingTitle: "T",
    kind: "property",
    name,
    op: "write",
    ok: true,
    valueJson: "1",
    source: "local",
  });
  const off = store.onCommit((records, ms) => calls.push([records, ms]));
  const broken = store.onCommit(() => {
    throw new Error("a listener that throws");
  });
  await Promise.all([store.append(record("a")), store.append(record("b")), store.append(record("c"))]);
  await store.append(record("a"));
  assert.equal(calls.length, 2, "one call per group commit");
  assert.deepEqual(
    calls.map(([n]) => n),
    [3, 1],
  );
  for (const [, ms] of calls) assert.ok(ms >= 0 && ms < 5000, `commit took ${ms} ms`);
  off();
  broken();
  await store.append(record("b"));
  assert.equal(calls.length, 2);
  assert.equal(store.committedCount, 5, "a throwing listener does not break commits");
  store.close();
  db.close();
});

test("per-thing HTTP counters: requests, declared and chunked body bytes, response bytes", async () => {
  const vo = await startTestVo();
  try {
    await lamp(vo.wot);
    const counters = countHttpTraffic(vo.servient);
    const of = () => counters.counters().find((c) => c.unit === "Metric Lamp");
    const put = await raw(vo.baseUrl, {
      method: "PUT",
      path: "/metric-lamp/properties/level",
      headers: { "content-type": "application/json", "content-length": "4" },
      chunks: ["12.5"],
    });
    assert.equal(put.status, 204);
    const first = of();
    assert.equal(first.requests, 1);
    assert.equal(first.bytesIn, 4);
    assert.ok(first.bytesOut > 20, "status line and headers count");
    const body = JSON.stringify(42.25);
    const chunked = await raw(vo.baseUrl, {
      method: "PUT",
      path: "/metric-lamp/properties/level",
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      chunks: [body.slice(0, 2), body.slice(2)],
    });
    assert.equal(chunked.status, 204);
    assert.equal(of().bytesIn, 4 + body.length, "the chunked body counted, chunk framing not");
    // The thing by its id is the same thing; requests outside things are not counted.
    const byId = await raw(vo.baseUrl, { path: `/${encodeURIComponent(LAMP.id)}/properties/level` });
    assert.equal(byId.status, 200);
    assert.equal(byId.body, "42.25");
    await raw(vo.baseUrl, { path: "/dashboard/" });
    await raw(vo.baseUrl, { path: "/metrics" });
    const last = of();
    assert.equal(last.requests, 3);
    assert.ok(last.bytesOut > first.bytesOut + byId.body.length);
    assert.deepEqual(
      counters.counters().map((c) => c.unit),
      ["Metric Lamp"],
    );
    // The same numbers reach /metrics (the launcher's own counter, installed at start).
    const parsed = parsePrometheus((await raw(vo.baseUrl, { path: "/metrics" })).body);
    assert.equal(sampleValue(parsed, "nodewotvo_http_requests_total", { thing: "Metric Lamp" }), 3);
    assert.equal(
      sampleValue(parsed, "nodewotvo_http_request_bytes_total", { thing: "Metric Lamp" }),
      last.bytesIn,
    );
  } finally {
    await vo.stop();
  }
});

test("library use: mountDashboard(servient, servient.vo) serves the dashboard, uPlot from its package, and GET /", async () => {
  const servient = new Servient();
  servient.addServer(new HttpServer({ port: 0, address: "127.0.0.1" }));
  attach(servient, { dataDir: tempDir(), vo: { selfCheck: { enabled: false } } });
  const mounted = mountDashboard(servient, servient.vo, { path: "/dash" });
  assert.equal(mounted.path, "/dash/");
  assert.equal(mounted.metricsPath, "/metrics");
  assert.throws(() => mountDashboard(servient, servient.vo), /already mounted on this servient/);
  assert.throws(
    () => mountDashboard(new Servient(), servient.vo, { path: "dash" }),
    /'path' must be a URL path starting with '\/', got "dash"/,
  );
  const wot = await servient.start();
  try {
    await lamp(wot);
    const port = servient.getServers()[0].getPort();
    const base = `http://127.0.0.1:${port}`;
    const list = await (await fetch(`${base}/`)).json();
    assert.deepEqual(
      list,
      [`${base}/metric-lamp`],
      "GET / lists the TD URLs (node-wot 0.9.2 alone answers [])",
    );

    const redirect = await raw(base, { path: "/dash?x=1" });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, "/dash/?x=1");
    const index = await raw(base, { path: "/dash/" });
    assert.equal(index.status, 200);
    assert.match(index.headers["content-type"], /^text\/html/);
    assert.match(index.headers["content-security-policy"], /default-src 'self'/);
    assert.match(index.body, /<script type="module" src="app.js">/);
    const uplot = await raw(base, { path: "/dash/vendor/uPlot.iife.min.js" });
    assert.equal(uplot.status, 200);
    assert.equal(uplot.body, fs.readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"));
    const config = JSON.parse((await raw(base, { path: "/dash/config.json" })).body);
    assert.deepEqual(config, { thingsUrl: "/", metricsPath: "/metrics", modules: [] });
    for (const p of ["/dash/../package.json", "/dash/%2e%2e/package.json", "/dash/nope.js", "/dash/vendor/"])
      assert.equal((await raw(base, { path: p })).status, 404, p);
    assert.equal((await raw(base, { method: "POST", path: "/dash/" })).status, 405);
    // node-wot still answers everything else.
    assert.equal((await raw(base, { path: "/metric-lamp/properties/level" })).status, 200);
    assert.equal((await raw(base, { path: "/nothing-here" })).status, 404);
    const metrics = parsePrometheus((await raw(base, { path: "/metrics" })).body);
    assert.equal(sampleValue(metrics, "nodewotvo_recording_up"), 1);
    mounted.close();
    assert.equal((await raw(base, { path: "/metrics" })).status, 404, "closed: node-wot answers (404)");
  } finally {
    await servient.shutdown();
  }
});

test("/metrics needs credentials when the servient has any (Bearer or Basic), and says so", async () => {
  const vo = await startTestVo({ credentials: { "urn:test:metric-lamp": { token: "t0k3n" } } });
  try {
    const none = await fetch(`${vo.baseUrl}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate"), /^Basic realm=/);
    assert.match(await none.text(), /the metrics need credentials/);
    const wrong = await fetch(`${vo.baseUrl}/metrics`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const right = await fetch(`${vo.baseUrl}/metrics`, { headers: { authorization: "Bearer t0k3n" } });
    assert.equal(right.status, 200);
    assert.equal((await fetch(`${vo.baseUrl}/metrics`, { method: "POST" })).status, 405);
  } finally {
    await vo.stop();
  }
});

test("dashboard.enabled: false leaves /dashboard/ and /metrics to node-wot", async () => {
  const vo = await startTestVo({ dashboard: { enabled: false } });
  try {
    assert.equal((await fetch(`${vo.baseUrl}/dashboard/`)).status, 404);
    assert.equal((await fetch(`${vo.baseUrl}/metrics`)).status, 404);
  } finally {
    await vo.stop();
  }
  const noMetrics = await startTestVo({ dashboard: { metrics: false } });
  try {
    assert.equal((await fetch(`${noMetrics.baseUrl}/dashboard/`)).status, 200);
    assert.equal((await fetch(`${noMetrics.baseUrl}/metrics`)).status, 404);
  } finally {
    await noMetrics.stop();
  }
});
