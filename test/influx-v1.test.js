// Against a real InfluxDB 1.6.7 (`influxd`, started by the harness): types and values round-trip,
// shared names with different types, 1,000 writes in one millisecond, hostile names and values,
// dead letters, 413 splitting, the query helpers and the vo-wot layout.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { startInfluxd, startInfluxVo } = require("./helpers/servers.js");
const { exposeThing, waitFor } = require("./helpers/vo.js");
const { encodeName } = require("../dist/influx/points.js");

let influx;
test.before(async () => {
  influx = await startInfluxd();
});
test.after(async () => {
  await influx?.destroy();
});

const json = { "content-type": "application/json" };
const hrefOf = (thing, kind, name) => thing.getThingDescription()[kind][name].forms[0].href;
const put = async (thing, name, value) => {
  const res = await fetch(hrefOf(thing, "properties", name), {
    method: "PUT",
    body: JSON.stringify(value),
    headers: json,
  });
  await res.arrayBuffer();
  return res.status;
};
const invoke = async (thing, name, input) => {
  const res = await fetch(hrefOf(thing, "actions", name), {
    method: "POST",
    body: JSON.stringify(input),
    headers: json,
  });
  return { status: res.status, body: await res.text() };
};

/** Every committed record shipped, nothing queued. */
async function shipped(vo) {
  assert.equal(await vo.servient.influxdb.flush(60000), true, JSON.stringify(vo.servient.influxdb.status()));
  return vo.servient.influxdb.status();
}

/** "2026-01-02T03:04:05.123000456Z" → ns since the epoch (exact, as a BigInt). */
function rfc3339ToNs(s) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s);
  const seconds = BigInt(Date.parse(m[1] + "Z") / 1000);
  return seconds * 1000000000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

function withState(t, names) {
  const state = {};
  for (const n of names) {
    t.setPropertyReadHandler(n, async () => state[n] ?? null);
    t.setPropertyWriteHandler(n, async (v) => {
      state[n] = await v.value();
    });
  }
}

