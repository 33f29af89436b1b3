// A client's mistake never gets a 5xx, a hang or gigabytes held in memory: oversized bodies (declared
// or chunked) get 413 before they are read whole, "read all properties" works on every thing, deep
// JSON, prototype names, IPv6 zone ids and hostile parameters get a 4xx with a message (or a
// documented 2xx) from a real servient over HTTP.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const { startTestVo, exposeThing } = require("./helpers/vo.js");

const JSON_HEADERS = { "content-type": "application/json" };
const LIMIT = 64 * 1024; // recorder.maxBodyBytes in these tests

const TD = {
  title: "Hostile",
  id: "urn:test:hostile",
  properties: { temp: { type: "number" }, label: { type: "string" } },
  actions: { add: { input: { type: "object" }, output: { type: "number" } } },
  events: { alarm: { data: { type: "string" } } },
};

async function setup(options = {}) {
  const vo = await startTestVo({ recorder: { maxBodyBytes: LIMIT }, ...options });
  const state = { temp: 0, label: "", writes: 0 };
  await exposeThing(vo.wot, TD, (t) => {
    for (const name of ["temp", "label"]) {
      t.setPropertyReadHandler(name, async () => state[name]);
      t.setPropertyWriteHandler(name, async (v) => {
        state.writes++;
        state[name] = await v.value();
      });
    }
    t.setActionHandler("add", async (p) => {
      const { a, b } = await p.value();
      return a + b;
    });
  });
  const port = Number(new URL(vo.baseUrl).port);
  return { vo, state, port, base: `${vo.baseUrl}/hostile` };
}

/** Raw requests still open: a server that waits for a body never lets them finish. */
const open = new Set();

/** Stops the VO after dropping the connections a failing (waiting) server would keep open. */
function stopAll(vo) {
  for (const req of open) req.destroy();
  return vo.stop();
}

/** One raw request whose body is written by `send(req)`; resolves with status, headers and text. */
function raw(port, { method, path, headers }, send) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, text, sent: req.sentBytes }),
      );
      res.on("error", reject);
    });
    open.add(req);
    req.on("close", () => open.delete(req));
    req.sentBytes = 0;
    req.on("error", (err) => (req.answered ? undefined : reject(err)));
    req.on("response", () => (req.answered = true));
    send(req);
  });
}

/**
 * A chunked body (no Content-Length) that keeps growing until the server answers, up to `max`
 * bytes. A server that reads bodies whole never answers before the end.
 */
function growingBody(max) {
  return (req) => {
    const chunk = Buffer.alloc(16 * 1024, "7");
    const more = () => {
      while (!req.answered && req.sentBytes < max) {
        req.sentBytes += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", more);
      }
      if (!req.answered) req.end();
    };
    req.once("response", () => req.destroyed || req.end());
    more();
  };
}

// Without the limit these two would wait forever for the body: the timeout turns a hang into a failure.
test(
  "a write declaring a Content-Length above recorder.maxBodyBytes gets 413 before any body byte is sent",
  { timeout: 30000 },
  async (t) => {
    const { vo, state, port } = await setup();
    t.after(() => stopAll(vo));
    // The headers alone: a server that waits for the body would never answer.
    for (const [method, path] of [
      ["PUT", "/hostile/properties/label"],
      ["POST", "/hostile/actions/add"],
      ["POST", "/hostile/actions/queryHistory"],
      ["POST", "/hostile/actions/addObserver"],
    ]) {
      const res = await raw(
        port,
        { method, path, headers: { ...JSON_HEADERS, "content-length": String(10 * 1024 ** 3) } },
        (req) => req.flushHeaders(),
      );
      assert.equal(res.status, 413, path);
      assert.match(res.text, /10737418240 bytes \(Content-Length\) is larger than 65536 bytes/);
      assert.match(res.text, /raise the option recorder\.maxBodyBytes/);
      assert.equal(res.headers.connection, "close");
    }
    assert.equal(state.writes, 0);
    // Not seen by the recorder: nothing recorded.
    vo.servient.vo.history.flush();
    assert.deepEqual(vo.servient.vo.history.query({ thingId: TD.id }), []);
    // A body at the limit still goes through.
    const ok = await fetch(`${vo.baseUrl}/hostile/properties/label`, {
      method: "PUT",
      headers: JSON_HEADERS,
      body: JSON.stringify("x".repeat(LIMIT - 2)),
    });
    assert.equal(ok.status, 204);
  },
);

