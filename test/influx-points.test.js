// The point layout, without a server: names, field types, timestamps, Retry-After.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Point } = require("@influxdata/influxdb-client");
const {
  PointLayout,
  encodeName,
  encodeMeasurement,
  decodeName,
  nanos,
  typedFieldName,
  fieldTypeOfName,
  typeTreeOf,
} = require("../dist/influx/points.js");
const { parseRetryAfter, quoteIdentifier } = require("../dist/influx/transport.js");

const HOSTILE = [
  'a "q", b',
  "back\\slash\\",
  "new\nline\r\ttab",
  "100% %41 %25 %5C",
  "#comment",
  "x=1,y=2 z",
  "') |> drop() // ; DROP MEASUREMENT m --",
  "",
];

test("names: encode is identity for plain names and decode restores every string exactly", () => {
  for (const plain of ["temperature", "Lamp 1", "a,b=c", 'q"uote', "über-ß"])
    assert.equal(encodeName(plain), plain);
  for (const s of HOSTILE) {
    assert.equal(decodeName(encodeName(s)), s);
    assert.equal(decodeName(encodeMeasurement(s)), s);
    assert.doesNotMatch(encodeName(s), /[\\\n\r\t]/);
  }
  assert.equal(encodeMeasurement("#x"), "%23x");
});

test("the client's Point alone corrupts a line for a trailing backslash; encoded names do not", () => {
  const raw = new Point("m").tag("t", "ends\\").floatField("f", 1).toLineProtocol();
  assert.match(raw, /ends\\ f=1/, "the tag's backslash escapes the separator: line protocol breaks");
  const safe = new Point("m")
    .tag("t", encodeName("ends\\"))
    .floatField("f", 1)
    .timestamp("1")
    .toLineProtocol();
  assert.equal(safe, "m,t=ends%5C f=1 1");
});

test("typed field names: the type is a function of the name, whatever the JSON keys are", () => {
  const types = ["float", "int", "bool", "str"];
  const seen = new Map();
  for (const key of ["v", "v_int", "v_bool", "v_str", "v_json", "v_float", "v_int_float", "x_int_int"]) {
    for (const type of types) {
      const name = typedFieldName(`value.${key}`, type);
      assert.equal(fieldTypeOfName(name), type, `${key} as ${type} → ${name}`);
      if (seen.has(name)) assert.equal(seen.get(name), type, `${name} used for two types`);
      seen.set(name, type);
    }
  }
  assert.equal(typedFieldName("value", "float"), "value");
  assert.equal(typedFieldName("value", "json"), "value_json");
});

test("nanosecond timestamps are exact decimal strings", () => {
  assert.equal(nanos(1700000000123, 999999), "1700000000123999999");
  assert.equal(nanos(1700000000123, 0), "1700000000123000000");
  assert.equal(nanos(0, 7), "7");
});

function row(over) {
  return {
    id: 1,
    time: 1700000000000,
    timeSub: 1,
    thingId: "urn:x",
    thingTitle: "Lamp 1",
    kind: "property",
    name: "level",
    op: "write",
    ok: true,
    source: "http",
    ...over,
  };
}

function memory() {
  const m = new Map();
  return {
    get: (b, ms, f) => m.get(`${b}|${ms}|${f}`),
    set: (b, ms, f, t) => m.set(`${b}|${ms}|${f}`, t),
  };
}

const OPTIONS = {
  layout: "tagged",
  measurementPrefix: "wot_",
  maxFlattenedFields: 8,
  bucket: "vo",
  database: "vo",
  apiVersion: 2,
};

test("tagged layout: one line per kind, field types from the TD schema", () => {
  const schemas = {
    level: { value: typeTreeOf({ type: "integer" }) },
    temp: { value: typeTreeOf({ type: "number" }) },
    pm: {
      value: typeTreeOf({ type: "object", properties: { n: { type: "integer" }, v: { type: "number" } } }),
    },
    go: { value: typeTreeOf({ type: "integer" }), output: typeTreeOf({ type: "string" }) },
  };
  const layout = new PointLayout(OPTIONS, (r) => schemas[r.name], memory());
  const line = (over) => layout.build(row(over)).line;
  assert.equal(
    line({ value: 3 }),
    "wot_property,kind=property,name=level,op=write,source=http,thing=Lamp\\ 1,thing_id=urn:x ok=T,value_int=3i 1700000000000000001",
  );
  assert.match(
    line({ name: "temp", value: 3 }),
    / ok=T,value=3 /,
    "integral value of a number property stays float",
  );
  assert.match(line({ name: "nothing", value: 3 }), / ok=T,value=3 /, "no schema: numbers are floats");
  assert.match(line({ name: "s", value: 'he said "hi"\n' }), /value_str="he said \\"hi\\"\n"/);
  assert.match(line({ name: "b", value: false }), /value_bool=F/);
  assert.match(
    line({ name: "pm", value: { n: 2, v: 2, s: "x", deep: { a_int: 1.5 }, list: [1, true] } }),
    / ok=T,value.deep.a_int_float=1.5,value.list.0=1,value.list.1_bool=T,value.n_int=2i,value.s_str="x",value.v=2,value_json="\{/,
  );
  assert.match(line({ name: "nul", value: null }), /value_json="null"/);
  const action = line({
    kind: "action",
    name: "go",
    op: "invoke",
    value: 5,
    output: "done",
    durationMs: 1.25,
    ok: false,
    error: 'bad, "thing"',
  });
  assert.match(action, /^wot_action,kind=action,name=go,op=invoke/);
  assert.match(action, / duration_ms=1.25,error="bad, \\"thing\\"",input_int=5i,ok=F,output_str="done" /);
  assert.match(
    line({ kind: "event", name: "alarm", op: "emit", value: 1.5 }),
    /^wot_event,kind=event,.* ok=T,value=1.5 /,
  );
});