test("properties, actions and events arrive with the right types and values (InfluxQL)", async () => {
  const vo = await startInfluxVo(influx.url, { database: "types" });
  try {
    const thing = await exposeThing(
      vo.wot,
      {
        title: "Sensor",
        properties: {
          count: { type: "integer" },
          temp: { type: "number" },
          on: { type: "boolean" },
          label: { type: "string" },
          pm: {
            type: "object",
            properties: { n: { type: "integer" }, v: { type: "number" }, s: { type: "string" } },
          },
        },
        actions: {
          double: {
            input: { type: "integer" },
            output: { type: "object", properties: { r: { type: "integer" } } },
          },
          fail: { input: { type: "string" } },
        },
        events: { alarm: { data: { type: "number" } } },
      },
      (t) => {
        withState(t, ["count", "temp", "on", "label", "pm"]);
        t.setActionHandler("double", async (v) => ({ r: (await v.value()) * 2 }));
        t.setActionHandler("fail", async () => {
          throw new Error('refused: "no"');
        });
      },
    );
    for (const [name, value] of [
      ["count", 42],
      ["temp", 20],
      ["temp", 21.5],
      ["on", true],
      ["label", 'he said "hi",\nbye'],
      ["pm", { n: 3, v: 2.5, s: "ok" }],
    ]) {
      assert.equal(await put(thing, name, value), 204);
    }
    assert.deepEqual(JSON.parse((await invoke(thing, "double", 21)).body), { r: 42 });
    assert.notEqual((await invoke(thing, "fail", "x")).status, 200);
    thing.emitEvent("alarm", 99.5);
    const status = await shipped(vo);
    assert.equal(status.shipped, 9);
    assert.equal(status.deadLettered, 0);
    assert.equal(status.connected, true);

    const fields = Object.fromEntries(
      (await influx.query("SHOW FIELD KEYS", "types")).results[0].series.map((s) => [
        s.name,
        Object.fromEntries(s.values),
      ]),
    );
    assert.deepEqual(fields.wot_property, {
      ok: "boolean",
      value: "float",
      "value.n_int": "integer",
      "value.s_str": "string",
      "value.v": "float",
      value_bool: "boolean",
      value_int: "integer",
      value_json: "string",
      value_str: "string",
    });
    assert.deepEqual(fields.wot_action, {
      duration_ms: "float",
      error: "string",
      input_int: "integer",
      input_str: "string",
      ok: "boolean",
      "output.r_int": "integer",
      output_json: "string",
    });
    assert.deepEqual(fields.wot_event, { ok: "boolean", value: "float" });

    const q = (sql, params) => influx.rows(sql, "types", params);
    const byName = async (name) =>
      q('SELECT * FROM "wot_property" WHERE "name" = $n ORDER BY time', { n: name });
    assert.deepEqual(
      (await byName("count")).map((r) => r.value_int),
      [42],
    );
    assert.deepEqual(
      (await byName("temp")).map((r) => r.value),
      [20, 21.5],
    );
    assert.deepEqual(
      (await byName("on")).map((r) => r.value_bool),
      [true],
    );
    assert.deepEqual(
      (await byName("label")).map((r) => r.value_str),
      ['he said "hi",\nbye'],
    );
    const [pm] = await byName("pm");
    assert.deepEqual([pm["value.n_int"], pm["value.v"], pm["value.s_str"]], [3, 2.5, "ok"]);
    assert.deepEqual(JSON.parse(pm.value_json), { n: 3, v: 2.5, s: "ok" });
    const tagsOf = (r) => [r.thing, r.thing_id, r.kind, r.name, r.op, r.source];
    assert.deepEqual(tagsOf(pm), ["Sensor", thing.id, "property", "pm", "write", "http"]);

    const actions = await q('SELECT * FROM "wot_action" ORDER BY time');
    assert.equal(actions.length, 2);
    const [ok, failed] = actions;
    assert.deepEqual(
      [ok.name, ok.ok, ok.input_int, ok["output.r_int"], JSON.parse(ok.output_json)],
      ["double", true, 21, 42, { r: 42 }],
    );
    assert.equal(typeof ok.duration_ms, "number");
    assert.deepEqual([failed.name, failed.ok, failed.input_str], ["fail", false, "x"]);
    assert.match(failed.error, /refused: "no"/);
    const [ev] = await q('SELECT * FROM "wot_event"');
    assert.deepEqual([ev.name, ev.value, ev.op, ev.source], ["alarm", 99.5, "emit", "local"]);

    // Timestamps are the store's (ms, sub-ms) stamps, in nanoseconds.
    const rows = vo.servient.vo.history.readAfter(0, 100);
    const all = await vo.servient.influxdb.influxql('SELECT "ok" FROM /wot_.*/', undefined, { db: "types" });
    const times = new Set(all.map((r) => rfc3339ToNs(r.time)));
    for (const r of rows)
      assert.ok(times.has(BigInt(r.time) * 1000000n + BigInt(r.timeSub)), `row ${r.id} at its ns`);
  } finally {
    await vo.stop();
  }
});

test("two things sharing a property name with different types both arrive (no field-type conflict)", async () => {
  const vo = await startInfluxVo(influx.url, { database: "shared" });
  try {
    const td = (title, type) => ({ title, properties: { reading: { type } } });
    const a = await exposeThing(vo.wot, td("A", "integer"), (t) => withState(t, ["reading"]));
    const b = await exposeThing(vo.wot, td("B", "string"), (t) => withState(t, ["reading"]));
    const c = await exposeThing(vo.wot, td("C", "number"), (t) => withState(t, ["reading"]));
    const d = await exposeThing(vo.wot, td("D", "object"), (t) => withState(t, ["reading"]));
    assert.equal(await put(a, "reading", 7), 204);
    assert.equal(await put(b, "reading", "seven"), 204);
    assert.equal(await put(c, "reading", 7.5), 204);
    assert.equal(await put(d, "reading", { x: 7 }), 204);
    const status = await shipped(vo);
    assert.equal(status.deadLettered, 0);
    assert.equal(status.shipped, 4);
    const rows = await influx.rows(
      'SELECT * FROM "wot_property" WHERE "name" = \'reading\' GROUP BY "thing"',
      "shared",
    );
    const by = Object.fromEntries(rows.map((r) => [r.thing, r]));
    assert.equal(by.A.value_int, 7);
    assert.equal(by.B.value_str, "seven");
    assert.equal(by.C.value, 7.5);
    assert.equal(by.D["value.x"], 7);
  } finally {
    await vo.stop();
  }
});

