// The batch builder alone, on real SQLite files (no servient, no server): every stored row becomes
// exactly the line the client's Point writes for it (the stored-text path and the general one),
// rows that cannot be read are dead-lettered alone, the batch knows each row's outbox size, and it
// reads in chunks with a pause between them.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { openStore, record } = require("./helpers/store.js");
const { BatchBuilder } = require("../dist/influx/batch-builder.js");
const { ROW_OVERHEAD_BYTES } = require("../dist/influx/outbox-cursor.js");
const { PointLayout, typeTreeOf } = require("../dist/influx/points.js");

const SCHEMAS = {
  count: { value: typeTreeOf({ type: "integer" }) },
  pm: { value: typeTreeOf({ type: "object", properties: { n: { type: "integer" } } }) },
  go: { value: typeTreeOf({ type: "integer" }), output: typeTreeOf({ type: "string" }) },
};

function layoutOf(layout = "tagged") {
  const memory = new Map();
  return new PointLayout(
    { layout, measurementPrefix: "wot_", maxFlattenedFields: 4, bucket: "vo", database: "vo", apiVersion: 1 },
    (series) => SCHEMAS[series.name],
    {
      get: (b, m, f) => memory.get(`${b}|${m}|${f}`),
      set: (b, m, f, t) => memory.set(`${b}|${m}|${f}`, t),
    },
  );
}

function builderOf(db, store, layout, options = {}, pause = () => new Promise((r) => setImmediate(r))) {
  return new BatchBuilder(db, store, layout, { batchSize: 5000, readChunkRows: 1000, ...options }, pause);
}

/** Every batch after `after` until the outbox is empty. */
async function buildAll(builder, after = 0) {
  const batches = [];
  for (let b = await builder.build(after, () => false); b; b = await builder.build(b.last, () => false)) {
    batches.push(b);
  }
  return batches;
}

/** Lines by history id, every payload of every batch (checks each payload's text against its lines). */
function linesById(batches) {
  const lines = new Map();
  for (const batch of batches) {
    for (const p of batch.payloads) {
      const all = Array.from({ length: p.count }, (_, i) => p.line(i));
      assert.equal(p.text, all.join("\n"), "a payload's text is its lines");
      assert.equal(p.body(0, p.count), p.text);
      if (p.count > 2) assert.equal(p.body(1, 3), `${all[1]}\n${all[2]}`);
      all.forEach((line, i) => lines.set(p.ids[i], { line, bucket: p.bucket }));
    }
  }
  return lines;
}

const sqlBytes = (db, after, upTo) =>
  db
    .prepare(
      `SELECT COALESCE(SUM(COALESCE(length(value), 0) + COALESCE(length(output), 0) + COALESCE(length(error), 0)
         + ${ROW_OVERHEAD_BYTES}), 0) FROM wotvo_history WHERE id > ? AND id <= ?`,
    )
    .pluck()
    .get(after, upTo);

/** Stored texts as a client may send them: canonical or not, scalars, objects, arrays, escapes. */
const TEXTS = [
  "21.5",
  "20.50",
  " 42",
  "42",
  "-0",
  "0",
  "-0.25",
  "1e3",
  "1e21",
  "0.000001",
  "0.0000001",
  "007",
  "123456789012345",
  "1234567890123456789",
  "0.30000000000000004",
  "3.14159265358979",
  "true",
  "false",
  "null",
  '"plain"',
  '"say \\"hi\\""',
  '"tab\\there"',
  '"back\\\\slash"',
  '"\u00fcber €"',
  '[1,true,"x"]',
  "{}",
  '{"n":3,"v":2.5,"s":"x","b":false,"z":null}',
  '{ "n" : 1 }',
  '{"a_int":1.5,"a":2,"a_int_float":3}',
  '{"k ey,=":"v\\n","%":1,"":2}',
  '{"deep":{"a":{"b":1}},"n":1}',
  '{"list":[1,2],"n":7}',
  '{"q":"say \\"hi\\"","b":"back\\\\slash","u":"\u00fcber","e":"\ud83d\ude00","lone":"\\ud800","c":"\\u0001"}',
  '{"2":1,"1":2,"b":3,"0":null}',
  '{"big":1e21,"neg":-0,"tiny":1e-7,"long":0.1000000000000000055511151231257827,"exp":2E3}',
  '{"m1":1,"m2":2,"m3":3,"m4":4,"m5":5,"m6":6}',
  '{"__proto__":1,"n":2}',
];

