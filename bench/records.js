// Records committed per second in process (group commit) into a real SQLite file, against the
// reference measured in the same run: better-sqlite3 inserting the same rows into the same table
// in one transaction with one prepared statement. Appends arrive in bursts of `burst` records per
// event-loop turn, as concurrent interactions do; each burst shares one transaction. Rounds
// alternate; medians and spread.
//
//   npm run build && node bench/records.js [--full] [--records N] [--burst B] [--rounds R] [--profile DIR]
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib.js");
const { profiled, topSelf } = require("./profile.js");
const { openDatabase } = require("../dist/store/database.js");
const { HistoryStore } = require("../dist/store/history.js");

const args = lib.flags();
const total = args.records ?? (args.full ? 1_000_000 : 300_000);
const burst = args.burst ?? 5000;
const rounds = args.rounds ?? (args.full ? 5 : 3);
const NAMES = ["temperature", "humidity", "targetTemperature", "mode"];

/** The records of one burst (the same for both sides; values seeded). */
const rnd = lib.seeded(7);
const records = Array.from({ length: burst }, (_, i) => ({
  thingId: "urn:bench",
  thingTitle: "Bench",
  kind: "property",
  name: NAMES[i & 3],
  op: "write",
  ok: true,
  valueJson: String(lib.round(15 + rnd() * 20, 2)),
  source: "http",
}));

function open() {
  const dir = lib.tempDir("nwv-rec-");
  const db = openDatabase({ file: path.join(dir, "vo.sqlite"), synchronous: "normal", busyTimeoutMs: 1000 });
  return { db, dir };
}

/** The plugin's store: appends in bursts, one group commit each. */
async function subject() {
  const { db, dir } = open();
  const store = new HistoryStore(db);
  const started = process.hrtime.bigint();
  for (let done = 0; done < total; done += burst) {
    let last;
    for (let i = 0; i < burst; i++) last = store.append(records[i]);
    await last;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return total / seconds;
}

/** better-sqlite3 alone: the same rows, one prepared INSERT, one transaction. */
function reference() {
  const { db, dir } = open();
  const series = NAMES.map(
    (name) =>
      db
        .prepare(
          "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES ('urn:bench', 'Bench', 'property', ?) RETURNING id",
        )
        .get(name).id,
  );
  const insert = db.prepare(
    `INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, output, error, duration_ms, source)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const now = Date.now();
  const started = process.hrtime.bigint();
  db.transaction(() => {
    for (let i = 0; i < total; i++) {
      const r = records[i % burst];
      insert.run(
        series[i & 3],
        now + Math.floor(i / 1000),
        i % 1000,
        r.op,
        1,
        r.valueJson,
        null,
        null,
        null,
        r.source,
      );
    }
  })();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return total / seconds;
}

async function main() {
  // Warm-up, untimed.
  reference();
  await subject();
  const results = { reference: [], subject: [] };
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? ["reference", "subject"] : ["subject", "reference"]) {
      const run = side === "reference" ? async () => reference() : subject;
      const rate =
        args.profile && side === "subject" && r === rounds - 1
          ? await profiled(args.profile, "records", run)
          : await run();
      results[side].push(rate);
      process.stderr.write(`round ${r + 1} ${side.padEnd(9)} ${Math.round(rate)} records/s\n`);
    }
  }
  const ref = lib.median(results.reference);
  const sub = lib.median(results.subject);
  const extra = {
    total,
    burst,
    rounds,
    reference: { median: Math.round(ref), spread: lib.spread(results.reference).map(Math.round) },
    subject: { median: Math.round(sub), spread: lib.spread(results.subject).map(Math.round) },
  };
  if (args.profile) {
    extra.profileTop = topSelf(
      JSON.parse(fs.readFileSync(path.join(args.profile, "records.cpuprofile"), "utf8")),
      12,
    );
  }
  lib.report(
    "records",
    [
      {
        what: "records committed/s in process (group commit)",
        reference: "better-sqlite3 inserting the same rows in one transaction",
        target: "≥ 0.6 and ≥ 250,000/s",
        value: Math.round(sub),
        unit: "records/s",
        referenceValue: Math.round(ref),
        ratio: lib.round(sub / ref, 3),
        spread: extra.subject.spread,
        size: `${total.toLocaleString("en")} records, bursts of ${burst}`,
        met: sub / ref >= 0.6 && sub >= 250_000,
      },
    ],
    extra,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