test(
  "a chunked write that grows past recorder.maxBodyBytes is cut off with 413 and recorded as refused",
  { timeout: 30000 },
  async (t) => {
    const { vo, state, port, base } = await setup();
    t.after(() => stopAll(vo));
    const max = 8 * 1024 * 1024;
    const res = await raw(
      port,
      {
        method: "PUT",
        path: "/hostile/properties/label",
        headers: { ...JSON_HEADERS, "transfer-encoding": "chunked" },
      },
      growingBody(max),
    );
    assert.equal(res.status, 413);
    assert.match(res.text, /larger than 65536 bytes \(the limit, recorder\.maxBodyBytes\)/);
    assert.ok(res.sent < max, `the server answered before the body ended (${res.sent} bytes sent)`);
    assert.equal(state.writes, 0, "the write handler never ran");

    // Recorded as a refused write; the body is described, not stored.
    const rows = await (await fetch(`${base}/properties/history?name=label`)).json();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].ok, false);
    assert.equal(rows[0].op, "write");
    assert.match(rows[0].error, /recorder\.maxBodyBytes/);
    assert.equal(rows[0].value.$truncated, true);
    assert.equal(rows[0].value.maxBodyBytes, LIMIT);
    assert.ok(
      rows[0].value.bytes > LIMIT && rows[0].value.bytes <= LIMIT + 1024 * 1024,
      `${rows[0].value.bytes}`,
    );

    // The plugin's own actions (not recorded) are bounded too.
    const plugin = await raw(
      port,
      {
        method: "POST",
        path: "/hostile/actions/queryHistory",
        headers: { ...JSON_HEADERS, "transfer-encoding": "chunked" },
      },
      growingBody(max),
    );
    assert.equal(plugin.status, 413);
    assert.match(plugin.text, /recorder\.maxBodyBytes/);

    // A small chunked write still works on a fresh connection.
    const small = await raw(
      port,
      {
        method: "PUT",
        path: "/hostile/properties/label",
        headers: { ...JSON_HEADERS, "transfer-encoding": "chunked" },
      },
      (req) => req.end('"fine"'),
    );
    assert.equal(small.status, 204);
    assert.equal(state.label, "fine");
  },
);

test("GET /<thing>/properties and readAllProperties() work; a historyAggregate query still needs its name", async (t) => {
  const { vo, base } = await setup();
  t.after(() => vo.stop());
  await fetch(`${base}/properties/temp`, { method: "PUT", headers: JSON_HEADERS, body: "21" });

  const res = await fetch(`${base}/properties`);
  assert.equal(res.status, 200, await res.clone().text());
  const all = await res.json();
  assert.equal(all.temp, 21);
  assert.deepEqual(all.historyAggregate, []);
  assert.equal(all.history.length, 1);
  assert.equal(all.history[0].name, "temp");
  assert.deepEqual(all.observers, []);

  const td = await vo.wot.requestThingDescription(base);
  const consumed = await vo.wot.consume(td);
  const map = await consumed.readAllProperties();
  assert.equal(await map.get("temp").value(), 21);
  assert.deepEqual(await map.get("historyAggregate").value(), []);
  assert.equal((await map.get("history").value()).length, 1);

  // node-wot's consumer reads each property without variables: no query, no windows (documented).
  const bare = await fetch(`${base}/properties/historyAggregate`);
  assert.equal(bare.status, 200);
  assert.deepEqual(await bare.json(), []);
  // A query without the variables it needs is still the client's mistake.
  const direct = await fetch(`${base}/properties/historyAggregate?from=0&window=1000`);
  assert.equal(direct.status, 400);
  assert.match(await direct.text(), /an aggregate needs 'name'/);
});

test("deep JSON in any plugin action input is a 400 with a message, not a stack overflow", async (t) => {
  const { vo, base } = await setup();
  t.after(() => vo.stop());
  const deep = "[".repeat(5000) + "]".repeat(5000);
  const bodies = [deep, `{"name":${deep}}`, `{"address":${deep}}`, `{"limit":${deep},"window":1}`];
  for (const action of [
    "queryHistory",
    "addObserver",
    "removeObserver",
    "addRedirectIp",
    "removeRedirectIp",
    "setDeviceIp",
  ]) {
    for (const body of bodies) {
      const res = await fetch(`${base}/actions/${action}`, { method: "POST", headers: JSON_HEADERS, body });
      const text = await res.text();
      assert.equal(res.status, 400, `${action}: ${text.slice(0, 200)}`);
      assert.match(text, /nested deeper than 16 levels/);
    }
  }
});

