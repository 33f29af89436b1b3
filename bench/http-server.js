// Benchmark server: one thing with a writable number, stock node-wot ("off") or with node-wot-vo
// attached ("on"). Prints PORT=<n> when ready. Usage: node bench/http-server.js on|off <dataDir>
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
  // BENCH_OPTIONS (JSON) is merged into the plugin options, to measure one feature at a time.
  const extra = JSON.parse(process.env.BENCH_OPTIONS ?? "{}");
  if (mode === "on") attach(servient, { dataDir, ...extra, vo: { selfCheck: { enabled: false } } });
  const wot = await servient.start();
  const thing = await wot.produce({ title: "bench", properties: { v: { type: "number" } } });
  let v = 0;
  thing.setPropertyReadHandler("v", async () => v);
  thing.setPropertyWriteHandler("v", async (io) => {
    v = await io.value();
  });
  await thing.expose();
  // The parent asks for CPU time around each load run (µs per request is steadier than req/s).
  process.on("message", () => process.send?.(process.cpuUsage()));
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