test("1,000 writes of one property inside one millisecond all arrive (no collapse)", async () => {
  const vo = await startInfluxVo(influx.url, { database: "burst", batchSize: 300 });
  try {
    const t = Date.now();
    const writes = [];
    for (let i = 0; i < 1000; i++) {
      writes.push(
        vo.servient.vo.history.append({
          thingId: "urn:burst",
          thingTitle: "Burst",
          kind: "property",
          name: "n",
          op: "write",
          ok: true,
          valueJson: String(i),
          source: "http",
          time: t,
        }),
      );
    }
    await Promise.all(writes);
    const rows = vo.servient.vo.history.readAfter(0, 2000);
    assert.equal(new Set(rows.map((r) => r.time)).size <= 2, true, "the records share their millisecond");
    await shipped(vo);
    const [count] = await influx.rows(
      'SELECT count("value") FROM "wot_property" WHERE "name" = \'n\'',
      "burst",
    );
    assert.equal(count.count, 1000);
    const [sum] = await influx.rows('SELECT sum("value") FROM "wot_property"', "burst");
    assert.equal(sum.sum, (999 * 1000) / 2);
  } finally {
    await vo.stop();
  }
});

const HOSTILE = '#x "q", a=b c\\d\ne\tf\r\' OR 1=1; DROP MEASUREMENT "wot_property" -- |> drop() %41 \\';

test("hostile names, titles and values round-trip exactly and inject nothing (tagged layout)", async () => {
  const vo = await startInfluxVo(influx.url, { database: "hostile" });
  try {
    const inf = vo.servient.influxdb;
    // Through HTTP and the recorder: a hostile title, affordance name and string value.
    const name = 'say "hi", a=b; SELECT * -- \' |> yield()';
    const title = "Evil \"Thing\", a=b \\ %25 ' OR '1'='1";
    const thing = await exposeThing(vo.wot, { title, properties: { [name]: { type: "string" } } }, (t) =>
      withState(t, [name]),
    );
    assert.equal(await put(thing, name, HOSTILE), 204);
    // Names with newlines, tabs and trailing backslashes (the recorder's glob filter does not match
    // names with newlines, so these go straight to the store, as the recorder would write them).
    const h = vo.servient.vo.history;
    const base = { thingId: "id " + HOSTILE, thingTitle: HOSTILE, source: "http", ok: true };
    await h.append({
      ...base,
      kind: "property",
      name: HOSTILE,
      op: "write",
      valueJson: JSON.stringify({ [HOSTILE]: HOSTILE }),
    });
    await h.append({ ...base, kind: "event", name: HOSTILE, op: "emit", valueJson: JSON.stringify(HOSTILE) });
    await h.append({
      ...base,
      kind: "action",
      name: HOSTILE,
      op: "invoke",
      ok: false,
      valueJson: JSON.stringify(HOSTILE),
      error: HOSTILE,
    });
    await inf.writePoint(HOSTILE, { [HOSTILE]: HOSTILE }, { ["tag " + HOSTILE]: HOSTILE });
    const status = await shipped(vo);
    assert.equal(status.deadLettered, 0);

    const all = await influx.rows("SELECT * FROM /.*/", "hostile");
    assert.equal(all.length, 5, "nothing extra, nothing dropped");
    const d = (s) => inf.decodeName(s);
    const viaHttp = all.find((r) => r.thing && d(r.thing) === title);
    assert.ok(viaHttp);
    assert.equal(d(viaHttp.name), name);
    assert.equal(viaHttp.value_str, HOSTILE);
    const prop = all.find((r) => r._measurement === "wot_property" && d(r.name) === HOSTILE);
    assert.equal(d(prop.thing), HOSTILE);
    assert.equal(d(prop.thing_id), "id " + HOSTILE);
    assert.equal(prop[`value.${encodeName(HOSTILE)}_str`], HOSTILE);
    assert.deepEqual(JSON.parse(prop.value_json), { [HOSTILE]: HOSTILE });
    const ev = all.find((r) => r._measurement === "wot_event");
    assert.equal(ev.value_str, HOSTILE);
    const act = all.find((r) => r._measurement === "wot_action");
    assert.equal(act.error, HOSTILE);
    assert.equal(act.input_str, HOSTILE);
    const point = all.find((r) => d(r._measurement) === HOSTILE);
    assert.equal(point[encodeName(HOSTILE)], HOSTILE);
    assert.equal(d(point[encodeName("tag " + HOSTILE)]), HOSTILE, "the tag");

    // The helpers bind names as parameters: hostile names find their data, and inject nothing.
    assert.deepEqual(
      (await inf.recentValues(title, name, 3600000)).map((r) => r.value),
      [HOSTILE],
    );
    assert.deepEqual(
      (await inf.recentValues({ id: "id " + HOSTILE }, HOSTILE, 3600000, 10, { kind: "event" })).map(
        (r) => r.value,
      ),
      [HOSTILE],
    );
    assert.equal(await inf.meanValue(HOSTILE, HOSTILE, 3600000), null);
    const rows = await inf.influxql('SELECT "value_str" FROM "wot_property" WHERE "thing" = $t', {
      t: encodeName(title),
    });
    assert.deepEqual(
      rows.map((r) => r.value_str),
      [HOSTILE],
    );
    const measurements = (
      await influx.query("SHOW MEASUREMENTS", "hostile")
    ).results[0].series[0].values.flat();
    assert.ok(measurements.includes("wot_property"), "still there");
  } finally {
    await vo.stop();
  }
});