test("IPv6 zone ids are accepted, normalised alike in every spelling, and add then remove works", async (t) => {
  const { vo, base } = await setup();
  t.after(() => vo.stop());
  const post = (action, address) =>
    fetch(`${base}/actions/${action}`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ address }),
    });
  for (const [add, remove] of [
    ["addObserver", "removeObserver"],
    ["addRedirectIp", "removeRedirectIp"],
  ]) {
    let res = await post(add, "FE80:0::1%eth0");
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), ["fe80::1%eth0"]);
    res = await post(add, "fe80::1%25eth0"); // RFC 6874 spelling: the same address
    assert.equal(res.status, 409);
    res = await post(add, "[fe80::1%eth0]:8080");
    assert.deepEqual(await res.json(), ["fe80::1%eth0", "[fe80::1%eth0]:8080"]);
    res = await post(remove, "fe80::1%25eth0");
    assert.equal(res.status, 200);
    res = await post(remove, "[fe80:0:0::1%25eth0]:8080");
    assert.deepEqual(await res.json(), []);
    for (const bad of [
      "fe80::1%",
      "fe80::1%eth 0",
      "fe80::1%a/b",
      "[fe80::1%eth0",
      "10.0.0.1%eth0",
      "fe80::1%\u0000",
    ]) {
      res = await post(add, bad);
      assert.equal(res.status, 400, bad);
      assert.match(await res.text(), /not an IP address|invalid IPv6 zone id/);
    }
  }
  const res = await post("setDeviceIp", "[fe80::1%25wlan0]:80");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { address: "[fe80::1%wlan0]:80" });
});

