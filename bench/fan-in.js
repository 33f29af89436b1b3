// Fan-in: four processes, each with its own backlog (its own things), shipping into one InfluxDB
// 1.6.7 at once, against one process shipping its backlog alone, in the same run. Each process is
// the plugin's store and InfluxDB helper (bench/ship-backlog.js) in a child process; they start on
// one signal. The aggregate rate is all points ÷ (last end − first start). Rounds alternate, each on
// a fresh influxd; every point is counted back.
//
//   npm run build && node bench/fan-in.js [--full] [--records N] [--rounds R]
//
// Quick: 100,000 records per process, 2 rounds; --full: 250,000 per process, 3 rounds.
"use strict";
const path = require("node:path");
const lib = require("./lib.js");
const { forkShipper } = require("./ship-backlog.js");
const { startInfluxd } = require("../test/helpers/servers.js");

const args = lib.flags();
const records = args.records ?? (args.full ? 250_000 : 100_000);
const rounds = args.rounds ?? (args.full ? 3 : 2);
const PROCESSES = 4;

/** Starts `n` shippers on their backlogs (warmed up first); resolves their results once all are done. */
async function ship(url, files) {
  const shippers = files.map((file) => forkShipper(file, url));
  await Promise.all(shippers.map((s) => s.ready));
  return Promise.all(shippers.map((s) => s.run()));
}

async function round(n) {
  const influx = await startInfluxd();
  try {
    const files = [];
    for (let p = 0; p < n; p++) {
      const dir = lib.tempDir("nwv-bench-fan-");
      files.push(await lib.backlogFile(path.join(dir, "vo.sqlite"), records, { tag: `p${p}` }));
    }
    const done = await ship(influx.url, files);
    const seconds = (Math.max(...done.map((d) => d.ended)) - Math.min(...done.map((d) => d.started))) / 1000;
    const json = await influx.query('SELECT count("ok") FROM /wot_.*/ GROUP BY "thing_id"', "bench");
    let arrived = 0;
    const perProcess = new Array(n).fill(0);
    for (const s of json.results[0].series ?? []) {
      arrived += s.values[0][1];
      const p = /^urn:benchp(\d+):/.exec(s.tags.thing_id)?.[1];
      if (p !== undefined) perProcess[Number(p)] += s.values[0][1];
    }
    return { pps: (n * records) / seconds, arrived, complete: perProcess.every((c) => c === records) };
  } finally {
    await influx.destroy();
  }
}

async function main() {
  await round(1); // warm-up: backlogs made, influxd started once, untimed
  const results = { one: [], four: [] };
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? ["one", "four"] : ["four", "one"]) {
      const res = await round(side === "one" ? 1 : PROCESSES);
      results[side].push(res);
      process.stderr.write(
        `round ${r + 1} ${side.padEnd(4)} ${Math.round(res.pps)} points/s, arrived ${res.arrived}, complete ${res.complete}\n`,
      );
    }
  }
  const one = lib.median(results.one.map((x) => x.pps));
  const four = lib.median(results.four.map((x) => x.pps));
  const complete = [...results.one, ...results.four].every((x) => x.complete);
  lib.report(
    "fan-in",
    [
      {
        what: "four processes shipping into one InfluxDB",
        reference: "one process",
        target: "≥ 0.9, all arrived",
        value: Math.round(four),
        unit: "points/s",
        referenceValue: Math.round(one),
        ratio: lib.round(four / one, 3),
        spread: lib.spread(results.four.map((x) => x.pps)).map(Math.round),
        size: `${PROCESSES} × ${records.toLocaleString("en")} records (one process: ${records.toLocaleString("en")})`,
        met: four / one >= 0.9 && complete,
        allArrived: complete,
      },
    ],
    { records, rounds, processes: PROCESSES },
  );
  if (!complete) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
