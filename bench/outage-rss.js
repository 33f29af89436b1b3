// RSS growth while N records (default 1 M) wait for an InfluxDB outage to end: the servient runs
// with InfluxDB configured at an address where nothing listens, records arrive in bursts, and the
// resident set is sampled. Usage: node bench/outage-rss.js [records=1000000]
"use strict";
const { startTestVo } = require("../test/helpers/vo.js");
const { freePort } = require("../test/helpers/servers.js");

async function main() {
  const records = Number(process.argv[2] ?? 1_000_000);
  const vo = await startTestVo({
    influxdb: { enabled: true, apiVersion: 1, url: `http://127.0.0.1:${await freePort()}`, database: "x" },
  });
  const history = vo.servient.vo.history;
  const mb = () => process.memoryUsage().rss / 1048576;
  if (global.gc) global.gc();
  const before = mb();
  let peak = before;
  for (let i = 0; i < records; i += 5000) {
    let last;
    for (let j = i; j < i + 5000 && j < records; j++) {
      last = history.append({
        thingId: "urn:rss",
        thingTitle: "RSS",
        kind: "property",
        name: `p${j % 8}`,
        op: "write",
        ok: true,
        valueJson: String(j % 1000),
        source: "http",
      });
    }
    await last;
    peak = Math.max(peak, mb());
  }
  await new Promise((r) => setTimeout(r, 2000)); // let the shipper retry a few times
  peak = Math.max(peak, mb());
  const status = vo.servient.influxdb.status();
  await vo.stop();
  console.log(
    JSON.stringify({
      bench: "outage-rss",
      records,
      queued: status.queued,
      state: status.state,
      rssBeforeMB: Number(before.toFixed(1)),
      rssPeakMB: Number(peak.toFixed(1)),
      rssGrowthMB: Number((peak - before).toFixed(1)),
    }),
  );
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
