// Runs every benchmark, each against its reference measured in the same run, and prints the table
// (docs/benchmarks.md explains each figure). Every script prints one final JSON line; this turns
// them into the table and writes them all to bench-results.json in the temp directory.
//
//   npm run bench              quick sizes (under 5 minutes; the table says which sizes)
//   npm run bench -- --full    full sizes
//
// Needs the Debian packages influxdb and victoria-metrics (the test helpers start them).
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");

const full = process.argv.includes("--full");
const size = full ? ["--full"] : [];
const RUNS = [
  ["http-ratio.js", ...size],
  ["records.js", ...size],
  ["influx-ship.js", ...size],
  ["influx-ship.js", "--server", "victoria", ...size],
  ["vowot-strategy.js", ...size],
  ["history-query.js", ...size],
  ["outage-rss.js", ...size],
  ["fan-in.js", ...size],
  ["ship-starve.js", ...size],
  ["traffic-monitor.js", ...size],
  ["service-cycle.js", ...size],
  ["dashboard-open.js", ...size],
];

/** Runs one script; progress (its stderr) goes through; resolves its final JSON line (or an error). */
function run([file, ...args]) {
  const flags = file === "outage-rss.js" ? ["--expose-gc"] : [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...flags, path.join(__dirname, file), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => {
      err += d;
      for (const line of String(d).split("\n"))
        if (/^round|^write|^invoke|^gate|^start|^wrote/.test(line)) process.stderr.write(`  ${line}\n`);
    });
    child.on("exit", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      try {
        const result = JSON.parse(last);
        // Figures and a failed check (say, points that never arrived): both are shown.
        const failed = code === 0 ? undefined : err.trim().split("\n").slice(-3).join(" ") || `exit ${code}`;
        resolve({ file, args, code, result, ...(failed ? { error: failed } : {}) });
      } catch {
        resolve({ file, args, code, error: err.trim().split("\n").slice(-3).join(" ") || `exit ${code}` });
      }
    });
  });
}

const fmt = (v) => (typeof v === "number" ? v.toLocaleString("en") : (v ?? ""));

function table(results) {
  const rows = [
    ["what", "reference (same run)", "target", "measured", "reference", "ratio", "spread", "size", "met"],
  ];
  for (const r of results) {
    if (r.error) {
      rows.push([`${r.file} ${r.args.join(" ")}`, "", "", `FAILED: ${r.error}`, "", "", "", "", "no"]);
      if (!r.result) continue;
    }
    for (const f of r.result.figures) {
      rows.push([
        f.what,
        f.reference,
        f.target,
        `${fmt(f.value)} ${f.unit}`,
        f.referenceValue === undefined ? "" : `${fmt(f.referenceValue)} ${f.unit}`,
        [f.delta === undefined ? "" : `${f.delta > 0 ? "+" : ""}${f.delta} ${f.unit}`, f.ratio ?? ""]
          .filter((x) => x !== "")
          .join(", "),
        f.spread ? `${fmt(f.spread[0])}–${fmt(f.spread[1])}` : "",
        f.size ?? "",
        f.target === "reported" ? "—" : f.met ? "yes" : "no",
      ]);
    }
  }
  return rows
    .map((cells) => `| ${cells.join(" | ")} |`)
    .join("\n")
    .replace(/\n/, `\n|${" --- |".repeat(rows[0].length)}\n`);
}

async function main() {
  const started = Date.now();
  const results = [];
  for (const r of RUNS) {
    process.stderr.write(`${r.join(" ")}\n`);
    results.push(await run(r));
  }
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const file = path.join(os.tmpdir(), "bench-results.json");
  fs.writeFileSync(
    file,
    JSON.stringify({ full, node: process.version, cpus: os.cpus().length, minutes, results }, null, 2),
  );
  console.log(table(results));
  console.log(
    `\n${full ? "full" : "quick"} sizes, ${minutes} min, Node ${process.version}, ${os.cpus().length} CPUs; all lines in ${file}`,
  );
  process.exitCode = results.some((r) => r.error) ? 1 : 0;
}

main();