test("hostile names in the vo-wot layout: database per property, measurement = name", async () => {
  const vo = await startInfluxVo(influx.url, { layout: "vo-wot" });
  try {
    const h = vo.servient.vo.history;
    const base = { thingId: "urn:h", thingTitle: HOSTILE, source: "http", ok: true };
    await h.append({
      ...base,
      kind: "property",
      name: HOSTILE,
      op: "write",
      valueJson: JSON.stringify(HOSTILE),
    });
    await h.append({ ...base, kind: "property", name: "temperature", op: "write", valueJson: "21.5" });
    await h.append({ ...base, kind: "event", name: HOSTILE, op: "emit", valueJson: JSON.stringify(HOSTILE) });
    const status = await shipped(vo);
    assert.equal(status.deadLettered, 0);
    const [p] = await influx.rows("SELECT * FROM /.*/", encodeName(HOSTILE));
    assert.equal(vo.servient.influxdb.decodeName(p._measurement), HOSTILE);
    assert.equal(p.value, HOSTILE);
    const [t] = await influx.rows('SELECT * FROM "temperature"', "temperature");
    assert.equal(t.value, 21.5);
    const [e] = await influx.rows('SELECT * FROM "event"', "event");
    assert.deepEqual(JSON.parse(e.value), { thing: HOSTILE, thingId: "urn:h", name: HOSTILE, data: HOSTILE });
    assert.equal(await vo.servient.influxdb.meanValue("any", "temperature", 3600000), 21.5);
  } finally {
    await vo.stop();
  }
});

test("a point the server rejects (field-type conflict) is dead-lettered with its reason; the queue goes on", async () => {
  const vo = await startInfluxVo(influx.url, { database: "dead", batchSize: 64 });
  try {
    const inf = vo.servient.influxdb;
    await inf.writePoint("script", { f: 1 });
    await shipped(vo);
    const writes = [];
    for (let i = 0; i < 40; i++) writes.push(inf.writePoint("script", i === 17 ? { f: "text" } : { f: i }));
    await Promise.all(writes);
    const status = await shipped(vo);
    assert.equal(status.deadLettered, 1);
    assert.equal(status.shipped, 40);
    const [dead] = inf.deadLetters();
    assert.equal(dead.status, 400);
    assert.match(dead.reason, /field type conflict/);
    assert.match(dead.line, /^script f="text" \d+$/);
    const [count] = await influx.rows('SELECT count("f") FROM "script"', "dead");
    assert.equal(count.count, 40);
  } finally {
    await vo.stop();
  }
});

test("a request larger than the server accepts (413) is split; a single oversized point is dead-lettered", async () => {
  const small = await startInfluxd({ maxBodySize: 4096 });
  const vo = await startInfluxVo(small.url, { database: "split", batchSize: 1000 });
  try {
    const writes = [];
    for (let i = 0; i < 300; i++)
      writes.push(vo.servient.influxdb.writePoint("m", { i, pad: "x".repeat(40) }));
    writes.push(vo.servient.influxdb.writePoint("m", { big: "y".repeat(8000) }));
    await Promise.all(writes);
    const status = await shipped(vo);
    assert.equal(status.shipped, 300);
    assert.equal(status.deadLettered, 1);
    assert.equal(vo.servient.influxdb.deadLetters()[0].status, 413);
    const [count] = await small.rows('SELECT count("i") FROM "m"', "split");
    assert.equal(count.count, 300);
  } finally {
    await vo.stop();
    await small.destroy();
  }
});

