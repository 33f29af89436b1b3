// Points per second shipped from the SQLite outbox to a real InfluxDB 1.6.7 on loopback.
//
//   npx tsc -p . && node bench/influx-ship.js [records=200000] [batchSize=5000]
//
// 1. fills a fresh history with `records` interactions (numbers, integers, objects, events, actions)
//    with InfluxDB disabled, 2. reopens the same data directory with InfluxDB enabled (API v1, tagged
//    layout) and times the shipper draining that backlog, 3. checks the count in InfluxDB.
"use strict";
const { startInfluxd } = require("../test/helpers/servers.js");
const { startTestVo, tempDir } = require("../test/helpers/vo.js");

async function main() {
  const records = Number(process.argv[2] ?? 200000);
  const batchSize = Number(process.argv[3] ?? 5000);
  const influx = await startInfluxd();
  const dir = tempDir("nwv-bench-influx-");
  try {
    // 1. The backlog.
    const filler = await startTestVo({ dataDir: dir });
    const h = filler.servient.vo.history;
    const t0 = Date.now() - records;
    for (let i = 0; i < records; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(records, i + 1000); j++) {
        const k = j % 10;
        const base = {
          thingId: `urn:bench:${j % 20}`,
          thingTitle: `Sensor ${j % 20}`,
          source: "http",
          ok: true,
          time: t0 + j,
        };
        if (k < 5)
          batch.push(
            h.append({
              ...base,
              kind: "property",
              name: "temperature",
              op: "write",
              valueJson: String(20 + (j % 100) / 10),
            }),
          );
        else if (k < 7)
          batch.push(
            h.append({
              ...base,
              kind: "property",
              name: "pm",
              op: "write",
              valueJson: JSON.stringify({ pm25: j % 50, pm10: j % 80, unit: "ug/m3" }),
            }),
          );
        else if (k < 9)
          batch.push(h.append({ ...base, kind: "event", name: "tick", op: "emit", valueJson: String(j) }));
        else
          batch.push(
            h.append({
              ...base,
              kind: "action",
              name: "reset",
              op: "invoke",
              valueJson: '{"hard":true}',
              outputJson: '"done"',
              durationMs: 1.5,
            }),
          );
      }
      await Promise.all(batch);
    }
    await filler.stop();

    // 2. Ship it.
    const started = process.hrtime.bigint();
    const vo = await startTestVo({
      dataDir: dir,
      influxdb: {
        enabled: true,
        apiVersion: 1,
        url: influx.url,
        database: "bench",
        createBucket: true,
        batchSize,
      },
    });
    const inf = vo.servient.influxdb;
    const ok = await inf.flush(600000);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = inf.status();
    await vo.stop();

    // 3. Check.
    const json = await influx.query('SELECT count("ok") FROM /wot_.*/', "bench");
    const arrived = json.results[0].series.reduce((n, s) => n + s.values[0][1], 0);
    const result = {
      bench: "influx-ship",
      server: "InfluxDB 1.6.7 (loopback)",
      layout: "tagged",
      records,
      batchSize,
      seconds: Number(seconds.toFixed(2)),
      pointsPerSecond: Math.round(records / seconds),
      shipped: status.shipped,
      arrived,
      complete: ok && arrived === records,
    };
    console.log(JSON.stringify(result));
    if (!result.complete) process.exitCode = 1;
  } finally {
    await influx.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
