// Server CPU per request of a plain node:http server with the traffic monitor's gate in front of
// its handler ("on") against the same server without it ("off"), measured in one run.
// The server runs in a child pinned to CPU 0, autocannon (keep-alive) in this process on CPU 1;
// rounds alternate off/on so drift on a noisy machine hits both sides alike. Reports medians of
// server CPU µs per request (process.cpuUsage in the child around each load run). The gated thing
// has a service with limits and speeds far above the load, so the limit checks run every time.
// Also times the gate alone in-process (one call plus its close listener), for the hot path's floor.
// Usage: node bench/traffic-monitor.js [rounds=3] [seconds=5] [connections=10]
//        node bench/traffic-monitor.js server on|off <dataDir>   (the child)
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { ServiceManagerStore, serviceManagerFile } = require("../dist/service-manager/store.js");
const { TrafficMonitor } = require("../dist/service-manager/traffic-monitor.js");

const THING = { title: "bench" };

function openMonitor(dataDir) {
  const store = ServiceManagerStore.open({ file: serviceManagerFile(dataDir) });
  store.addService({
    id: "bench",
    unit: "bench",
    ulLimit: 1e15,
    dlLimit: 1e15,
    ulSpeed: 1e12,
    dlSpeed: 1e12,
  });
  return { store, monitor: new TrafficMonitor({ store }) };
}

function server(mode, dataDir) {
  const gate = mode === "on" ? openMonitor(dataDir).monitor.gate : undefined;
  const body = Buffer.from('{"value":42}');
  const srv = http.createServer((req, res) => {
    if (gate !== undefined && !gate("bench", THING, req, res)) return;
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
  });
  srv.listen(0, "127.0.0.1", () => process.stdout.write(`PORT=${srv.address().port}\n`));
  process.on("message", () => process.send?.(process.cpuUsage()));
  process.on("SIGTERM", () => process.exit(0));
}

/**
 * ns per gate call in-process, on real node:http request/response objects over a real (unconnected)
 * net.Socket, with the close listener it registers run too; the same loop without the gate is
 * subtracted.
 */
function gateAlone(dataDir) {
  const { store, monitor } = openMonitor(dataDir);
  const socket = new net.Socket();
  const n = 300_000;
  const loop = (count, gated) => {
    for (let i = 0; i < count; i++) {
      const req = new http.IncomingMessage(socket);
      const res = new http.ServerResponse(req);
      if (gated) monitor.gate("bench", THING, req, res);
      res.emit("close");
    }
  };
  const median = [];
  for (let round = 0; round < 5; round++) {
    loop(50_000, false);
    loop(50_000, true);
    let t = process.hrtime.bigint();
    loop(n, false);
    const reference = Number(process.hrtime.bigint() - t) / n;
    t = process.hrtime.bigint();
    loop(n, true);
    median.push(Number(process.hrtime.bigint() - t) / n - reference);
  }
  socket.destroy();
  monitor.close();
  store.close();
  return Math.max(0, median.sort((a, b) => a - b)[2]);
}

async function main() {
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

  const start = (mode, dataDir) => {
    const args = [__filename, "server", mode, dataDir];
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
  };
  const cpu = (child) =>
    new Promise((resolve) => {
      child.once("message", (u) => resolve(u.user + u.system));
      child.send("cpu");
    });
  const load = async (port, duration) => {
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/bench/properties/value`,
      connections,
      duration,
    });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
    return result.requests.total;
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

  const usPerRequest = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-bench-tm-"));
      const { child, port } = await start(mode, dir);
      await load(port, 1); // warm-up
      const before = await cpu(child);
      const total = await load(port, seconds);
      const us = ((await cpu(child)) - before) / total;
      usPerRequest[mode].push(us);
      child.kill("SIGTERM");
      await new Promise((res) => child.on("exit", res));
      fs.rmSync(dir, { recursive: true, force: true });
      console.log(
        `round ${r + 1} ${mode.padEnd(3)} ${total} requests, ${us.toFixed(2)} µs server CPU/request`,
      );
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-bench-tm-"));
  const aloneNs = gateAlone(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const off = median(usPerRequest.off);
  const on = median(usPerRequest.on);
  console.log(
    JSON.stringify({
      figure: "traffic monitor: server CPU µs per request, gate on (value) vs off (reference)",
      value: Number(on.toFixed(2)),
      reference: Number(off.toFixed(2)),
      ratio: Number((on / off).toFixed(3)),
      costUs: Number((on - off).toFixed(2)),
      gateAloneUs: Number((aloneNs / 1000).toFixed(3)),
      targetCostUs: 2,
      rounds,
      seconds,
      connections,
      pinned: hasTaskset,
    }),
  );
}

if (process.argv[2] === "server") server(process.argv[3], process.argv[4]);
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
