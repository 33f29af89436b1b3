// Fan-in: four servient processes, each with its own backlog of its own things, ship into one real
// InfluxDB 1.6.7 at once; every point of every process arrives, exactly once. (The rate of this is a
// benchmark, bench/fan-in.js; here only the count.)
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const readline = require("node:readline");
const { spawn } = require("node:child_process");
const { startInfluxd } = require("./helpers/servers.js");
const { tempDir } = require("./helpers/vo.js");
const { openStore, record } = require("./helpers/store.js");

const CHILD = path.join(__dirname, "fixtures", "fan-in-child.js");
const PROCESSES = 4;
const RECORDS = 3000;

/** A data directory holding a backlog of `n` records of thing `urn:fan:<p>` (events and properties). */
async function backlog(p, n) {
  const dir = tempDir(`nwv-fan-${p}-`);
  const { db, store } = openStore(path.join(dir, "vo.sqlite"));
  const all = [];
  for (let i = 0; i < n; i++) {
    const thing = { thingId: `urn:fan:${p}`, thingTitle: `Fan ${p}` };
    all.push(
      store.append(
        i % 3 === 0
          ? record("e", i, { ...thing, kind: "event", op: "emit", source: "local" })
          : record(i % 2 ? "p" : "q", { n: i, s: `v${i}` }, thing),
      ),
    );
  }
  await Promise.all(all);
  store.close();
  db.close();
  return dir;
}

function child(dir, url) {
  const proc = spawn(process.execPath, [CHILD, dir, url], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_WOT_VO_QUIET: "1" },
  });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let status;
    readline.createInterface({ input: proc.stdout }).on("line", (line) => {
      if (line.startsWith("status ")) status = JSON.parse(line.slice(7));
    });
    proc.on("exit", (code) =>
      code === 0 && status ? resolve(status) : reject(new Error(`child exited ${code}: ${stderr}`)),
    );
  });
}

test("four servients ship their backlogs into one InfluxDB at once: every point arrives, once", async () => {
  const influx = await startInfluxd();
  try {
    const dirs = [];
    for (let p = 0; p < PROCESSES; p++) dirs.push(await backlog(p, RECORDS));
    const statuses = await Promise.all(dirs.map((dir) => child(dir, influx.url)));
    for (const s of statuses) {
      assert.equal(s.shipped, RECORDS);
      assert.equal(s.deadLettered, 0);
      assert.equal(s.dropped, 0);
    }
    const json = await influx.query('SELECT count("ok") FROM /wot_.*/ GROUP BY "thing_id"', "fanin");
    const byThing = {};
    for (const s of json.results[0].series)
      byThing[s.tags.thing_id] = (byThing[s.tags.thing_id] ?? 0) + s.values[0][1];
    assert.deepEqual(
      byThing,
      Object.fromEntries(Array.from({ length: PROCESSES }, (_, p) => [`urn:fan:${p}`, RECORDS])),
    );
  } finally {
    await influx.destroy();
  }
});
