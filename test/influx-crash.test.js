// Crash: a servient child process is killed with SIGKILL while it ships; restarted on the same data
// directory, it ships every record that was committed, and InfluxDB holds each exactly once.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const readline = require("node:readline");
const { spawn } = require("node:child_process");
const Database = require("better-sqlite3");
const { startInfluxd } = require("./helpers/servers.js");
const { tempDir, waitFor } = require("./helpers/vo.js");

const CHILD = path.join(__dirname, "fixtures", "influx-crash-child.js");

/** Spawns the child; `latest()` is its last reported status. */
function child(dir, url, mode) {
  const proc = spawn(process.execPath, [CHILD, dir, url, mode], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_WOT_VO_QUIET: "1" },
  });
  let latest;
  let stderr = "";
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    if (line.startsWith("status ")) latest = JSON.parse(line.slice(7));
  });
  proc.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return { proc, exited, latest: () => latest, stderr: () => stderr };
}

async function influxCount(influx) {
  const json = await influx.query(
    'SELECT count("value_int") FROM "wot_event" WHERE "name" = \'tick\'',
    "crash",
  );
  return json.results[0].series?.[0]?.values[0][1] ?? 0;
}

test("SIGKILL while shipping, restart: every committed record arrives exactly once", async () => {
  const influx = await startInfluxd();
  const dir = tempDir("nwv-crash-");
  try {
    const first = child(dir, influx.url, "produce");
    await waitFor(() => first.latest()?.shipped >= 2000, {
      timeoutMs: 60000,
      what: `the child to ship 2000 records (stderr: ${first.stderr()})`,
    });
    // Kill it while it is still producing and shipping.
    assert.ok(first.latest().queued >= 0);
    first.proc.kill("SIGKILL");
    const { signal } = await first.exited;
    assert.equal(signal, "SIGKILL");

    // What the store committed before the crash (the WAL survives SIGKILL).
    const db = new Database(path.join(dir, "vo.sqlite"), { readonly: true });
    const committed = db
      .prepare(
        `SELECT COUNT(*) AS n FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id
         WHERE s.kind = 'event' AND s.name = 'tick'`,
      )
      .get().n;
    const cursor = Number(
      db.prepare("SELECT value FROM wotvo_meta WHERE key = 'influx.cursor'").get()?.value ?? 0,
    );
    db.close();
    assert.ok(committed >= 2000, `committed ${committed}`);
    const before = await influxCount(influx);
    assert.ok(before >= cursor, "everything up to the persisted cursor had been accepted");

    const second = child(dir, influx.url, "idle");
    try {
      await waitFor(async () => (await influxCount(influx)) >= committed, {
        timeoutMs: 60000,
        what: `InfluxDB to hold the ${committed} committed records`,
      });
      await waitFor(() => second.latest()?.queued === 0, {
        what: "the restarted child to report an empty outbox",
      });
      assert.equal(await influxCount(influx), committed, "each record exactly once");
      const values = await influx.query(
        'SELECT count(distinct("value_int")) FROM "wot_event" WHERE "name" = \'tick\'',
        "crash",
      );
      assert.equal(values.results[0].series[0].values[0][1], committed, "every value, none twice");
    } finally {
      second.proc.kill("SIGTERM");
      await second.exited;
    }
  } finally {
    await influx.destroy();
  }
});
