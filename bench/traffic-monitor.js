// Server CPU per request of a plain node:http server with the traffic monitor's gate in front of
// its handler ("on") against the same server without it ("off"), measured in one run.
// The server runs in a child pinned to CPU 0, autocannon (keep-alive) in this process on CPU 1;
// rounds alternate off/on so drift on a noisy machine hits both sides alike. Reports medians of
// server CPU µs per request (process.cpuUsage in the child around each load run). The gated thing
// has a service with limits and speeds far above the load, so the limit checks run every time.
// Also times the gate alone in-process (one call plus its close listener), for the hot path's floor.
// Target (ARCHITECTURE §8): ≤ 2 µs CPU per request.
//
//   npm run build && node bench/traffic-monitor.js [--full] [--rounds R] [--seconds S] [--connections C]
//   node bench/traffic-monitor.js [rounds] [seconds] [connections]   (positional, as before)
//   node bench/traffic-monitor.js server on|off <dataDir>             (the child)
//
// Quick: 3 rounds × 3 s; --full: 5 rounds × 5 s; 10 connections.
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const lib = require("./lib.js");
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
  // Required here, not above: http-lib pins this process to CPU 1, the child stays on CPU 0.
  const { startChild, stopServer, cpu, load } = require("./http-lib.js");
  const args = lib.flags();
  // Positional rounds, seconds, connections (the old usage) win over the flags.
  const [
    rounds = args.rounds ?? (args.full ? 5 : 3),
    seconds = args.seconds ?? (args.full ? 5 : 3),
    connections = args.connections ?? 10,
  ] = args._;

  const usPerRequest = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
      const dir = lib.tempDir("nwv-bench-tm-");
      const { child, port } = await startChild([__filename, "server", mode, dir]);
      await load(port, "read", 1, connections); // warm-up
      const before = await cpu(child);
      const { total } = await load(port, "read", seconds, connections);
      const us = ((await cpu(child)) - before) / total;
      usPerRequest[mode].push(us);
      await stopServer(child);
      fs.rmSync(dir, { recursive: true, force: true });
      process.stderr.write(
        `round ${r + 1} ${mode.padEnd(3)} ${total} requests, ${us.toFixed(2)} µs server CPU/request\n`,
      );
    }
  }
  const dir = lib.tempDir("nwv-bench-tm-");
  const aloneUs = gateAlone(dir) / 1000;
  fs.rmSync(dir, { recursive: true, force: true });
  process.stderr.write(`gate alone ${aloneUs.toFixed(3)} µs per call\n`);
  const off = lib.median(usPerRequest.off);
  const on = lib.median(usPerRequest.on);
  const cost = on - off;
  const size = `${rounds} rounds × ${seconds} s, ${connections} connections`;
  lib.report(
    "traffic-monitor",
    [
      {
        what: "server CPU µs per request, traffic monitor on",
        reference: "gate off",
        target: "≤ +2 µs",
        value: lib.round(on, 1),
        unit: "µs",
        referenceValue: lib.round(off, 1),
        delta: lib.round(cost, 1),
        ratio: lib.round(on / off, 3),
        spread: lib.spread(usPerRequest.on).map((x) => lib.round(x, 1)),
        size,
        met: cost <= 2,
      },
      {
        what: "traffic monitor gate alone, in process, CPU µs per call",
        reference: "the same loop without the gate",
        target: "≤ 2 µs",
        value: lib.round(aloneUs, 3),
        unit: "µs",
        size: "5 rounds × 300,000 calls on real node:http objects",
        met: aloneUs <= 2,
      },
    ],
    {
      rounds,
      seconds,
      connections,
      pinned: lib.hasTaskset,
      usPerRequest,
      ratio: lib.round(on / off, 3),
      costUs: lib.round(cost, 2),
      gateAloneUs: lib.round(aloneUs, 3),
    },
  );
}

if (process.argv[2] === "server") server(process.argv[3], process.argv[4]);
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
