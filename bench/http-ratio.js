// HTTP property writes and action invocations per second with recording on (node-wot-vo attached)
// ÷ off (stock node-wot), measured in one run, and the server's CPU µs per request. The server runs
// in a child pinned to CPU 0, autocannon (keep-alive, 10 connections) here on CPU 1; rounds
// alternate off/on so drift on a noisy machine hits both sides alike; each round starts a fresh
// server and warms it up first. Reports medians and spread. CPU per request comes from
// process.cpuUsage() deltas around a fixed load (steadier than req/s on a noisy VM).
//
//   npm run build && node bench/http-ratio.js [--full] [--rounds R] [--seconds S] [--connections C]
//
// Extra plugin options for "on": BENCH_OPTIONS='{"td":{"historyAffordances":false}}'.
"use strict";
const fs = require("node:fs");
const lib = require("./lib.js");
const { startServer, stopServer, cpu, load } = require("./http-lib.js");

const args = lib.flags();
const rounds = args.rounds ?? (args.full ? 5 : 3);
const seconds = args.seconds ?? (args.full ? 5 : 3);
const connections = args.connections ?? 10;

async function measure(kind) {
  const results = { off: [], on: [] };
  const cpuPer = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
      const dir = lib.tempDir("nwv-bench-http-");
      const { child, port } = await startServer(mode, dir);
      await load(port, kind, 1, connections); // warm-up
      const before = await cpu(child);
      const { rps, total } = await load(port, kind, seconds, connections);
      const usPer = ((await cpu(child)) - before) / total;
      results[mode].push(rps);
      cpuPer[mode].push(usPer);
      await stopServer(child);
      fs.rmSync(dir, { recursive: true, force: true });
      process.stderr.write(
        `${kind} round ${r + 1} ${mode.padEnd(3)} ${Math.round(rps)}/s, ${usPer.toFixed(1)} µs CPU each\n`,
      );
    }
  }
  const off = lib.median(results.off);
  const on = lib.median(results.on);
  return {
    off,
    on,
    ratio: on / off,
    spread: { off: lib.spread(results.off).map(Math.round), on: lib.spread(results.on).map(Math.round) },
    cpuUs: { off: lib.median(cpuPer.off), on: lib.median(cpuPer.on) },
  };
}

async function main() {
  const writes = await measure("write");
  const invokes = await measure("invoke");
  const size = `${rounds} rounds × ${seconds} s, ${connections} connections`;
  const cpuDelta = writes.cpuUs.on - writes.cpuUs.off;
  lib.report(
    "http-ratio",
    [
      {
        what: "HTTP property writes/s keep-alive (autocannon), recording on",
        reference: "plugin not attached",
        target: "≥ 1.0",
        value: Math.round(writes.on),
        unit: "writes/s",
        referenceValue: Math.round(writes.off),
        ratio: lib.round(writes.ratio, 3),
        spread: writes.spread.on,
        size,
        met: writes.ratio >= 1.0,
      },
      {
        what: "HTTP action invocations/s, recording on",
        reference: "plugin not attached",
        target: "≥ 0.95",
        value: Math.round(invokes.on),
        unit: "invocations/s",
        referenceValue: Math.round(invokes.off),
        ratio: lib.round(invokes.ratio, 3),
        spread: invokes.spread.on,
        size,
        met: invokes.ratio >= 0.95,
      },
      {
        what: "server CPU µs per recorded write",
        reference: "plugin not attached",
        target: "≤ +0 µs",
        value: lib.round(writes.cpuUs.on, 1),
        unit: "µs",
        referenceValue: lib.round(writes.cpuUs.off, 1),
        delta: lib.round(cpuDelta, 1),
        size,
        met: cpuDelta <= 0,
      },
    ],
    { rounds, seconds, connections, pinned: lib.hasTaskset, writes, invokes },
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
