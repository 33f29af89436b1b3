// Shipping must not starve interactions: HTTP property writes per second (keep-alive, autocannon)
// while a backlog ships to a real InfluxDB 1.6.7, against the same server with InfluxDB off (no
// shipping), in the same run. Both start on a copy of the same backlog; the server (plugin attached,
// recording on) runs pinned to CPU 0, autocannon to CPU 1, influxd wherever the OS puts it. Rounds
// alternate; the subject's round also says how many points shipped during the load and that the
// backlog was still shipping at its end.
//
//   npm run build && node bench/ship-starve.js [--full] [--records N] [--rounds R] [--seconds S] [--share F]
//
// Quick: a 200,000-record backlog, 3 rounds × 4 s; --full: 1,000,000 records, 5 rounds × 5 s.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib.js");
const { startServer, stopServer, ask, load } = require("./http-lib.js");
const { startInfluxd } = require("../test/helpers/servers.js");

const args = lib.flags();
const records = args.records ?? (args.full ? 1_000_000 : 200_000);
const rounds = args.rounds ?? (args.full ? 5 : 3);
const seconds = args.seconds ?? (args.full ? 5 : 4);

async function round(shipping) {
  const dir = lib.tempDir("nwv-bench-starve-");
  await lib.backlogFile(path.join(dir, "vo.sqlite"), records);
  const influx = shipping ? await startInfluxd() : undefined;
  const options = influx
    ? {
        influxdb: {
          enabled: true,
          apiVersion: 1,
          url: influx.url,
          database: "bench",
          createBucket: true,
          ...(args.share ? { busyShare: args.share } : {}),
        },
      }
    : {};
  const { child, port } = await startServer("on", dir, { BENCH_OPTIONS: JSON.stringify(options) });
  try {
    await load(port, "write", 1); // warm-up (shipping already runs)
    const before = shipping ? (await ask(child, "shipped")).shipped : 0;
    const { rps } = await load(port, "write", seconds);
    const status = shipping ? await ask(child, "shipped") : undefined;
    return { rps, shipped: status ? status.shipped - before : 0, queuedAtEnd: status?.queued ?? 0 };
  } finally {
    await stopServer(child);
    await influx?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const results = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
      const res = await round(side === "on");
      results[side].push(res);
      process.stderr.write(
        `round ${r + 1} shipping ${side.padEnd(3)} ${Math.round(res.rps)} writes/s` +
          (side === "on"
            ? `, ${res.shipped} points shipped meanwhile, ${res.queuedAtEnd} still queued\n`
            : "\n"),
      );
    }
  }
  const off = lib.median(results.off.map((x) => x.rps));
  const on = lib.median(results.on.map((x) => x.rps));
  const stillShipping = results.on.every((x) => x.queuedAtEnd > 0 && x.shipped > 0);
  lib.report(
    "ship-starve",
    [
      {
        what: `HTTP writes while a ${records.toLocaleString("en")}-record backlog ships`,
        reference: "no shipping",
        target: "≥ 0.8",
        value: Math.round(on),
        unit: "writes/s",
        referenceValue: Math.round(off),
        ratio: lib.round(on / off, 3),
        spread: lib.spread(results.on.map((x) => x.rps)).map(Math.round),
        size:
          `${records.toLocaleString("en")}-record backlog, ${rounds} rounds × ${seconds} s; shipped meanwhile ` +
          `${Math.round(lib.median(results.on.map((x) => x.shipped / seconds)))} points/s (median)`,
        met: on / off >= 0.8 && stillShipping,
        stillShipping,
      },
    ],
    { records, rounds, seconds, shippedDuringLoad: results.on.map((x) => x.shipped) },
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
