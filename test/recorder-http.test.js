// The recorder over real HTTP: every interaction a client or the script makes shows up in the
// SQLite history with the right values, and an acknowledged write is already in the file.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const Database = require("better-sqlite3");
const { startTestVo, exposeThing, waitFor } = require("./helpers/vo.js");

const TD = {
  title: "Test Lamp",
  properties: {
    brightness: { type: "integer", minimum: 0, maximum: 100 },
    label: { type: "string" },
    config: { type: "object", properties: { a: { type: "number" }, b: { type: "string" } } },
    raw: { type: "string" },
    level: { type: "number", readOnly: true, observable: true },
    secret: { type: "string", "vo:record": false },
  },
  actions: {
    add: {
      input: {
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number" } },
        required: ["a", "b"],
      },
      output: { type: "number" },
    },
    fail: { input: { type: "string" } },
    reset: {},
  },
  events: { alarm: { data: { type: "string" } }, tick: { data: { type: "integer" } } },
};

async function setup(state) {
  const vo = await startTestVo({ recorder: { exclude: ["Test Lamp/tick"] } });
  const thing = await exposeThing(vo.wot, TD, (t) => {
    for (const name of ["brightness", "label", "config", "secret"]) {
      t.setPropertyReadHandler(name, async () => state[name]);
      t.setPropertyWriteHandler(name, async (v) => {
        state[name] = await v.value();
      });
    }
    // A handler that reads the raw bytes instead of value(): must still work when recorded.
    t.setPropertyReadHandler("raw", async () => state.raw);
    t.setPropertyWriteHandler("raw", async (v) => {
      state.raw = Buffer.from(await v.arrayBuffer()).toString("utf8");
    });
    t.setPropertyReadHandler("level", async () => state.level);
    t.setActionHandler("add", async (p) => {
      const { a, b } = await p.value();
      return a + b;
    });
    t.setActionHandler("fail", async (p) => {
      throw new Error(`refused: ${await p.value()}`);
    });
    t.setActionHandler("reset", async () => undefined);
  });
  return { vo, thing, url: `${vo.baseUrl}/test-lamp` };
}

const put = (url, body, type = "application/json") =>
  fetch(url, { method: "PUT", headers: { "content-type": type }, body });
const post = (url, body) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

