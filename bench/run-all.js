// Runs every benchmark once, in sequence, and prints one JSON line each (see docs/benchmarks.md).
// Usage: npm run bench   (about 3 minutes; InfluxDB 1.6.7 must be installed for influx-ship)
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const runs = [
  ["records.js"],
  ["http-ratio.js", "5", "5", "10"],
  ["history-query.js"],
  ["influx-ship.js"],
  ["outage-rss.js"],
];
let failed = 0;
for (const [file, ...args] of runs) {
  const r = spawnSync(process.execPath, [path.join(__dirname, file), ...args], { encoding: "utf8" });
  const last = r.stdout.trim().split("\n").pop();
  if (r.status !== 0) {
    failed++;
    console.error(`${file} failed (${r.status}): ${r.stderr.trim().split("\n").pop()}`);
  } else console.log(last);
}
process.exitCode = failed ? 1 : 0;