test("query helpers: mean, aggregates and recent values with bound names; influxql with $params", async () => {
  const vo = await startInfluxVo(influx.url, { database: "helpers" });
  try {
    const thing = await exposeThing(
      vo.wot,
      {
        title: "Meter",
        properties: { power: { type: "number" }, steps: { type: "integer" }, pm: { type: "object" } },
      },
      (t) => withState(t, ["power", "steps", "pm"]),
    );
    for (const v of [1, 2, 3, 6]) assert.equal(await put(thing, "power", v), 204);
    for (const v of [10, 20]) assert.equal(await put(thing, "steps", v), 204);
    assert.equal(await put(thing, "pm", { pm25: 4 }), 204);
    await shipped(vo);
    const inf = vo.servient.influxdb;
    assert.equal(await inf.meanValue(thing, "power", 3600000), 3);
    assert.equal(await inf.meanValue("Meter", "power", 3600000), 3);
    assert.equal(await inf.meanValue({ id: thing.id }, "steps", 3600000), 15);
    assert.equal(await inf.aggregateValue("Meter", "power", "max", 3600000), 6);
    assert.equal(await inf.aggregateValue("Meter", "power", "min", 3600000), 1);
    assert.equal(await inf.aggregateValue("Meter", "power", "sum", 3600000), 12);
    assert.equal(await inf.aggregateValue("Meter", "power", "count", 3600000), 4);
    assert.equal(await inf.aggregateValue("Meter", "power", "first", 3600000), 1);
    assert.equal(await inf.aggregateValue("Meter", "power", "last", 3600000), 6);
    assert.equal(await inf.aggregateValue("Meter", "pm", "mean", 3600000, { field: "pm25" }), 4);
    assert.equal(await inf.meanValue("Nobody", "power", 3600000), null);
    assert.deepEqual(
      (await inf.recentValues("Meter", "power", 3600000, 2)).map((r) => r.value),
      [6, 3],
    );
    await assert.rejects(inf.aggregateValue("Meter", "power", "drop", 1000), /aggregate must be one of/);
    await assert.rejects(inf.meanValue("Meter", "power", -5), /positive number/);
    const rows = await inf.influxql('SELECT "value" FROM "wot_property" WHERE "name" = $n AND "thing" = $t', {
      n: "power",
      t: "Meter",
    });
    assert.deepEqual(
      rows.map((r) => r.value),
      [1, 2, 3, 6],
    );
    await assert.rejects(inf.influxql("SELEC nonsense"), /InfluxQL query failed/);
  } finally {
    await vo.stop();
  }
});

test("history ids reused after the table was emptied (retention): the cursor is rebased, nothing is skipped", async () => {
  const vo = await startInfluxVo(influx.url, { database: "reuse" });
  try {
    const h = vo.servient.vo.history;
    const rec = (i) => ({
      thingId: "urn:r",
      thingTitle: "R",
      kind: "event",
      name: "e",
      op: "emit",
      ok: true,
      valueJson: String(i),
      source: "local",
    });
    await Promise.all([1, 2, 3, 4, 5].map((i) => h.append(rec(i))));
    await shipped(vo);
    assert.equal(vo.servient.influxdb.shippedUpTo(), 5);
    // What retention does when every row is shipped and old: the table is empty; ids go on (AUTOINCREMENT).
    vo.servient.vo.database.prepare("DELETE FROM wotvo_history").run();
    await Promise.all([6, 7, 8].map((i) => h.append(rec(i))));
    assert.equal(h.maxId(), 8);
    await shipped(vo);
    const [count] = await influx.rows('SELECT count("value") FROM "wot_event"', "reuse");
    assert.equal(count.count, 8);
  } finally {
    await vo.stop();
  }
});

test("not configured: every query and write says how to configure InfluxDB", async () => {
  const { startTestVo } = require("./helpers/vo.js");
  const vo = await startTestVo({});
  try {
    const inf = vo.servient.influxdb;
    assert.equal(inf.status().configured, false);
    for (const call of [
      () => inf.executeQuery("x"),
      () => inf.influxql("SHOW DATABASES"),
      () => inf.meanValue("a", "b", 1),
      () => inf.writePoint("m", 1),
      () => inf.flush(),
    ]) {
      await assert.rejects(async () => call(), /InfluxDB is not configured/);
    }
  } finally {
    await vo.stop();
  }
});

test("waitFor helper sanity (the outbox is empty once flushed)", async () => {
  const vo = await startInfluxVo(influx.url, { database: "empty" });
  try {
    await waitFor(() => vo.servient.influxdb.status().connected, {
      what: "connected after the start-up ping",
    });
    assert.equal(vo.servient.influxdb.status().queued, 0);
  } finally {
    await vo.stop();
  }
});