test("every stored row becomes exactly the line the client's Point writes (tagged layout)", async () => {
  const { db, store } = openStore();
  const appends = [];
  let i = 0;
  for (const text of TEXTS) {
    for (const name of ["count", "pm", "temp"]) {
      appends.push(store.append(record(name, null, { valueJson: text, thingTitle: `T ${i % 3}` })));
      appends.push(store.append(record(name, null, { valueJson: text, ok: false, error: 'no, "x"' })));
    }
    appends.push(
      store.append(record("e", null, { kind: "event", op: "emit", valueJson: text, source: "local" })),
    );
    appends.push(
      store.append(
        record("e", null, {
          kind: "event",
          op: "emit",
          valueJson: text,
          ok: false,
          error: 'e "x"\\',
          durationMs: 2,
        }),
      ),
    );
    appends.push(
      store.append(
        record("go", null, {
          kind: "action",
          op: "invoke",
          valueJson: text,
          outputJson: text,
          durationMs: 1.25,
        }),
      ),
    );
    // An op and a source the outbox key has no code for.
    appends.push(store.append(record("temp", null, { valueJson: text, op: "change", source: "coap+tcp" })));
    i++;
  }
  appends.push(store.append(record("count", null, { valueJson: undefined }))); // no value at all
  await Promise.all(appends);

  const layout = layoutOf();
  const build = layout.build.bind(layout);
  let general = 0;
  layout.build = (row, checked) => {
    general++;
    return build(row, checked);
  };
  const batches = await buildAll(builderOf(db, store, layout, { batchSize: 97, readChunkRows: 10 }));
  const built = linesById(batches);
  const rows = store.readAfter(0, 10_000);
  assert.equal(rows.length, appends.length);
  for (const row of rows) {
    const reference = layout.buildWithPoint(row);
    assert.deepEqual(
      built.get(row.id),
      { line: reference.line, bucket: reference.bucket },
      JSON.stringify(row),
    );
  }
  assert.equal(built.size, rows.length);
  assert.ok(general > 0 && general < rows.length, `${general} of ${rows.length} rows took the general path`);
  db.close();
});

test("plain scalars and flat objects of properties and events never take the general path", async () => {
  const { db, store } = openStore();
  const values = [21.5, 7, -3, 0.001, "text", true, false, { pm25: 3, unit: "x", ok: true }, {}];
  await Promise.all(
    values.flatMap((v) => [
      store.append(record("count", v)),
      store.append(record("pm", v)),
      store.append(record("e", v, { kind: "event", op: "emit", source: "local", ok: false })),
    ]),
  );
  const layout = layoutOf();
  let general = 0;
  const build = layout.build.bind(layout);
  layout.build = (row, checked) => {
    general++;
    return build(row, checked);
  };
  const built = linesById(await buildAll(builderOf(db, store, layout)));
  for (const row of store.readAfter(0, 100))
    assert.equal(built.get(row.id).line, layout.buildWithPoint(row).line);
  assert.equal(general, 0);
  db.close();
});

test("a batch knows its rows: count, last id and stamp, and the outbox size of any part of it", async () => {
  const { db, store } = openStore();
  const all = [];
  for (let i = 0; i < 250; i++) {
    const extra =
      i % 4 === 0 ? { kind: "action", op: "invoke", outputJson: '"done"', error: "e".repeat(i % 9) } : {};
    all.push(store.append(record(`p${i % 5}`, "x".repeat(i % 31), extra)));
  }
  await Promise.all(all);
  const builder = builderOf(db, store, layoutOf(), { batchSize: 100, readChunkRows: 30 });
  const batch = await builder.build(20, () => false);
  assert.equal(batch.after, 20);
  assert.equal(batch.count, 100);
  assert.equal(batch.last, 120);
  const [ts, sub] = db.prepare("SELECT ts, ts_sub FROM wotvo_history WHERE id = 120").raw().get();
  assert.equal(batch.lastStamp, `${ts}.${sub}`);
  assert.equal(batch.bytesBetween(20, 120), sqlBytes(db, 20, 120));
  assert.equal(batch.bytesBetween(57, 99), sqlBytes(db, 57, 99));
  assert.equal(batch.bytesBetween(0, 20), 0, "rows before the batch are not in it");
  assert.equal(batch.lines, 100);
  const rest = await buildAll(builder, batch.last);
  assert.deepEqual(
    rest.map((b) => [b.after, b.count, b.last]),
    [
      [120, 100, 220],
      [220, 30, 250],
    ],
  );
  assert.equal(await builder.build(250, () => false), undefined, "nothing after the newest row");
  db.close();
});

