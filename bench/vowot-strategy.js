// vo-wot's strategy, for comparison: one synchronous write of one point per interaction (its
// Python client writes each point and waits), against a real InfluxDB 1.6.7 on loopback, over one
// keep-alive connection. The points are the first N lines of the mixed backlog. Reported only.
//
//   npm run build && node bench/vowot-strategy.js [--full] [--points N]
//
// Quick: 5,000 points; --full: 20,000.
"use strict";
const path = require("node:path");
const lib = require("./lib.js");
const { startInfluxd } = require("../test/helpers/servers.js");

const args = lib.flags();
const points = args.points ?? (args.full ? 20_000 : 5_000);

/** The first `n` lines of the mixed backlog, as the shipper writes them. */
async function lines(n) {
  const file = await lib.backlogFile(path.join(lib.tempDir("nwv-bench-vowot-"), "vo.sqlite"), 200_000);
  const [first] = await lib.backlogPayloads(file, { database: "bench", batchSize: n }, n);
  return first.lines().map((line) => Buffer.from(line));
}

async function main() {
  const all = await lines(points);
  const influx = await startInfluxd();
  try {
    await influx.query('CREATE DATABASE "bench"');
    const { post, close } = lib.poster(influx.url, "/write?db=bench&precision=ns");
    for (const line of all.slice(0, 200)) await post(line); // warm-up
    const started = process.hrtime.bigint();
    for (const line of all) await post(line);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    close();
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
