// HTTP property writes per second with recording on ÷ off, measured in one run.
// The server runs in a child pinned to CPU 0, autocannon (keep-alive) in this process on CPU 1;
// rounds alternate off/on so drift on a noisy machine hits both sides alike. Reports medians.
// Also reports server CPU µs per write (cpuRatio = off ÷ on: the share of throughput kept when the
// server is CPU-bound), which is steadier than req/s on a noisy VM.
// Extra plugin options for "on": BENCH_OPTIONS='{"td":{"historyAffordances":false}}'.
// Usage: node bench/http-ratio.js [rounds=3] [seconds=5] [connections=10]
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const autocannon = require("autocannon");

const [rounds = 3, seconds = 5, connections = 10] = process.argv.slice(2).map(Number);
const hasTaskset = (() => {
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (hasTaskset) execFileSync("taskset", ["-p", "-c", "1", String(process.pid)], { stdio: "ignore" });

function startServer(mode, dataDir) {
  const args = [path.join(__dirname, "http-server.js"), mode, dataDir];
  const child = hasTaskset
    ? spawn("taskset", ["-c", "0", process.execPath, ...args], {
        stdio: ["ignore", "pipe", "inherit", "ipc"],
      })
    : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /PORT=(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

function cpu(child) {
  return new Promise((resolve) => {
    child.once("message", (u) => resolve(u.user + u.system));
    child.send("cpu");
  });
}

async function load(port, duration) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/bench/properties/v`,
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "42",
    connections,
    duration,
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, total: result.requests.total };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const results = { off: [], on: [] };
  const cpuPerRequest = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-bench-"));
      const { child, port } = await startServer(mode, dir);
      await load(port, 1); // warm-up
      const before = await cpu(child);
      const { rps, total } = await load(port, seconds);
      const usPerRequest = ((await cpu(child)) - before) / total;
      results[mode].push(rps);
      cpuPerRequest[mode].push(usPerRequest);
      child.kill("SIGTERM");
      await new Promise((res) => child.on("exit", res));
      fs.rmSync(dir, { recursive: true, force: true });
      console.log(
        `round ${r + 1} ${mode.padEnd(3)} ${Math.round(rps)} writes/s, ${usPerRequest.toFixed(1)} µs CPU/write`,
      );
    }
  }
  const off = median(results.off);
  const on = median(results.on);
  console.log(
    JSON.stringify({
      bench: "http-ratio",
      connections,
      seconds,
      rounds,
      pinned: hasTaskset,
      offMedian: Math.round(off),
      onMedian: Math.round(on),
      ratio: Number((on / off).toFixed(3)),
      cpuUsPerWrite: {
        off: Number(median(cpuPerRequest.off).toFixed(1)),
        on: Number(median(cpuPerRequest.on).toFixed(1)),
      },
      cpuRatio: Number((median(cpuPerRequest.off) / median(cpuPerRequest.on)).toFixed(3)),
    }),
  );
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