test("rows are read in chunks with a pause between them; a cancel between chunks drops the batch", async () => {
  const { db, store } = openStore();
  await Promise.all(Array.from({ length: 1000 }, (_, i) => store.append(record("p", i))));
  const steps = [];
  const pause = (ms) => {
    steps.push(ms);
    return new Promise((r) => setImmediate(r));
  };
  const builder = builderOf(db, store, layoutOf(), { batchSize: 450, readChunkRows: 100 }, pause);
  const batch = await builder.build(0, () => false);
  assert.equal(batch.count, 450);
  assert.equal(steps.length, 4, "a pause after each full chunk but the last of the batch");
  assert.ok(
    steps.every((ms) => typeof ms === "number" && ms >= 0),
    JSON.stringify(steps),
  );
  let cancel = false;
  const cancelled = builder.build(450, () => cancel);
  cancel = true;
  assert.equal(await cancelled, undefined);
  db.close();
});

test("a row whose series is gone is dead-lettered alone, described without its value stringified", async () => {
  const { db, store } = openStore();
  await store.append(record("a", 1));
  await store.append(record("gone", "x".repeat(500)));
  await store.append(record("a", 3));
  db.prepare("DELETE FROM wotvo_series WHERE name = 'gone'").run();
  const [batch] = await buildAll(builderOf(db, store, layoutOf()));
  assert.equal(batch.count, 3);
  assert.deepEqual(batch.payloads[0].ids, [1, 3]);
  assert.equal(batch.dead.length, 1);
  const [dead] = batch.dead;
  assert.equal(dead.historyId, 2);
  assert.equal(dead.status, 0);
  assert.equal(dead.bucket, "");
  assert.match(dead.reason, /^could not read the history row: its series \d+ is missing/);
  assert.match(dead.line, /^history row 2 \(series \d+: missing\): value \(502 characters\) "x{199}…$/);
  assert.equal(batch.bytesBetween(0, 3), sqlBytes(db, 0, 3), "a dead row still counts in the outbox size");
  db.close();
});

test("vo-wot layout: one payload per bucket, each line as the reference writes it", async () => {
  const { db, store } = openStore();
  await Promise.all([
    store.append(record("temperature", 21.5)),
    store.append(record("temperature", 22)),
    store.append(record("pm", { pm25: 3, unit: "x" })),
    store.append(record("alarm", { level: 2 }, { kind: "event", op: "emit" })),
    store.append(record("go", 1, { kind: "action", op: "invoke", outputJson: "2", durationMs: 3 })),
  ]);
  const layout = layoutOf("vo-wot");
  const [batch] = await buildAll(builderOf(db, store, layout));
  assert.deepEqual(batch.payloads.map((p) => p.bucket).sort(), ["action", "event", "pm", "temperature"]);
  const built = linesById([batch]);
  const reference = layoutOf("vo-wot");
  for (const row of store.readAfter(0, 10)) {
    const point = reference.buildWithPoint(row);
    assert.deepEqual(built.get(row.id), { line: point.line, bucket: point.bucket });
  }
  db.close();
});

test("ids with gaps, and stamps that are not ts × 10⁶ + sub (time 0), are read and built like any row", async () => {
  const { db, store } = openStore();
  await Promise.all([1, 2, 3].map((i) => store.append(record("p", i))));
  await store.append(record("p", 4, { time: 0 })); // an explicit time of 0: its stamp is the slot alone
  // A row written with an id of its own leaves a gap; the store's next ids follow it.
  const series = db.prepare("SELECT id FROM wotvo_series WHERE name = 'p'").pluck().get();
  db.prepare(
    "INSERT INTO wotvo_history (id, series_id, ts, ts_sub, op, ok, value, source) VALUES (1000, ?, 1700000000000, 7, 'write', 1, '5', 'http')",
  ).run(series);
  await Promise.all([6, 7].map((i) => store.append(record("p", i))));
  const layout = layoutOf();
  const batches = await buildAll(builderOf(db, store, layout, { readChunkRows: 2 }));
  const built = linesById(batches);
  const rows = store.readAfter(0, 100);
  assert.deepEqual(
    rows.map((r) => r.id),
    [1, 2, 3, 4, 1000, 1001, 1002],
  );
  for (const row of rows)
    assert.equal(built.get(row.id).line, layout.buildWithPoint(row).line, `row ${row.id}`);
  assert.match(built.get(4).line, / 500000$/, "time 0: the nanosecond stamp is the slot");
  const last = batches[batches.length - 1];
  assert.equal(last.last, 1002);
  assert.equal(
    batches.reduce((n, b) => n + b.count, 0),
    7,
  );
  db.close();
});
