// Shipping that cannot be stalled and helpers that mean what they say, against a real InfluxDB 1.6.7:
// a bad row is dead-lettered alone, an unexpected error backs off, refused writes are not readings,
// a dropped database is created again (or status says what to do), field types do not depend on
// when shipping runs, and a vo-wot property never written has no mean (null), not an error.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const Database = require("better-sqlite3");
const { startInfluxd, startInfluxVo } = require("./helpers/servers.js");
const { startTestVo, exposeThing, tempDir } = require("./helpers/vo.js");
const { PointLayout } = require("../dist/influx/points.js");

let influx;
test.before(async () => {
  influx = await startInfluxd();
});
test.after(async () => {
  await influx?.destroy();
});

const HOUR = 3600000;
const json = { "content-type": "application/json" };
const put = async (thing, name, value) => {
  const href = thing.getThingDescription().properties[name].forms[0].href;
  const res = await fetch(href, { method: "PUT", body: JSON.stringify(value), headers: json });
  await res.arrayBuffer();
  return res.status;
};
const withState = (t, names) => {
  const state = {};
  for (const n of names) {
    t.setPropertyReadHandler(n, async () => state[n] ?? null);
    t.setPropertyWriteHandler(n, async (v) => {
      state[n] = await v.value();
    });
  }
};
const event = (i, name = "e") => ({
  thingId: "urn:trust",
  thingTitle: "Trust",
  kind: "event",
  name,
  op: "emit",
  ok: true,
  valueJson: String(i),
  source: "local",
});
const count = async (db, q = 'SELECT count("value") FROM "wot_event"') => {
  const [row] = await influx.rows(q, db);
  return row?.count ?? 0;
};

/** Records with InfluxDB off, then `edit(sqlite)` the real file with SQL, as an older version or a crash left it. */
async function backlog(records, edit) {
  const dir = tempDir("nwv-trust-");
  const vo = await startTestVo({ dataDir: dir });
  for (const r of records) await vo.servient.vo.history.append(r);
  const file = vo.file;
  await vo.stop();
  const db = new Database(file);
  try {
    edit(db);
  } finally {
    db.close();
  }
  return dir;
}

