// Server CPU per request of a plain node:http server with the traffic monitor's gate in front of
// its handler against the same server without a monitor ("off"), measured in one run, for a thing
// without limits ("on": the path every exposed thing takes) and for a thing whose service has
// limits and speeds far above the load ("limited": limit checks every time).
// One server process serves every mode: each phase creates a TrafficMonitor and puts its gate in
// front, or closes it and takes the gate away, in rotating order, so all modes share one process,
// heap and JIT state. (Two processes per round, as before, differed by ±3 µs per request on their
// own on this VM, more than the target.) The server runs pinned to CPU 0, autocannon (keep-alive)
// in this process on CPU 1. Reports the median over rounds of each mode's difference to the "off"
// phase of the same round, in server CPU µs per request (process.cpuUsage around each load phase).
// Also times the gate alone in-process (one call), for the floor.
// Target (ARCHITECTURE §8): ≤ 2 µs CPU per request.
//
//   npm run build && node bench/traffic-monitor.js [--full] [--rounds R] [--seconds S] [--connections C]
//   node bench/traffic-monitor.js [rounds] [seconds] [connections]   (positional, as before)
//   node bench/traffic-monitor.js server <dataDir>                    (the child)
//
// Quick: 8 rounds × 2 s per mode; --full: 20 rounds × 3 s; 10 connections.
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const lib = require("./lib.js");
const { ServiceManagerStore, serviceManagerFile } = require("../dist/service-manager/store.js");
const { TrafficMonitor } = require("../dist/service-manager/traffic-monitor.js");

const THING = { title: "bench" };
/** A thing whose service has limits and speeds far above the load: the exact path, checks every time. */
const LIMITED = { title: "limited" };

function openStore(dataDir) {
  const store = ServiceManagerStore.open({ file: serviceManagerFile(dataDir) });
  store.addService({
    id: "limited",
    unit: "limited",
    ulLimit: 1e15,
    dlLimit: 1e15,
    ulSpeed: 1e12,
    dlSpeed: 1e12,
  });
  return store;
}

/**
 * The child: "on" (the thing without limits), "limited" (the thing with limits) and "off" switch
 * the monitor; every message answers the CPU used so far.
 */
function server(dataDir) {
  const store = openStore(dataDir);
  let monitor;
  let gate;
  let thing = THING;
  const body = Buffer.from('{"value":42}');
  const srv = http.createServer((req, res) => {
    if (gate !== undefined && !gate(thing.title, thing, req, res)) return;
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
  });
  srv.listen(0, "127.0.0.1", () => process.stdout.write(`PORT=${srv.address().port}\n`));
  process.on("message", (what) => {
    if (what !== "cpu") {
      monitor?.close();
      monitor = gate = undefined;
    }
    if (what === "on" || what === "limited") {
      monitor = new TrafficMonitor({ store });
      gate = monitor.gate;
      thing = what === "on" ? THING : LIMITED;
    }
    process.send?.(process.cpuUsage());
  });
  process.on("SIGTERM", () => process.exit(0));
}

/**
 * ns per gate call in-process, on real node:http request/response objects over a real (unconnected)
 * net.Socket, for a thing without limits (the common path); the same loop without the gate is
 * subtracted.
 */
function gateAlone(dataDir) {
  const store = openStore(dataDir);
  const monitor = new TrafficMonitor({ store });
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
  const { startChild, stopServer, ask, load } = require("./http-lib.js");
  const args = lib.flags();
  // Positional rounds, seconds, connections (the old usage) win over the flags.
  const [
    rounds = args.rounds ?? (args.full ? 20 : 8),
    seconds = args.seconds ?? (args.full ? 3 : 2),
    connections = args.connections ?? 10,
  ] = args._;

  const dir = lib.tempDir("nwv-bench-tm-");
  const { child, port } = await startChild([__filename, "server", dir]);
  const cpuUs = (u) => u.user + u.system;
  for (const mode of ["on", "limited", "off"]) {
    await ask(child, mode);
    await load(port, "read", 1, connections); // warm-up, both ways
  }
  const modes = ["off", "on", "limited"];
  const usPerRequest = { off: [], on: [], limited: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
      const before = cpuUs(await ask(child, mode));
      const { total } = await load(port, "read", seconds, connections);
      const us = (cpuUs(await ask(child, "cpu")) - before) / total;
      usPerRequest[mode].push(us);
      process.stderr.write(
        `round ${r + 1} ${mode.padEnd(7)} ${total} requests, ${us.toFixed(2)} µs server CPU/request\n`,
      );
    }
  }
  await stopServer(child);
  fs.rmSync(dir, { recursive: true, force: true });
  const aloneDir = lib.tempDir("nwv-bench-tm-");
  const aloneUs = gateAlone(aloneDir) / 1000;
  fs.rmSync(aloneDir, { recursive: true, force: true });
  process.stderr.write(`gate alone ${aloneUs.toFixed(3)} µs per call\n`);
  const off = lib.median(usPerRequest.off);
  const deltas = (mode) => usPerRequest[mode].map((x, i) => x - usPerRequest.off[i]);
  const figure = (mode, what, target) => {
    const pairs = deltas(mode);
    const cost = lib.median(pairs);
    const on = lib.median(usPerRequest[mode]);
    return {
      what,
      reference: "the same server, monitor off",
      target,
      value: lib.round(on, 1),
      unit: "µs",
      referenceValue: lib.round(off, 1),
      delta: lib.round(cost, 1),
      ratio: lib.round(on / off, 3),
      spread: lib.spread(pairs).map((x) => lib.round(x, 1)),
      size: `${rounds} rounds × ${seconds} s per mode in one server process, ${connections} connections`,
      ...(target === "reported" ? {} : { met: cost <= 2 }),
    };
  };
  lib.report(
    "traffic-monitor",
    [
      figure("on", "server CPU µs per request, traffic monitor on (thing without limits)", "≤ +2 µs"),
      figure(
        "limited",
        "server CPU µs per request, traffic monitor on (thing with limits, every check run)",
        "≤ +2 µs",
      ),
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
      costUs: lib.round(lib.median(deltas("on")), 2),
      limitedCostUs: lib.round(lib.median(deltas("limited")), 2),
      gateAloneUs: lib.round(aloneUs, 3),
    },
  );
}

if (process.argv[2] === "server") server(process.argv[3]);
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
