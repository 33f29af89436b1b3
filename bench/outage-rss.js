// RSS growth while N records wait for an InfluxDB outage to end: a servient runs with InfluxDB
// configured at an address where nothing listens, records arrive in bursts of 5,000 (one group
// commit each), and the resident set is sampled; the reference is the RSS before the first record.
//
//   npm run build && node --expose-gc bench/outage-rss.js [--full] [--records N]
//
// Quick: 200,000 records; --full: 1,000,000.
"use strict";
const lib = require("./lib.js");
const { startTestVo } = require("../test/helpers/vo.js");
const { freePort } = require("../test/helpers/servers.js");

const args = lib.flags();
const records = args.records ?? (args.full ? 1_000_000 : 200_000);

async function main() {
  const vo = await startTestVo({
    influxdb: {
      enabled: true,
      apiVersion: 1,
      url: `http://127.0.0.1:${await freePort()}`,
      database: "x",
      retryDelayMs: 100,
      maxRetryDelayMs: 1000,
      shutdownFlushMs: 0,
    },
  });
  const history = vo.servient.vo.history;
  const mb = () => process.memoryUsage().rss / 1048576;
  // A first burst and a wait: the shipper has noticed the outage and everything is loaded.
  for (let j = 0; j < 5000; j++) void history.append(record(j));
  await new Promise((r) => setTimeout(r, 1000));
  global.gc?.();
  const before = mb();
  let peak = before;
  for (let i = 0; i < records; i += 5000) {
    let last;
    for (let j = i; j < i + 5000 && j < records; j++) last = history.append(record(j));
    await last;
    peak = Math.max(peak, mb());
  }
  await new Promise((r) => setTimeout(r, 2000)); // the shipper retries meanwhile
  peak = Math.max(peak, mb());
  const status = vo.servient.influxdb.status();
  await vo.stop();
  const growth = peak - before;
  lib.report(
    "outage-rss",
    [
      {
        what: `RSS growth while ${records.toLocaleString("en")} records wait out an outage`,
        reference: "RSS before",
        target: "≤ 64 MB",
        value: lib.round(growth, 1),
        unit: "MB",
        referenceValue: lib.round(before, 1),
        size: `${records.toLocaleString("en")} records; peak ${lib.round(peak, 1)} MB; state ${status.state}`,
        met: growth <= 64 && status.queued >= records,
      },
    ],
    { records, queued: status.queued, state: status.state },
  );
}

function record(j) {
  return {
    thingId: "urn:rss",
    thingTitle: "RSS",
    kind: "property",
    name: `p${j % 8}`,
    op: "write",
    ok: true,
    valueJson: String(j % 1000),
    source: "http",
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
