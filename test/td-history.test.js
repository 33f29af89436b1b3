// History in the TD: a plain fetch client that knows only the servient's root URL follows the TD's
// forms to read history (range, limit, aggregate); a node-wot consumer does the same; bad requests
// get clear 4xx answers and change nothing; the plugin's affordances are annotated and optional.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { startTestVo, exposeThing } = require("./helpers/vo.js");

const TD = {
  title: "Hist Sensor",
  id: "urn:test:hist-sensor",
  properties: {
    temp: { type: "number" },
    label: { type: "string" },
  },
  actions: { add: { input: { type: "object" }, output: { type: "number" } } },
  events: { alarm: { data: { type: "string" } } },
};

const JSON_HEADERS = { "content-type": "application/json" };
/** Windows are aligned to the epoch: one this long holds any recent range whole (until 2033). */
const ONE_WINDOW = 1e12;

/** RFC 6570 form-style query expansion: `…/history{?name,from}` + {name: "temp"} → `…/history?name=temp`. */
function expand(href, vars) {
  return href.replace(/\{\?([^}]+)\}/, (_, names) => {
    const parts = names
      .split(",")
      .filter((n) => vars[n] !== undefined)
      .map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(String(vars[n]))}`);
    return parts.length ? `?${parts.join("&")}` : "";
  });
}

function formFor(affordance, op) {
  const form = affordance.forms.find((f) => [].concat(f.op ?? []).includes(op) && f.href.startsWith("http"));
  assert.ok(form, `a form with op ${op}`);
  return form;
}

async function setup(options = {}) {
  const vo = await startTestVo(options);
  const state = { temp: 0, label: "" };
  const thing = await exposeThing(vo.wot, TD, (t) => {
    for (const name of ["temp", "label"]) {
      t.setPropertyReadHandler(name, async () => state[name]);
      t.setPropertyWriteHandler(name, async (v) => {
        state[name] = await v.value();
      });
    }
    t.setActionHandler("add", async (p) => {
      const { a, b } = await p.value();
      return a + b;
    });
  });
  return { vo, thing, state };
}

/** Writes the values through HTTP (recorded), returns [before, after] timestamps. */
async function writeTemps(vo, values) {
  const url = `${vo.baseUrl}/hist-sensor/properties/temp`;
  const before = Date.now();
  for (const v of values) {
    const res = await fetch(url, { method: "PUT", headers: JSON_HEADERS, body: JSON.stringify(v) });
    assert.equal(res.status, 204);
  }
  return [before, Date.now()];
}

test("a fetch client following only the TD's forms reads history with a range, a limit and an aggregate", async (t) => {
  const { vo } = await setup();
  t.after(() => vo.stop());
  const [from, to] = await writeTemps(vo, [10, 20, 30, 40]);
  await fetch(`${vo.baseUrl}/hist-sensor/properties/label`, {
    method: "PUT",
    headers: JSON_HEADERS,
    body: '"x"',
  });

  // Discovery: GET / lists the TD URLs; the TD gives the forms.
  const urls = await (await fetch(`${vo.baseUrl}/`)).json();
  const tdUrl = urls.find((u) => u.endsWith("/hist-sensor"));
  assert.ok(tdUrl, `the listing has the thing: ${urls}`);
  const td = await (await fetch(tdUrl)).json();

  const history = td.properties.history;
  assert.equal(history["vo:plugin"], true);
  assert.equal(history.readOnly, true);
  assert.deepEqual(history.uriVariables.name.enum, ["add", "alarm", "label", "temp"]);
  const form = formFor(history, "readproperty");
  assert.match(form.href, /\/history\{\?name,kind,from,to,limit,order\}$/);

  // Range + limit: the newest three of the four writes.
  const rows = await (await fetch(expand(form.href, { name: "temp", from, to, limit: 3 }))).json();
  assert.deepEqual(
    rows.map((r) => r.value),
    [40, 30, 20],
  );
  for (const r of rows) {
    assert.equal(r.kind, "property");
    assert.equal(r.op, "write");
    assert.equal(r.ok, true);
    assert.ok(r.time >= from && r.time <= to);
    assert.equal(r.at, new Date(r.time).toISOString());
  }
  // Oldest first.
  const asc = await (await fetch(expand(form.href, { name: "temp", order: "asc", limit: 2 }))).json();
  assert.deepEqual(
    asc.map((r) => r.value),
    [10, 20],
  );
  // A range that excludes everything.
  const none = await (await fetch(expand(form.href, { name: "temp", from: 0, to: from - 1 }))).json();
  assert.deepEqual(none, []);
  // No name: every recorded affordance of the thing.
  const all = await (await fetch(expand(form.href, {}))).json();
  assert.equal(all.length, 5);
  assert.equal(all[0].name, "label");

  // Aggregate over one window that holds all four writes.
  const agg = td.properties.historyAggregate;
  const aggForm = formFor(agg, "readproperty");
  const windows = await (
    await fetch(expand(aggForm.href, { name: "temp", from, to, window: ONE_WINDOW }))
  ).json();
  assert.equal(windows.length, 1);
  assert.deepEqual(
    { count: windows[0].count, min: windows[0].min, max: windows[0].max, mean: windows[0].mean },
    { count: 4, min: 10, max: 40, mean: 25 },
  );
  assert.equal(windows[0].first, 10);
  assert.equal(windows[0].last, 40);
  // Small windows: the counts still add up to the four writes.
  const small = await (await fetch(expand(aggForm.href, { name: "temp", from, to, window: 1 }))).json();
  assert.equal(
    small.reduce((n, w) => n + w.count, 0),
    4,
  );
  // One aggregate only.
  const means = await (
    await fetch(expand(aggForm.href, { name: "temp", from, to, window: ONE_WINDOW, aggregate: "max" }))
  ).json();
  assert.deepEqual(
    means.map((w) => w.value),
    [40],
  );

  // The POST action with the same input.
  const action = td.actions.queryHistory;
  assert.equal(action["vo:plugin"], true);
  const actionForm = formFor(action, "invokeaction");
  const res = await fetch(actionForm.href, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ name: "temp", from, to, limit: 2 }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(
    (await res.json()).map((r) => r.value),
    [40, 30],
  );
  const aggRes = await fetch(actionForm.href, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ name: "temp", from, to, window: ONE_WINDOW, aggregate: "mean" }),
  });
  assert.deepEqual(
    (await aggRes.json()).map((w) => w.value),
    [25],
  );
});

test("a node-wot consumer reads the same history with readProperty and invokeAction", async (t) => {
  const { vo } = await setup();
  t.after(() => vo.stop());
  const [from, to] = await writeTemps(vo, [1, 2, 3]);
  await fetch(`${vo.baseUrl}/hist-sensor/actions/add`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ a: 2, b: 3 }),
  });

  const td = await vo.wot.requestThingDescription(`${vo.baseUrl}/hist-sensor`);
  const consumed = await vo.wot.consume(td);
  const rows = await (
    await consumed.readProperty("history", { uriVariables: { name: "temp", from, to, limit: 2 } })
  ).value();
  assert.deepEqual(
    rows.map((r) => r.value),
    [3, 2],
  );
  const windows = await (
    await consumed.readProperty("historyAggregate", {
      uriVariables: { name: "temp", from, to, window: ONE_WINDOW },
    })
  ).value();
  assert.equal(windows.length, 1);
  assert.equal(windows[0].count, 3);
  assert.equal(windows[0].mean, 2);

  const invoked = await (
    await consumed.invokeAction("queryHistory", { name: "add", kind: "action" })
  ).value();
  assert.equal(invoked.length, 1);
  assert.deepEqual(invoked[0].value, { a: 2, b: 3 });
  assert.equal(invoked[0].output, 5);

  // A bad request is a client error with the reason.
  await assert.rejects(
    consumed.readProperty("history", { uriVariables: { name: "nope" } }).then((o) => o.value()),
    /Client error: 'Hist Sensor' has no affordance named "nope"/,
  );
});

test("bad history requests get clear 4xx errors and change nothing", async (t) => {
  const { vo } = await setup();
  t.after(() => vo.stop());
  await writeTemps(vo, [5, 6]);
  const store = vo.servient.vo.history;
  store.flush();
  const before = store.maxId();
  const base = `${vo.baseUrl}/hist-sensor`;
  const cases = [
    [
      "/properties/history?name=nope",
      400,
      /has no affordance named "nope"; known names: add, alarm, label, temp/,
    ],
    ["/properties/history?name=temp&kind=event", 400, /has no event named "temp"/],
    ["/properties/history?from=2000&to=1000", 400, /'from' \(2000\) is after 'to' \(1000\)/],
    ["/properties/history?limit=1000000000", 400, /'limit' must be an integer from 1 to 10000/],
    ["/properties/history?limit=0", 400, /'limit'/],
    ["/properties/history?from=abc", 400, /'from' must be milliseconds since the epoch/],
    ["/properties/history?order=sideways", 400, /'order' must be one of asc, desc/],
    ["/properties/history?kind=table", 400, /'kind' must be one of property, action, event/],
    ["/properties/history?name=temp'%3B%20DROP%20TABLE%20wotvo_history%3B--", 400, /has no affordance named/],
    ["/properties/history?name=%27%20OR%201%3D1%20--", 400, /has no affordance named "' OR 1=1 --"/],
    ["/properties/history?name=%E0%A4%A", 400, /malformed percent-encoding/],
    ["/properties/historyAggregate?name=temp&window=1000", 400, /needs 'from'/],
    ["/properties/historyAggregate?name=temp&from=0", 400, /needs 'window'/],
    ["/properties/historyAggregate?from=0&window=1000", 400, /needs 'name'/],
    [
      "/properties/historyAggregate?name=temp&from=0&to=100000000&window=1",
      400,
      /windows, more than the limit/,
    ],
    [
      "/properties/historyAggregate?name=temp&from=0&window=1000&field=a;b",
      400,
      /field 'a;b' is not a dotted path/,
    ],
    [
      "/properties/historyAggregate?name=temp&from=0&window=1000&aggregate=median",
      400,
      /'aggregate' must be one of/,
    ],
  ];
  for (const [path, status, message] of cases) {
    const res = await fetch(base + path);
    const body = await res.text();
    assert.equal(res.status, status, `${path}: ${res.status} ${body}`);
    assert.match(body, message, path);
  }
  const post = async (body) =>
    fetch(`${base}/actions/queryHistory`, { method: "POST", headers: JSON_HEADERS, body });
  let res = await post(JSON.stringify({ name: "temp", limit: 1e9 }));
  assert.equal(res.status, 400);
  assert.match(await res.text(), /'limit' must be an integer from 1 to 10000/);
  res = await post("[1,2]");
  assert.equal(res.status, 400);
  assert.match(await res.text(), /expected a JSON object/);
  res = await post(JSON.stringify({ name: { $gt: "" } }));
  assert.equal(res.status, 400);
  assert.match(await res.text(), /'name' must be a string/);

  // Nothing was recorded by any of it, and the history is intact.
  store.flush();
  assert.equal(store.maxId(), before);
  const rows = await (await fetch(`${base}/properties/history?name=temp`)).json();
  assert.deepEqual(
    rows.map((r) => r.value),
    [6, 5],
  );
});

test("the plugin's affordances can be turned off; a name the thing uses itself is left to it", async (t) => {
  const off = await startTestVo({ td: { historyAffordances: false, voAffordances: false } });
  t.after(() => off.stop());
  await exposeThing(off.wot, { title: "Plain" }, () => undefined);
  const td = await (await fetch(`${off.baseUrl}/plain`)).json();
  assert.deepEqual(Object.keys(td.properties ?? {}), []);
  assert.deepEqual(Object.keys(td.actions ?? {}), []);

  const onlyHistory = await startTestVo({ td: { voAffordances: false } });
  t.after(() => onlyHistory.stop());
  await exposeThing(
    onlyHistory.wot,
    { title: "Own", properties: { history: { type: "string", readOnly: true } } },
    (thing) => thing.setPropertyReadHandler("history", async () => "mine"),
  );
  const td2 = await (await fetch(`${onlyHistory.baseUrl}/own`)).json();
  assert.deepEqual(Object.keys(td2.properties).sort(), ["history", "historyAggregate"]);
  assert.equal(td2.properties.history["vo:plugin"], undefined);
  assert.equal(td2.properties.historyAggregate["vo:plugin"], true);
  assert.deepEqual(Object.keys(td2.actions), ["queryHistory"]);
  assert.equal(await (await fetch(`${onlyHistory.baseUrl}/own/properties/history`)).json(), "mine");
  assert.ok(td2["@context"].some((c) => typeof c === "object" && c.vo));
});
