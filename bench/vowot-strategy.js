// vo-wot's strategy, for comparison: one synchronous write of one point per interaction (its
// Python client writes each point and waits), against a real InfluxDB 1.6.7 on loopback, over one
// keep-alive connection. The points are the first N lines of the mixed backlog. Reported only.
//
//   npm run build && node bench/vowot-strategy.js [--full] [--points N]
//
// Quick: 5,000 points; --full: 20,000.
"use strict";
const http = require("node:http");
const path = require("node:path");
const lib = require("./lib.js");
const { startInfluxd } = require("../test/helpers/servers.js");

const args = lib.flags();
const points = args.points ?? (args.full ? 20_000 : 5_000);

async function lines(n) {
  const dist = path.join(__dirname, "..", "dist");
  const { openDatabase } = require(path.join(dist, "store", "database.js"));
  const { HistoryStore } = require(path.join(dist, "store", "history.js"));
  const { InfluxDb } = require(path.join(dist, "influx", "influxdb.js"));
  const { BatchBuilder } = require(path.join(dist, "influx", "batch-builder.js"));
  const { resolveOptions } = require(path.join(dist, "config.js"));
  const file = await lib.backlogFile(path.join(lib.tempDir("nwv-bench-vowot-"), "vo.sqlite"), 200_000);
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 5000 });
  const store = new HistoryStore(db);
  const options = resolveOptions({ influxdb: { apiVersion: 1, database: "bench", batchSize: n } }).influxdb;
  const layout = new InfluxDb({ ...options, enabled: true }, store, db).layout;
  const builder = new BatchBuilder(db, store, layout, options, () => new Promise((r) => setImmediate(r)));
  const batch = await builder.build(0, () => false);
  const out = [];
  for (const p of batch.payloads) for (let i = 0; i < p.count; i++) out.push(Buffer.from(p.line(i)));
  db.close();
  return out;
}

async function main() {
  const all = await lines(points);
  const influx = await startInfluxd();
  try {
    await influx.query('CREATE DATABASE "bench"');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const { hostname, port } = new URL(influx.url);
    const post = (body) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: hostname,
            port,
            path: "/write?db=bench&precision=ns",
            method: "POST",
            agent,
            headers: { "content-type": "text/plain; charset=utf-8", "content-length": body.length },
          },
          (res) => {
            res.resume();
            res.on("end", () =>
              res.statusCode === 204 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    for (const line of all.slice(0, 200)) await post(line); // warm-up
    const started = process.hrtime.bigint();
    for (const line of all) await post(line);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    agent.destroy();
    const rate = points / seconds;
    lib.report(
      "vowot-strategy",
      [
        {
          what: "vo-wot's strategy (one synchronous point per interaction)",
          reference: "—",
          target: "reported",
          value: Math.round(rate),
          unit: "points/s",
          size: `${points.toLocaleString("en")} points, one request each, InfluxDB 1.6.7`,
          met: true,
        },
      ],
      { points, seconds: lib.round(seconds, 2) },
    );
  } finally {
    await influx.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
