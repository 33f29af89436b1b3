// Newest 1,000 points of one affordance from a history of N rows (default 10 M), median of many
// queries through HistoryStore.query. Usage: node bench/history-query.js [rows=10000000] [series=10]
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { openDatabase } = require("../dist/store/database.js");
const { HistoryStore } = require("../dist/store/history.js");

const [rows = 10_000_000, seriesCount = 10] = process.argv.slice(2).map(Number);

function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-hq-"));
  const db = openDatabase({ file: path.join(dir, "vo.sqlite"), synchronous: "normal", busyTimeoutMs: 1000 });
  const store = new HistoryStore(db, { maxLimit: 10_000 });
  const t0 = Date.now();
  for (let s = 0; s < seriesCount; s++) {
    db.prepare(
      "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES (?, ?, 'property', ?)",
    ).run("urn:bench", "Bench", `p${s}`);
  }
  // Interleaved series, one row per millisecond, as a busy VO would write them.
  const start = Date.now() - rows;
  db.prepare(
    `WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < ? - 1)
     INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, source)
     SELECT (x % ?) + 1, ? + x, 0, 'write', 1, CAST(20 + (x % 100) / 10.0 AS TEXT), 'http' FROM c`,
  ).run(rows, seriesCount, start);
  const loadSeconds = (Date.now() - t0) / 1000;
  const times = [];
  for (let i = 0; i < 200; i++) {
    const name = `p${i % seriesCount}`;
    const q0 = process.hrtime.bigint();
    const result = store.query({ thingId: "urn:bench", kind: "property", name, limit: 1000 });
    times.push(Number(process.hrtime.bigint() - q0) / 1e6);
    if (result.length !== 1000) throw new Error(`expected 1000 rows, got ${result.length}`);
  }
  times.sort((a, b) => a - b);
  const ranged = [];
  for (let i = 0; i < 50; i++) {
    const from = start + Math.floor(Math.random() * (rows - 100_000));
    const q0 = process.hrtime.bigint();
    store.aggregate({
      thingId: "urn:bench",
      kind: "property",
      name: "p3",
      from,
      to: from + 100_000,
      windowMs: 10_000,
    });
    ranged.push(Number(process.hrtime.bigint() - q0) / 1e6);
  }
  ranged.sort((a, b) => a - b);
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      bench: "history-query",
      rows,
      series: seriesCount,
      loadSeconds,
      newest1000MedianMs: Number(times[times.length >> 1].toFixed(3)),
      newest1000P95Ms: Number(times[Math.floor(times.length * 0.95)].toFixed(3)),
      aggregate10WindowsMedianMs: Number(ranged[ranged.length >> 1].toFixed(3)),
    }),
  );
}
main();
