// Records committed per second in process (group commit) into a real SQLite file.
// Appends arrive in bursts of `burst` records per event-loop turn, as concurrent interactions do;
// each burst shares one transaction. Usage: node bench/records.js [records=500000] [burst=5000]
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { openDatabase } = require("../dist/store/database.js");
const { HistoryStore } = require("../dist/store/history.js");

const [total = 500_000, burst = 5000] = process.argv.slice(2).map(Number);

async function run(synchronous) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-rec-"));
  const db = openDatabase({ file: path.join(dir, "vo.sqlite"), synchronous, busyTimeoutMs: 1000 });
  const store = new HistoryStore(db);
  const names = ["temperature", "humidity", "targetTemperature", "mode"];
  const started = process.hrtime.bigint();
  for (let done = 0; done < total; done += burst) {
    let last;
    for (let i = 0; i < burst; i++) {
      last = store.append({
        thingId: "urn:bench",
        thingTitle: "Bench",
        kind: "property",
        name: names[i & 3],
        op: "write",
        ok: true,
        valueJson: String(20 + (i % 100) / 10),
        source: "http",
      });
    }
    await last;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return Math.round(total / seconds);
}

async function main() {
  const normal = await run("normal");
  const full = await run("full");
  console.log(JSON.stringify({ bench: "records", total, burst, recordsPerSecond: { normal, full } }));
}
main();