/** Lines the plugin's InfluxDB room logs to stderr while `run` runs. */
async function influxLogLines(run) {
  const write = process.stderr.write;
  let lines = 0;
  process.stderr.write = function (chunk, ...rest) {
    lines += String(chunk)
      .split("\n")
      .filter((l) => l.includes("node-wot-vo:influx")).length;
    return write.call(this, chunk, ...rest);
  };
  try {
    await run();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

/** Write requests the server has received so far (its own counter). */
async function writeRequests(server) {
  const vars = await (await fetch(`${server.url}/debug/vars`)).json();
  const httpd = Object.entries(vars).find(([k]) => k.startsWith("httpd"))[1];
  return httpd.values.writeReq ?? 0;
}

test("a row nested 5,000 deep is dead-lettered alone with a bounded description; the rest ships", async () => {
  const deep = "[".repeat(5000) + "1" + "]".repeat(5000);
  const records = [1, 2, 3].map((i) => event(i));
  let deepId;
  const dir = await backlog(records, (db) => {
    const { series_id: series, ts } = db.prepare("SELECT series_id, ts FROM wotvo_history LIMIT 1").get();
    deepId = db
      .prepare(
        "INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, source) VALUES (?, ?, 999999, 'emit', 1, ?, 'local')",
      )
      .run(series, ts, deep).lastInsertRowid;
  });
  const vo = await startInfluxVo(influx.url, { database: "deep" }, { dataDir: dir });
  try {
    for (const i of [4, 5, 6]) await vo.servient.vo.history.append(event(i));
    const inf = vo.servient.influxdb;
    assert.equal(await inf.flush(10000), true, JSON.stringify(inf.status()));
    assert.equal(await count("deep"), 6, "every other row arrived");
    const status = inf.status();
    // Another layer may hand the row over as a `$tooDeep` marker (then it ships as one); without
    // it, the row is dead-lettered alone, with a description that never stringifies the value.
    if (status.deadLettered === 0) {
      assert.equal(status.shipped, 7);
      return;
    }
    assert.equal(status.deadLettered, 1);
    assert.equal(status.shipped, 6);
    const [dead] = inf.deadLetters();
    assert.equal(dead.historyId, Number(deepId));
    assert.match(dead.reason, /could not build a point: the value is nested more than 512 levels deep/);
    assert.match(
      dead.line,
      /^history row \d+ \(thing "urn:trust", event "e"\): value \(10001 characters\) \[\[\[/,
    );
    assert.ok(dead.line.length < 400, `bounded description (${dead.line.length} characters)`);
  } finally {
    await vo.stop();
  }
});

test("the layout refuses a value nested deeper than 512 levels with a clear error, in both layouts", () => {
  let deep = 1;
  for (let i = 0; i < 5000; i++) deep = [deep];
  const memory = { get: () => undefined, set: () => undefined };
  for (const layout of ["tagged", "vo-wot"]) {
    const l = new PointLayout(
      {
        layout,
        measurementPrefix: "wot_",
        maxFlattenedFields: 64,
        bucket: "b",
        database: "d",
        apiVersion: 1,
      },
      () => undefined,
      memory,
    );
    const row = {
      id: 1,
      time: 1,
      timeSub: 0,
      thingId: "t",
      thingTitle: "T",
      kind: "property",
      name: "p",
      op: "write",
      ok: true,
      source: "http",
      value: { a: deep },
    };
    assert.throws(() => l.build(row), /the value is nested more than 512 levels deep/, layout);
    assert.throws(() => l.buildWithPoint(row), /the value is nested more than 512 levels deep/, layout);
    let ok = 1;
    for (let i = 0; i < 500; i++) ok = [ok];
    assert.match(l.build({ ...row, value: ok }).line, /\[\[\[1\]\]\]/, `${layout}: 500 deep is written`);
  }
});

test("a row whose series is gone is dead-lettered as unreadable; the batch ships", async () => {
  const records = [event(1), event(2, "gone"), event(3)];
  const dir = await backlog(records, (db) => {
    db.prepare("DELETE FROM wotvo_series WHERE name = 'gone'").run();
  });
  const vo = await startInfluxVo(influx.url, { database: "orphan" }, { dataDir: dir });
  try {
    const inf = vo.servient.influxdb;
    assert.equal(await inf.flush(10000), true, JSON.stringify(inf.status()));
    assert.equal(await count("orphan"), 2);
    const status = inf.status();
    assert.equal(status.deadLettered, 1);
    assert.equal(status.shipped, 2);
    assert.equal(status.state, "up");
    const [dead] = inf.deadLetters();
    assert.equal(dead.historyId, 2);
    assert.match(dead.reason, /^could not read the history row: /);
    assert.match(dead.line, /^history row 2 \(series \d+: missing\): value \(1 characters\) 2$/);
  } finally {
    await vo.stop();
  }
});

test("an unexpected error in a batch (SQLite refuses the cursor) backs off like a failed write, then recovers", async () => {
  const vo = await startInfluxVo(influx.url, {
    database: "backoff",
    retryDelayMs: 50,
    maxRetryDelayMs: 400,
    retryJitter: 0.2,
  });
  const sqlite = vo.servient.vo.database;
  try {
    const inf = vo.servient.influxdb;
    await vo.servient.vo.history.append(event(0));
    assert.equal(await inf.flush(10000), true);
    // A real failure inside the batch, after the write: SQLite aborts saving the cursor.
    for (const op of ["INSERT", "UPDATE"]) {
      sqlite.exec(
        `CREATE TRIGGER trust_no_cursor_${op} BEFORE ${op} ON wotvo_meta WHEN NEW.key = 'influx.cursor'
         BEGIN SELECT RAISE(ABORT, 'the cursor cannot be saved'); END`,
      );
    }
    for (const i of [1, 2, 3]) await vo.servient.vo.history.append(event(i));
    let requests;
    const lines = await influxLogLines(async () => {
      assert.equal(await inf.flush(300), false);
      const before = await writeRequests(influx);
      await new Promise((r) => setTimeout(r, 1000));
      requests = (await writeRequests(influx)) - before;
    });
    const status = inf.status();
    assert.equal(status.state, "down");
    assert.equal(status.connected, false);
    assert.match(status.lastError, /the cursor cannot be saved/);
    assert.equal(status.shipped, 1, "nothing counted as shipped while the cursor is not saved");
    // Backoff 50 → 400 ms: a handful of attempts in a second, not a loop; one log line.
    assert.ok(requests <= 12, `${requests} write requests in one second`);
    assert.ok(lines <= 2, `${lines} log lines`);

    for (const op of ["INSERT", "UPDATE"]) sqlite.exec(`DROP TRIGGER trust_no_cursor_${op}`);
    assert.equal(await inf.flush(10000), true, JSON.stringify(inf.status()));
    assert.equal(inf.status().shipped, 4);
    assert.equal(await count("backoff"), 4, "re-sent points overwrote themselves");
    const cursor = sqlite.prepare("SELECT value FROM wotvo_meta WHERE key = 'influx.cursor'").get().value;
    assert.equal(Number(cursor), vo.servient.vo.history.maxId());
  } finally {
    await vo.stop();
  }
});

test("refused writes are not readings: helpers count accepted values only (tagged layout)", async () => {
  const vo = await startInfluxVo(influx.url, { database: "refused" });
  try {
    const thing = await exposeThing(
      vo.wot,
      { id: "urn:trust:meter", title: "Meter", properties: { power: { type: "number", maximum: 0 } } },
      (t) => withState(t, ["power"]),
    );
    for (const v of [-100000, -53950.6]) assert.equal(await put(thing, "power", v), 204);
    for (const v of [95000000, 1e9])
      assert.notEqual(await put(thing, "power", v), 204, "refused by node-wot");
    const inf = vo.servient.influxdb;
    assert.equal(await inf.flush(10000), true);
    assert.equal(await inf.meanValue(thing, "power", HOUR), -76975.3);
    assert.equal(await inf.aggregateValue("Meter", "power", "count", HOUR), 2);
    assert.equal(await inf.aggregateValue("Meter", "power", "max", HOUR), -53950.6);
    assert.deepEqual(
      (await inf.recentValues("Meter", "power", HOUR)).map((r) => r.value),
      [-53950.6, -100000],
    );
    // The data itself: a refused value never sits in a `value…` field; it is kept as JSON text.
    const [mean] = await influx.rows('SELECT mean("value") FROM "wot_property"', "refused");
    assert.equal(mean.mean, -76975.3);
    const refused = await influx.rows(
      'SELECT "refused_json", "error", "value" FROM "wot_property" WHERE "ok" = false ORDER BY time',
      "refused",
    );
    assert.deepEqual(
      refused.map((r) => [JSON.parse(r.refused_json), r.value]),
      [
        [95000000, null],
        [1e9, null],
      ],
    );
    assert.match(refused[0].error, /Invalid value according to DataSchema/);
  } finally {
    await vo.stop();
  }
});

test("refused writes stay out of the property's bucket in the vo-wot layout (they go to `refused`)", async () => {
  const vo = await startInfluxVo(influx.url, { layout: "vo-wot" });
  try {
    const thing = await exposeThing(
      vo.wot,
      { id: "urn:trust:volt", title: "Volt", properties: { volts: { type: "number", maximum: 0 } } },
      (t) => withState(t, ["volts"]),
    );
    for (const v of [-100000, -53950.6]) assert.equal(await put(thing, "volts", v), 204);
    assert.notEqual(await put(thing, "volts", 95000000), 204);
    const inf = vo.servient.influxdb;
    assert.equal(await inf.flush(10000), true);
    assert.equal(inf.status().deadLettered, 0);
    assert.equal(await inf.meanValue(thing, "volts", HOUR), -76975.3);
    assert.equal(await inf.aggregateValue(thing, "volts", "count", HOUR), 2);
    const [mean] = await influx.rows('SELECT mean("value") FROM "volts"', "volts");
    assert.equal(mean.mean, -76975.3);
    const [r] = await influx.rows('SELECT * FROM "refused"', "refused");
    const body = JSON.parse(r.value);
    assert.deepEqual(
      [body.thing, body.thingId, body.name, body.value],
      ["Volt", "urn:trust:volt", "volts", 95000000],
    );
    assert.match(body.error, /Invalid value according to DataSchema/);
  } finally {
    await vo.stop();
  }
});

test("vo-wot layout: a property never written has no mean (null) and no recent values, not an error", async () => {
  const vo = await startInfluxVo(influx.url, { layout: "vo-wot" });
  try {
    const inf = vo.servient.influxdb;
    assert.equal(await inf.meanValue("any", "never_written", HOUR), null);
    assert.equal(await inf.aggregateValue("any", "never_written", "last", HOUR), null);
    assert.deepEqual(await inf.recentValues("any", "never_written", HOUR), []);
  } finally {
    await vo.stop();
  }
});

test("a database dropped while the servient runs is created again (createBucket); later points arrive", async () => {
  const vo = await startInfluxVo(influx.url, { database: "dropped", createBucket: true });
  try {
    const inf = vo.servient.influxdb;
    for (const i of [1, 2]) await vo.servient.vo.history.append(event(i));
    assert.equal(await inf.flush(10000), true);
    await influx.query('DROP DATABASE "dropped"');
    for (const i of [3, 4, 5]) await vo.servient.vo.history.append(event(i));
    assert.equal(await inf.flush(10000), true, JSON.stringify(inf.status()));
    assert.equal(await count("dropped"), 3, "the points after the drop");
    assert.equal(inf.status().state, "up");
  } finally {
    await vo.stop();
  }
});

test("without createBucket, a missing database: status says which and what to do; shipping backs off, then resumes", async () => {
  const vo = await startInfluxVo(influx.url, { database: "not_yet", createBucket: false });
  try {
    const inf = vo.servient.influxdb;
    await vo.servient.vo.history.append(event(1));
    assert.equal(await inf.flush(500), false);
    const status = inf.status();
    assert.equal(status.state, "down");
    assert.equal(status.queued, 1);
    assert.match(
      status.lastError,
      /^database "not_yet" not found on http:\/\/127\.0\.0\.1:\d+ \(404 database not found: "not_yet"\): create it \(InfluxQL: CREATE DATABASE "not_yet"\), or set influxdb\.createBucket: true/,
    );
    await influx.query('CREATE DATABASE "not_yet"');
    assert.equal(await inf.flush(10000), true);
    assert.equal(await count("not_yet"), 1);
  } finally {
    await vo.stop();
  }
});

test("field types do not depend on when shipping runs: integers recorded with InfluxDB off ship as integers", async () => {
  const dir = tempDir("nwv-trust-schema-");
  const off = await startTestVo({ dataDir: dir });
  try {
    const thing = await exposeThing(
      off.wot,
      { id: "urn:trust:counter", title: "Counter", properties: { steps: { type: "integer" } } },
      (t) => withState(t, ["steps"]),
    );
    for (const v of [7, 8]) assert.equal(await put(thing, "steps", v), 204);
  } finally {
    await off.stop();
  }
  // InfluxDB switched on for the existing history; no script: the thing is never exposed again.
  const vo = await startInfluxVo(influx.url, { database: "schema" }, { dataDir: dir });
  try {
    assert.equal(vo.servient.getThing("urn:trust:counter"), undefined);
    assert.equal(await vo.servient.influxdb.flush(10000), true);
    const fields = (await influx.query('SHOW FIELD KEYS FROM "wot_property"', "schema")).results[0].series[0]
      .values;
    assert.deepEqual(Object.fromEntries(fields), { ok: "boolean", value_int: "integer" });
    const rows = await influx.rows('SELECT "value_int" FROM "wot_property" ORDER BY time', "schema");
    assert.deepEqual(
      rows.map((r) => r.value_int),
      [7, 8],
    );
  } finally {
    await vo.stop();
  }
});
