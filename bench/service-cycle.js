// Start and stop of a small service, many times over, on a real servient with an HTTP server:
// what a service manager does for one start (verify the layer, run the script in its sandbox
// until its thing is exposed) and one stop (destroy, clear, release; checksum the storage folder).
// Prints median/p95 ms of each, and heap, RSS and active handles before and after (after a full
// GC), which must stay flat. Target (ARCHITECTURE §8): < 100 ms each, flat memory over 200 cycles
// ("flat" here: heap < +5 MB, RSS < +32 MB, the same active handles).
//
//   npm run build && node bench/service-cycle.js [--full] [--cycles N]
//   node bench/service-cycle.js [cycles]   (positional, as before)
//
// Quick: 50 cycles; --full: 200 (after 10 warm-up cycles either way).
"use strict";
require("../dist/quirks.js");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const v8 = require("node:v8");
const vm = require("node:vm");
const lib = require("./lib.js");
const { Servient } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { ServiceSandbox } = require("../dist/service-manager/sandbox.js");
const { readServicePackage } = require("../dist/service-manager/package.js");
const { layerDigest, resolveLayers, installLayer } = require("../dist/service-manager/layers-digest.js");
const { prepareStorageFolder, stateChecksum } = require("../dist/service-manager/storage.js");

const args = lib.flags();
const [cycles = args.cycles ?? (args.full ? 200 : 50)] = args._;
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

const SCRIPT = `"use strict";
const { round } = require("rounding");
let t = 20;
WoT.produce({
  title: "Bench Sensor",
  properties: { temperature: { type: "number", readOnly: true, observable: true } },
  events: { changed: { data: { type: "number" } } },
}).then((thing) => {
  thing.setPropertyReadHandler("temperature", async () => t);
  setInterval(() => {
    t = round(t + Math.random() - 0.5);
    thing.emitEvent("changed", t);
  }, 50);
  return thing.expose();
});
`;

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      })
      .on("error", reject);
  });
}