/** [request, expected status, expected body pattern] */
const q = (s) => encodeURIComponent(s);
const TABLE = [
  // Prototype names are no affordances.
  ["GET /properties/history?name=constructor", 400, /has no affordance named "constructor"/],
  ["GET /properties/history?name=__proto__", 400, /has no affordance named "__proto__"/],
  ["GET /properties/history?name=hasOwnProperty", 400, /has no affordance named "hasOwnProperty"/],
  ["GET /properties/history?name=toString&kind=property", 400, /has no property named "toString"/],
  [
    "GET /properties/historyAggregate?name=constructor&from=0&window=1000",
    400,
    /has no affordance named "constructor"/,
  ],
  [
    "GET /properties/historyAggregate?name=toString&from=0&window=1000",
    400,
    /has no affordance named "toString"/,
  ],
  ['POST /actions/queryHistory {"name":"constructor"}', 400, /has no affordance named "constructor"/],
  [
    'POST /actions/queryHistory {"name":"__proto__","window":10,"from":0}',
    400,
    /has no affordance named "__proto__"/,
  ],
  ["GET /properties/constructor", 404, /'Hostile' has no property named "constructor"/],
  ["GET /properties/__proto__", 404, /has no property named "__proto__"/],
  ["PUT /properties/toString 1", 404, /has no property named "toString"/],
  ["POST /actions/hasOwnProperty {}", 404, /has no action named "hasOwnProperty"/],
  ["GET /events/constructor", 404, /has no event named "constructor"/],
  // node-wot casts integer variables with +value: the message says what was sent.
  ["GET /properties/history?limit=abc", 400, /'limit' must be a positive integer, got "abc"/],
  ["GET /properties/history?limit=", 400, /'limit' must be a positive integer, got ""/],
  ["GET /properties/history?limit=1e400", 400, /got "1e400"/],
  [
    "GET /properties/history?from=yesterday",
    400,
    /'from' must be milliseconds since the epoch.*got "yesterday"/,
  ],
  [
    "GET /properties/historyAggregate?name=temp&from=0&window=abc",
    400,
    /'window' must be a positive integer, got "abc"/,
  ],
  [
    "GET /properties/voStatusHistory?limit=abc",
    400,
    /'limit' must be an integer from 1 to 100000, got "abc"/,
  ],
  ["GET /properties/voStatusHistory?limit=-1", 400, /got "-1"/],
  // Every other variable: wrong values, empty, huge, unicode, %00.
  ["GET /properties/history?name=", 200, /^\[/], // empty name: all affordances (documented)
  [`GET /properties/history?name=${q("ü🙂")}`, 400, /has no affordance named "ü🙂"/],
  ["GET /properties/history?name=%00", 400, /has no affordance named "\\u0000"/],
  [`GET /properties/history?name=${"n".repeat(4000)}`, 400, /has no affordance named "n{80}"/],
  ["GET /properties/history?kind=%00", 400, /'kind' must be one of/],
  ["GET /properties/history?order=", 200, /^\[/],
  ["GET /properties/history?order=ASC", 400, /'order' must be one of asc, desc/],
  ["GET /properties/history?to=-5", 400, /'to' must be milliseconds since the epoch/],
  [
    `GET /properties/historyAggregate?name=temp&from=0&window=1000000000000&field=${"a".repeat(300)}`,
    400,
    /'field' must be at most 200 characters/,
  ],
  ["GET /properties/historyAggregate?name=temp&from=0&window=1000000000000&field=%00", 400, /field/],
  ["GET /properties/historyAggregate?name=temp&from=0&window=1000000000000&aggregate=", 200, /^\[/],
  [
    "GET /properties/historyAggregate?name=temp&from=0&window=1000000000000&aggregate=median",
    400,
    /'aggregate' must be one of/,
  ],
  ["GET /properties/historyAggregate?name=temp&window=1000", 400, /needs 'from'/],
  ["GET /properties/historyAggregate?name=temp&from=0", 400, /needs 'window'/],
  ["GET /properties/history?limit=1%00", 400, /'limit' must be a positive integer, got "1\\u0000"/],
  // Action inputs: wrong types, arrays for strings, empty, not JSON, not an object.
  ['POST /actions/queryHistory {"name":["temp"]}', 400, /'name' must be a string, got \["temp"\]/],
  ['POST /actions/queryHistory {"limit":"ten"}', 400, /'limit' must be a positive integer, got "ten"/],
  ['POST /actions/queryHistory {"limit":1.5}', 400, /'limit' must be a positive integer, got 1.5/],
  ['POST /actions/queryHistory {"from":{}}', 400, /'from' must be milliseconds/],
  ['POST /actions/queryHistory {"from":"not a date"}', 400, /or an ISO 8601 date, got "not a date"/],
  ['POST /actions/queryHistory {"kind":7}', 400, /'kind' must be one of/],
  ['POST /actions/queryHistory {"order":null}', 200, /^\[/],
  [
    'POST /actions/queryHistory {"window":"x","name":"temp","from":0}',
    400,
    /'window' must be a positive integer/,
  ],
  [
    'POST /actions/queryHistory {"window":10,"name":"temp","from":0,"field":[1]}',
    400,
    /'field' must be a string/,
  ],
  ["POST /actions/queryHistory [1,2]", 400, /expected a JSON object as input, got \[1,2\]/],
  ['POST /actions/queryHistory "x"', 400, /expected a JSON object as input/],
  ["POST /actions/queryHistory {nope", 400, /expected a JSON object as input, got "\{nope" \(not JSON\)/],
  ["POST /actions/queryHistory ", 200, /^\[/], // no input: the default query (documented)
  [`POST /actions/queryHistory {"name":"${"x".repeat(50000)}"}`, 400, /has no affordance named "x{80}/],
  [
    'POST /actions/addObserver {"address":["10.0.0.1"]}',
    400,
    /expected \{"address": "<ip>\[:port\]"\} as input, got \{"address":\["10.0.0.1"\]\}/,
  ],
  ['POST /actions/addObserver {"address":7}', 400, /expected \{"address"/],
  ["POST /actions/addObserver ", 400, /got an empty body/],
  ["POST /actions/addObserver null", 400, /got null/],
  ["POST /actions/addObserver [1]", 400, /got \[1\]/],
  ['POST /actions/addObserver ""', 400, /"" is not an IP address/],
  [`POST /actions/addObserver "${"1".repeat(50000)}"`, 400, /"1{77}\.\.\." is not an IP address/],
  ['POST /actions/addObserver "10.0.0.1\\u0000"', 400, /is not an IP address/],
  ['POST /actions/addObserver {"__proto__":{"address":"10.0.0.1"}}', 400, /expected \{"address"/],
  ['POST /actions/setDeviceIp {"address":"ü"}', 400, /"ü" is not an IP address/],
  ['POST /actions/removeObserver {"address":"10.9.9.9"}', 404, /observer 10.9.9.9 is not in the list/],
];

test("a table of hostile requests to the plugin's affordances: each a 4xx with a message or a documented 2xx", async (t) => {
  const { vo, base } = await setup();
  t.after(() => vo.stop());
  const wrong = [];
  for (const [request, status, pattern] of TABLE) {
    const space = request.indexOf(" ");
    const method = request.slice(0, space);
    const rest = request.slice(space + 1);
    const bodyAt = rest.indexOf(" ");
    const path = bodyAt < 0 ? rest : rest.slice(0, bodyAt);
    const body = bodyAt < 0 ? undefined : rest.slice(bodyAt + 1);
    const res = await fetch(`${base}${path}`, {
      method,
      headers: JSON_HEADERS,
      ...(method === "GET" ? {} : { body: body ?? "" }),
    });
    const text = await res.text();
    if (res.status !== status || !pattern.test(text))
      wrong.push(
        `${request.slice(0, 120)} → ${res.status} ${text.slice(0, 200)} (expected ${status} ${pattern})`,
      );
  }
  assert.deepEqual(wrong, []);
});
