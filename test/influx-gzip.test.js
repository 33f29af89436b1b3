// gzipThreshold: off by default; request bodies above it are gzipped, for both API versions. The
// servers must take them (real InfluxDB 1.6.7 for v1, real VictoriaMetrics for v2); a recording
// HTTP server shows the header and the body sizes.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const zlib = require("node:zlib");
const { startInfluxd, startVictoriaMetrics, startInfluxVo } = require("./helpers/servers.js");
const { waitFor } = require("./helpers/vo.js");
const { resolveOptions } = require("../dist/index.js");

const event = (i) => ({
  thingId: "urn:gz",
  thingTitle: "Gz",
  kind: "event",
  name: "tick",
  op: "emit",
  ok: true,
  valueJson: String(i),
  source: "local",
});

async function recorder() {
  const writes = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      if (req.url.startsWith("/api/v2/write") || req.url.startsWith("/write")) {
        const gzipped = req.headers["content-encoding"] === "gzip";
        writes.push({ gzipped, bytes: raw.length, body: (gzipped ? zlib.gunzipSync(raw) : raw).toString() });
      }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, writes, close: () => server.close() };
}

test("gzip is off by default", () => {
  assert.equal(resolveOptions({}).influxdb.gzipThreshold, 0);
});

for (const apiVersion of [1, 2]) {
  test(`API v${apiVersion}: bodies above gzipThreshold go gzipped, smaller ones plain; threshold 0 never gzips`, async () => {
    const server = await recorder();
    const extra = apiVersion === 2 ? { apiVersion: 2, token: "t" } : { apiVersion: 1, database: "gz" };
    try {
      for (const [threshold, n, expected] of [
        [0, 500, false],
        [1000, 500, true],
        [100000, 500, false],
      ]) {
        const vo = await startInfluxVo(server.url, {
          ...extra,
          createBucket: false,
          gzipThreshold: threshold,
        });
        try {
          const before = server.writes.length;
          await Promise.all(Array.from({ length: n }, (_, i) => vo.servient.vo.history.append(event(i))));
          assert.equal(await vo.servient.influxdb.flush(10000), true);
          const writes = server.writes.slice(before);
          assert.ok(writes.length >= 1);
          assert.equal(
            writes.map((w) => w.body.split("\n").length).reduce((a, b) => a + b),
            n,
          );
          for (const w of writes)
            assert.equal(w.gzipped, expected, `threshold ${threshold}: ${w.bytes} bytes`);
          if (expected) assert.ok(writes[0].bytes < writes[0].body.length / 3, "gzip shrinks line protocol");
        } finally {
          await vo.stop();
        }
      }
    } finally {
      server.close();
    }
  });
}

test("real servers take gzipped writes: InfluxDB 1.6.7 (v1) and VictoriaMetrics (v2, official client)", async () => {
  const influx = await startInfluxd();
  const vm = await startVictoriaMetrics();
  const v1 = await startInfluxVo(influx.url, { database: "gz", gzipThreshold: 200 });
  const v2 = await startInfluxVo(vm.url, {
    apiVersion: 2,
    token: "t",
    createBucket: false,
    gzipThreshold: 200,
  });
  try {
    for (const vo of [v1, v2]) {
      await Promise.all(Array.from({ length: 300 }, (_, i) => vo.servient.vo.history.append(event(i))));
      assert.equal(await vo.servient.influxdb.flush(20000), true);
      assert.equal(vo.servient.influxdb.status().shipped, 300);
    }
    const json = await influx.query('SELECT count("value") FROM "wot_event"', "gz");
    assert.equal(json.results[0].series[0].values[0][1], 300);
    await waitFor(async () => (await vm.export('{__name__="wot_event_value"}'))[0]?.values.length === 300, {
      timeoutMs: 20000,
      what: "VictoriaMetrics to hold the 300 points",
    });
  } finally {
    await v1.stop();
    await v2.stop();
    await influx.destroy();
    await vm.destroy();
  }
});