function handles() {
  const counts = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

async function settle() {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return { heapMB: m.heapUsed / 2 ** 20, rssMB: m.rss / 2 ** 20 };
}

const mb = (x) => lib.round(x, 1);
const ms = (x) => lib.round(x, 2);

async function main() {
  const root = lib.tempDir("nwv-svc-");
  const layerSrc = path.join(root, "layer-src");
  fs.mkdirSync(layerSrc);
  fs.writeFileSync(path.join(layerSrc, "rounding.js"), "exports.round = (x) => Math.round(x * 100) / 100;\n");
  const digest = await layerDigest(layerSrc);
  const layerDir = await installLayer(layerSrc, digest, path.join(root, "layers"));
  const services = path.join(root, "services");
  fs.mkdirSync(path.join(services, "sensor"), { recursive: true });
  fs.writeFileSync(path.join(services, "sensor", "index.js"), SCRIPT);
  fs.writeFileSync(
    path.join(services, "sensor", "service.json"),
    JSON.stringify({ id: "sensor", version: 1, provider: "bench", layers: [digest] }),
  );
  const pkg = readServicePackage(services, "sensor");
  const storageDir = await prepareStorageFolder(path.join(root, "storage"), pkg.id, ["bench"]);
  fs.writeFileSync(path.join(storageDir, "state.json"), JSON.stringify({ t: 20 }));

  const servient = new Servient();
  const server = new HttpServer({ port: 0, address: "127.0.0.1" });
  servient.addServer(server);
  const wot = await servient.start();
  const url = `http://127.0.0.1:${server.getPort()}/bench-sensor/properties/temperature`;

  const startMs = [];
  const stopMs = [];
  const sandboxStartMs = [];
  const heapTrend = [];
  let before;
  let handlesBefore;
  const warmup = 10;
  for (let i = 0; i < warmup + cycles; i++) {
    if (i === warmup) {
      before = await settle();
      handlesBefore = handles();
    }
    const t0 = process.hrtime.bigint();
    const layers = await resolveLayers(pkg.layers, (d) => (d === digest ? layerDir : undefined));
    const sb = new ServiceSandbox({
      id: pkg.id,
      version: pkg.version,
      provider: pkg.provider,
      scriptPath: pkg.main,
      serviceDir: pkg.dir,
      layers,
      storageDir,
      wot,
    });
    const t1 = process.hrtime.bigint();
    await sb.start();
    const t2 = process.hrtime.bigint();
    if ((await get(url)) !== 200) throw new Error(`cycle ${i}: the started service did not answer`);
    const t3 = process.hrtime.bigint();
    await sb.stop();
    await stateChecksum(storageDir);
    const t4 = process.hrtime.bigint();
    if ((await get(url)) !== 404) throw new Error(`cycle ${i}: the stopped service still answers`);
    if (sb.activeTimers() !== 0) throw new Error(`cycle ${i}: timers left after stop`);
    if (i >= warmup) {
      startMs.push(Number(t2 - t0) / 1e6);
      sandboxStartMs.push(Number(t2 - t1) / 1e6);
      stopMs.push(Number(t4 - t3) / 1e6);
      if ((i - warmup + 1) % 50 === 0) heapTrend.push(mb((await settle()).heapMB));
    }
  }
  const after = await settle();
  const handlesAfter = handles();
  await servient.shutdown();
  fs.rmSync(root, { recursive: true, force: true });

  const result = {
    cycles,
    startMedianMs: ms(lib.median(startMs)),
    startP95Ms: ms(lib.quantile(startMs, 0.95)),
    sandboxStartMedianMs: ms(lib.median(sandboxStartMs)),
    stopMedianMs: ms(lib.median(stopMs)),
    stopP95Ms: ms(lib.quantile(stopMs, 0.95)),
    heapBeforeMB: mb(before.heapMB),
    heapAfterMB: mb(after.heapMB),
    heapEvery50: heapTrend,
    rssBeforeMB: mb(before.rssMB),
    rssAfterMB: mb(after.rssMB),
    handlesBefore,
    handlesAfter,
  };
  process.stderr.write(
    `start ${result.startMedianMs} ms median (p95 ${result.startP95Ms}), stop ${result.stopMedianMs} ms ` +
      `median (p95 ${result.stopP95Ms}); heap ${result.heapBeforeMB} → ${result.heapAfterMB} MB, ` +
      `RSS ${result.rssBeforeMB} → ${result.rssAfterMB} MB, handles ${JSON.stringify(handlesBefore)} → ` +
      `${JSON.stringify(handlesAfter)}\n`,
  );
  const handleChange = Object.keys({ ...handlesBefore, ...handlesAfter }).reduce(
    (sum, k) => sum + Math.abs((handlesAfter[k] ?? 0) - (handlesBefore[k] ?? 0)),
    0,
  );
  const heapGrowth = after.heapMB - before.heapMB;
  const rssGrowth = after.rssMB - before.rssMB;
  const size = `${cycles} cycles after 10 warm-up`;
  lib.report(
    "service-cycle",
    [
      ...[
        ["start (verify layer, run script until exposed)", startMs],
        ["stop (destroy, release, state checksum)", stopMs],
      ].map(([what, times]) => ({
        what: `service ${what}, median`,
        reference: "—",
        target: "< 100 ms",
        ...lib.timings(times),
        size,
        met: lib.median(times) < 100,
      })),
      {
        what: "heap growth over the start/stop cycles (after full GC)",
        reference: `heap before (${result.heapBeforeMB} MB)`,
        target: "flat (< 5 MB)",
        value: mb(heapGrowth),
        unit: "MB",
        size,
        met: heapGrowth < 5,
      },
      {
        what: "RSS growth over the start/stop cycles",
        reference: `RSS before (${result.rssBeforeMB} MB)`,
        target: "flat (< 32 MB)",
        value: mb(rssGrowth),
        unit: "MB",
        size,
        met: rssGrowth < 32,
      },
      {
        what: "active handles changed over the start/stop cycles",
        reference: `handles before (${Object.values(handlesBefore).reduce((a, b) => a + b, 0)})`,
        target: "flat (0)",
        value: handleChange,
        unit: "handles",
        size,
        met: handleChange === 0,
      },
    ],
    result,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