test("recorder over real HTTP", async (t) => {
  const state = { brightness: 0, label: "", config: {}, raw: "", level: 1.5, secret: "" };
  const { vo, thing, url } = await setup(state);
  const history = vo.servient.vo.history;
  const rows = (name, kind) => history.query({ thingTitle: "Test Lamp", kind, name, order: "asc" });
  t.after(() => vo.stop());

  await t.test("PUT property is recorded with its value, and is in the file when 204 arrives", async () => {
    const res = await put(`${url}/properties/brightness`, "42");
    assert.equal(res.status, 204);
    // Read from a second, independent connection: the row must already be committed.
    const reader = new Database(vo.file, { readonly: true });
    try {
      const row = reader
        .prepare(
          `SELECT h.value, h.ok, h.op, h.source FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id
           WHERE s.name = 'brightness' ORDER BY h.id DESC LIMIT 1`,
        )
        .get();
      assert.deepEqual(row, { value: "42", ok: 1, op: "write", source: "http" });
    } finally {
      reader.close();
    }
    assert.equal(state.brightness, 42);
  });

  await t.test("string and object values round-trip", async () => {
    assert.equal((await put(`${url}/properties/label`, JSON.stringify('it\'s "quoted"\n'))).status, 204);
    assert.equal((await put(`${url}/properties/config`, JSON.stringify({ a: 1.5, b: "x" }))).status, 204);
    assert.equal(rows("label").at(-1).value, 'it\'s "quoted"\n');
    assert.deepEqual(rows("config").at(-1).value, { a: 1.5, b: "x" });
    const last = rows("config").at(-1);
    assert.equal(last.thingTitle, "Test Lamp");
    assert.equal(last.thingId, thing.id);
    assert.equal(last.kind, "property");
  });

  await t.test("a handler that uses arrayBuffer() still gets the bytes", async () => {
    assert.equal((await put(`${url}/properties/raw`, JSON.stringify("bytes!"))).status, 204);
    assert.equal(state.raw, '"bytes!"');
    assert.equal(rows("raw").at(-1).value, "bytes!");
  });

  await t.test(
    "invalid payload: refused with 400 (not node-wot's 500), recorded as a failure with the error",
    async () => {
      const res = await put(`${url}/properties/brightness`, "500");
      assert.equal(res.status, 400);
      assert.match(res.statusText, /does not match the data schema of property 'brightness'/);
      assert.equal(state.brightness, 42);
      const last = rows("brightness").at(-1);
      assert.equal(last.ok, false);
      assert.equal(last.value, 500);
      assert.match(last.error, /Invalid value according to DataSchema/);
      const bad = await put(`${url}/properties/brightness`, "{not json");
      assert.equal(bad.status, 400);
      const lastBad = rows("brightness").at(-1);
      assert.equal(lastBad.ok, false);
      assert.equal(lastBad.value, "{not json");
    },
  );

  await t.test("POST action records input, output and duration", async () => {
    const res = await post(`${url}/actions/add`, { a: 2, b: 3 });
    assert.equal(res.status, 200);
    assert.equal(await res.json(), 5);
    const row = rows("add", "action").at(-1);
    assert.deepEqual(row.value, { a: 2, b: 3 });
    assert.equal(row.output, 5);
    assert.equal(row.ok, true);
    assert.equal(row.op, "invoke");
    assert.equal(typeof row.durationMs, "number");
    assert.ok(row.durationMs >= 0);
  });

  await t.test("an action without input or output is recorded", async () => {
    const res = await post(`${url}/actions/reset`);
    assert.equal(res.status, 204);
    const row = rows("reset", "action").at(-1);
    assert.equal(row.ok, true);
    assert.equal(row.value, undefined);
    assert.equal(row.output, undefined);
  });

  await t.test("a failing action is recorded with its error, and the client gets that error", async () => {
    const res = await post(`${url}/actions/fail`, "nope");
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "refused: nope");
    const row = rows("fail", "action").at(-1);
    assert.equal(row.ok, false);
    assert.equal(row.value, "nope");
    assert.equal(row.error, "refused: nope");
  });

  await t.test(
    "emitEvent is recorded with no subscriber; emitPropertyChange records the value read",
    async () => {
      thing.emitEvent("alarm", "too hot");
      state.level = 7.25;
      await thing.emitPropertyChange("level");
      const change = rows("level").at(-1);
      assert.equal(change.op, "change");
      assert.equal(change.value, 7.25);
      assert.equal(change.source, "local");
      const alarm = await waitFor(() => rows("alarm", "event").at(-1), { what: "the alarm event row" });
      assert.equal(alarm.value, "too hot");
      assert.equal(alarm.op, "emit");
      assert.throws(() => thing.emitEvent("nosuch", 1), /NotFoundError/);
    },
  );

  await t.test("excluded by config glob or by TD annotation: not recorded, still works", async () => {
    thing.emitEvent("tick", 1);
    assert.equal((await put(`${url}/properties/secret`, JSON.stringify("pw"))).status, 204);
    assert.equal(state.secret, "pw");
    history.flush();
    assert.equal(rows("tick", "event").length, 0);
    assert.equal(rows("secret").length, 0);
  });

  await t.test("reads are not recorded and the GET still answers", async () => {
    const res = await fetch(`${url}/properties/brightness`);
    assert.equal(await res.json(), 42);
    assert.equal(rows("brightness").filter((r) => r.op !== "write").length, 0);
  });

  await t.test("concurrent writes each get their own row with unique timestamps", async () => {
    const before = rows("brightness").length;
    await Promise.all(Array.from({ length: 50 }, (_, i) => put(`${url}/properties/brightness`, String(i))));
    const all = rows("brightness");
    assert.equal(all.length, before + 50);
    const stamps = new Set(all.map((r) => `${r.time}.${r.timeSub}`));
    assert.equal(stamps.size, all.length);
  });
});

test("the thing and WoT reach the helpers, which stay out of the TD", async () => {
  const vo = await startTestVo();
  try {
    const thing = await exposeThing(
      vo.wot,
      { title: "Helper Check", properties: { x: { type: "integer" } } },
      (t) => t.setPropertyReadHandler("x", async () => 1),
    );
    assert.equal(thing.servient, vo.servient);
    assert.equal(thing.servient.sqlite_db, vo.servient.sqlite_db);
    assert.equal(vo.wot.sqlite_db, vo.servient.sqlite_db);
    assert.equal(vo.wot.servient, vo.servient);
    assert.equal(vo.wot.influxdb, vo.servient.influxdb);
    const td = await (await fetch(`${vo.baseUrl}/helper-check`)).json();
    assert.equal(td.servient, undefined);
    assert.equal(JSON.stringify(td).includes("sqlite_db"), false);
    await assert.rejects(vo.servient.influxdb.executeQuery('from(bucket:"x")'), /InfluxDB is not configured/);
  } finally {
    await vo.stop();
  }
});

test("a thing whose title or affordance name has a line break is still recorded", async () => {
  const vo = await startTestVo();
  try {
    const thing = await exposeThing(vo.wot, {
      title: "Two\nLines",
      events: { "a\nb": { data: { type: "string" } } },
    });
    thing.emitEvent("a\nb", "x");
    vo.servient.vo.history.flush();
    const rows = vo.servient.vo.history.query({ thingId: thing.id, kind: "event", name: "a\nb" });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].thingTitle, "Two\nLines");
  } finally {
    await vo.stop();
  }
});
