// Benchmark server: one thing with a writable number and an action, stock node-wot ("off") or with
// node-wot-vo attached and recording ("on"). Prints PORT=<n> when ready; answers "cpu" messages
// with process.cpuUsage() and "shipped" with the InfluxDB status.
// Usage: node bench/http-server.js on|off <dataDir>
// BENCH_OPTIONS (JSON) is merged into the plugin options, to measure one feature at a time
// (e.g. an InfluxDB to ship to: '{"influxdb":{"enabled":true,"apiVersion":1,"url":"…"}}').
"use strict";
require("../dist/quirks.js");
const { Servient, Helpers } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { attach } = require("../dist/index.js");

async function main() {
  const [mode, dataDir] = process.argv.slice(2);
  Helpers.setStaticAddress("127.0.0.1");
  const servient = new Servient();
  const server = new HttpServer({ port: 0, address: "127.0.0.1" });
  servient.addServer(server);
  const extra = JSON.parse(process.env.BENCH_OPTIONS ?? "{}");
  if (mode === "on") attach(servient, { dataDir, ...extra, vo: { selfCheck: { enabled: false } } });
  const wot = await servient.start();
  const thing = await wot.produce({
    title: "bench",
    properties: { v: { type: "number" } },
    actions: { act: { input: { type: "number" }, output: { type: "number" } } },
  });
  let v = 0;
  thing.setPropertyReadHandler("v", async () => v);
  thing.setPropertyWriteHandler("v", async (io) => {
    v = await io.value();
  });
  thing.setActionHandler("act", async (io) => (await io.value()) * 2);
  await thing.expose();
  process.on("message", (m) => {
    if (m === "shipped") process.send?.(servient.influxdb?.status() ?? {});
    else process.send?.(process.cpuUsage());
  });
  if (mode === "on") {
    process.on("exit", () => {
      const h = servient.vo.history;
      process.stderr.write(`records per commit: ${(h.committedCount / h.transactionCount).toFixed(2)}\n`);
    });
  }
  process.stdout.write(`PORT=${server.getPort()}\n`);
  process.on("SIGTERM", () => servient.shutdown().finally(() => process.exit(0)));
}
main();