test("tagged layout: flattening stops at maxFlattenedFields, the JSON text stays whole", () => {
  const layout = new PointLayout(OPTIONS, () => undefined, memory());
  const big = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
  const line = layout.build(row({ value: big })).line;
  assert.equal((line.match(/value\.k\d+=/g) ?? []).length, 8);
  assert.ok(line.includes(`value_json=${JSON.stringify(JSON.stringify(big))}`));
});

test("script points: measurement, tags and fields of the script; numbers are floats", () => {
  const layout = new PointLayout(OPTIONS, () => undefined, memory());
  const line = layout.build(
    row({
      kind: "point",
      name: "my m",
      op: "point",
      value: { fields: { n: 1, s: "x", b: true }, tags: { site: "A 1" } },
    }),
  ).line;
  assert.equal(line, 'my\\ m,site=A\\ 1 b=T,n=1,s="x" 1700000000000000001');
});

test("vo-wot layout: bucket per property, measurement = name, field value; types decided once", () => {
  const layout = new PointLayout({ ...OPTIONS, layout: "vo-wot" }, () => undefined, memory());
  const p1 = layout.build(row({ name: "temperature", value: 21.5 }));
  assert.equal(p1.bucket, "temperature");
  assert.equal(p1.line, "temperature value=21.5 1700000000000000001");
  assert.equal(
    layout.build(row({ name: "temperature", value: "n/a" })).line,
    'temperature value_str="n/a" 1700000000000000001',
  );
  assert.equal(
    layout.build(row({ name: "temperature", value: 22 })).line,
    "temperature value=22 1700000000000000001",
  );
  const obj = layout.build(row({ name: "pm", value: { a: { b: 1 }, list: [1, 2] } }));
  assert.equal(obj.line, 'pm a.b=1,list="[1,2]" 1700000000000000001');
  const ev = layout.build(row({ kind: "event", name: "alarm", op: "emit", value: { x: 1 } }));
  assert.equal(ev.bucket, "event");
  assert.match(
    ev.line,
    /^event value="\{\\"thing\\":\\"Lamp 1\\",\\"thingId\\":\\"urn:x\\",\\"name\\":\\"alarm\\",\\"data\\":\{\\"x\\":1\}\}" /,
  );
  const act = layout.build(row({ kind: "action", name: "go", op: "invoke", value: 1, output: 2 }));
  assert.equal(act.bucket, "action");
  assert.match(act.line, /^action value="/);
});

test("Retry-After: seconds or an HTTP date; identifiers quoted for InfluxQL", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter("0.5"), 500);
  assert.equal(parseRetryAfter(new Date(Date.now() + 10000).toUTCString()) > 8000, true);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  assert.equal(quoteIdentifier('a"b\\c'), '"a\\"b\\\\c"');
});

test("tagged layout: the fast line builder writes exactly what the client's Point writes", () => {
  const schemas = {
    count: { value: typeTreeOf({ type: "integer" }) },
    pm: { value: typeTreeOf({ type: "object", properties: { n: { type: "integer" } } }) },
    go: { value: typeTreeOf({ type: "integer" }), output: typeTreeOf({ type: "string" }) },
  };
  const layout = new PointLayout(OPTIONS, (r) => schemas[r.name], memory());
  const values = [21.5, 0.1 + 0.2, -0, 1e21, 7, true, false, "text", ...HOSTILE, null, [1, "a", [true]]];
  values.push({ n: 3, nested: { a: 1.5, "k ey,=": "v\n" }, list: [1, 2] });
  const rows = [];
  let id = 1;
  for (const title of ["Lamp", ...HOSTILE]) {
    for (const name of ["count", "pm", "temp", ...HOSTILE.slice(0, 3)]) {
      for (const value of values) {
        rows.push(row({ id: id++, thingTitle: title, thingId: `urn:${title}`, name, value }));
      }
    }
  }
  for (const value of values) {
    rows.push(
      row({
        id: id++,
        kind: "action",
        op: "invoke",
        name: "go",
        value,
        output: value,
        error: 'bad "x"\n',
        durationMs: 1.25,
      }),
    );
    rows.push(row({ id: id++, kind: "event", op: "emit", name: "e\\v", value, ok: false }));
    rows.push(row({ id: id++, name: "temp", value, ok: false, error: 'no, "way"', durationMs: 2.5 }));
    rows.push(row({ id: id++, name: "count", value: Number.POSITIVE_INFINITY }));
  }
  let compared = 0;
  for (const r of rows) {
    let fast;
    let reference;
    try {
      reference = layout.buildWithPoint(r).line;
    } catch (err) {
      assert.throws(() => layout.build(r), { message: err.message });
      continue;
    }
    fast = layout.build(r).line;
    assert.equal(fast, reference, JSON.stringify(r));
    compared++;
  }
  assert.ok(compared > 500, `compared ${compared} rows`);
});
