// The Flux query path and the v2 API's control flow (Retry-After, 413, bucket creation), with a tiny
// local HTTP server standing in for the client's transport: it returns canned annotated CSV and
// status codes. This is NOT a database: Flux is not verified against a real InfluxDB 2 here (none
// is installable on these machines) — see docs/influxdb.md, "What is verified against what".
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const zlib = require("node:zlib");
const { startInfluxVo } = require("./helpers/servers.js");
const { waitFor } = require("./helpers/vo.js");

/** A recording HTTP server; `handle(req, body)` returns { status, headers, body }. */
async function stub(handle) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = zlib.gunzipSync(body);
      const entry = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: body.toString(),
        at: Date.now(),
      };
      requests.push(entry);
      const out = handle(entry) ?? { status: 204 };
      res.writeHead(out.status, out.headers ?? {});
      res.end(out.body ?? "");
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => server.close(r)),
  };
}

const CSV_MEAN = [
  "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,double",
  "#group,false,false,true,true,false",
  "#default,_result,,,,",
  ",result,table,_start,_stop,_value",
  ",,0,2024-01-01T00:00:00Z,2024-01-01T01:00:00Z,3.5",
  "",
].join("\r\n");

const CSV_ROWS = [
  "#datatype,string,long,dateTime:RFC3339,string,string,string,long,boolean",
  "#group,false,false,false,true,true,true,false,false",
  "#default,_result,,,,,,,",
  ",result,table,_time,_measurement,_field,name,_value,flag",
  ",,0,2024-01-01T00:00:00.000000001Z,wot_property,value_int,level,42,true",
  ",,0,2024-01-01T00:00:01Z,wot_property,value_int,level,43,false",
  "",
].join("\r\n");

const csv = (body) => ({ status: 200, headers: { "content-type": "text/csv; charset=utf-8" }, body });

/** The query text with every Flux string literal removed: what is left is code. */
const codeOf = (flux) => flux.replace(/"(?:[^"\\]|\\.)*"/g, '""');

const HOSTILE = 'x") |> drop(columns: ["_value"]) |> yield(name: "pwned") // ${"a"} \\ "';

test("meanValue builds sanitised Flux and maps the annotated CSV result", async () => {
  const server = await stub((r) => (r.url.startsWith("/api/v2/query") ? csv(CSV_MEAN) : undefined));
  const vo = await startInfluxVo(server.url, { apiVersion: 2, token: "t0k3n", org: "my org", bucket: "vo" });
  try {
    const inf = vo.servient.influxdb;
    assert.equal(await inf.meanValue(HOSTILE, HOSTILE, 600000), 3.5);
    const q = server.requests.find((r) => r.url.startsWith("/api/v2/query"));
    assert.equal(new URL(q.url, server.url).searchParams.get("org"), "my org");
    assert.equal(q.headers.authorization, "Token t0k3n");
    const flux = JSON.parse(q.body).query;
    // The hostile names are only inside string literals; the code around them is ours.
    const code = codeOf(flux);
    assert.doesNotMatch(code, /pwned|drop\(columns/);
    assert.equal(
      code.replace(/range\(start: [^)]*\)/, "range(start: T)"),
      'from(bucket: "") |> range(start: T) |> filter(fn: (r) => r._measurement == "") |> filter(fn: (r) => r.name == "")' +
        ' |> filter(fn: (r) => r.thing_id == "" or r.thing == "") |> filter(fn: (r) => r._field == "" or r._field == "")' +
        " |> toFloat() |> group() |> mean()",
    );
    assert.ok(flux.includes('r.name == "x\\") |> drop(columns: [\\"_value\\"])'), flux);
    assert.match(flux, /range\(start: \d{4}-\d\d-\d\dT[\d:.]+Z\)/);
    assert.ok(flux.includes('from(bucket: "vo")'));
    assert.ok(flux.includes('r._field == "value" or r._field == "value_int"'));

    // vo-wot style helpers: aggregates map the same way.
    assert.equal(await inf.aggregateValue({ id: "urn:a" }, "temp", "max", 1000), 3.5);
    const last = JSON.parse(server.requests.at(-1).body).query;
    assert.match(last, /r\.thing_id == "urn:a"\) .*\|> max\(\)$/);
    await assert.rejects(
      inf.aggregateValue("a", "b", 'mean() |> yield(name: "x")', 1000),
      /aggregate must be one of/,
    );
  } finally {
    await vo.stop();
    await server.close();
  }
});

test("executeQuery and the query template return typed rows; interpolations are escaped", async () => {
  const server = await stub((r) => (r.url.startsWith("/api/v2/query") ? csv(CSV_ROWS) : undefined));
  const vo = await startInfluxVo(server.url, { apiVersion: 2, token: "t", org: "wot", bucket: "vo" });
  try {
    const inf = vo.servient.influxdb;
    const rows = await inf.executeQuery('from(bucket: "vo") |> range(start: -1h)');
    assert.deepEqual(
      rows.map((r) => [r._time, r._field, r.name, r._value, r.flag]),
      [
        ["2024-01-01T00:00:00.000000001Z", "value_int", "level", 42, true],
        ["2024-01-01T00:00:01Z", "value_int", "level", 43, false],
      ],
    );
    const first = server.requests.find((r) => r.url.startsWith("/api/v2/query"));
    assert.equal(JSON.parse(first.body).query, 'from(bucket: "vo") |> range(start: -1h)');

    const { fluxDuration } = inf.flux;
    await inf.query`from(bucket: ${HOSTILE}) |> range(start: ${fluxDuration("-5m")}) |> filter(fn: (r) => r.name == ${HOSTILE})`;
    const sent = JSON.parse(server.requests.at(-1).body).query;
    assert.doesNotMatch(codeOf(sent), /pwned/);
    assert.ok(sent.includes('range(start: duration(v: "-5m"))'), sent);
    await assert.rejects(inf.query("from(bucket: x)"), /tagged template/);

    const recent = await inf.recentValues("Thing", "level", 60000, 2);
    assert.deepEqual(recent, [
      { time: "2024-01-01T00:00:00.000000001Z", value: 42 },
      { time: "2024-01-01T00:00:01Z", value: 43 },
    ]);
    assert.match(
      JSON.parse(server.requests.at(-1).body).query,
      /sort\(columns: \["_time"\], desc: true\) \|> limit\(n: 2\)$/,
    );
  } finally {
    await vo.stop();
    await server.close();
  }
});

test("a Flux error from the server becomes a readable error", async () => {
  const server = await stub(() => ({
    status: 400,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code: "invalid", message: "error @1:1-1:5: undefined identifier nope" }),
  }));
  const vo = await startInfluxVo(server.url, { apiVersion: 2, token: "t" });
  try {
    await assert.rejects(
      vo.servient.influxdb.executeQuery("nope"),
      /Flux query failed: .*undefined identifier nope/,
    );
  } finally {
    await vo.stop();
    await server.close();
  }
});

test("v2 writes: Retry-After is honoured, 413 splits, the bucket is created on first use", async () => {
  let writes = 0;
  const server = await stub((r) => {
    const url = new URL(r.url, "http://x");
    if (url.pathname === "/ping") return { status: 204 };
    if (url.pathname === "/api/v2/buckets" && r.method === "GET") {
      return {
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ buckets: [] }),
      };
    }
    if (url.pathname === "/api/v2/orgs") {
      return {
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ orgs: [{ id: "0a1b" }] }),
      };
    }
    if (url.pathname === "/api/v2/buckets" && r.method === "POST") {
      return { status: 201, headers: { "content-type": "application/json" }, body: "{}" };
    }
    if (url.pathname === "/api/v2/write") {
      writes++;
      if (writes === 1) return { status: 429, headers: { "retry-after": "1" }, body: "slow down" };
      if (r.body.split("\n").length > 2) return { status: 413, body: "too large" };
      return { status: 204 };
    }
    return { status: 404 };
  });
  const vo = await startInfluxVo(server.url, {
    apiVersion: 2,
    token: "t",
    org: "wot",
    bucket: "new",
    createBucket: true,
  });
  try {
    const inf = vo.servient.influxdb;
    for (let i = 0; i < 7; i++) await inf.writePoint("m", { i });
    assert.equal(await inf.flush(30000), true);
    assert.equal(inf.status().shipped, 7);
    const created = server.requests.find((r) => r.method === "POST" && r.url === "/api/v2/buckets");
    assert.deepEqual(JSON.parse(created.body), { orgID: "0a1b", name: "new", retentionRules: [] });
    const w = server.requests.filter((r) => r.url.startsWith("/api/v2/write"));
    assert.ok(w[1].at - w[0].at >= 900, `the retry waited for Retry-After: ${w[1].at - w[0].at} ms`);
    const url = new URL(w[0].url, "http://x");
    assert.deepEqual(
      [url.searchParams.get("bucket"), url.searchParams.get("org"), url.searchParams.get("precision")],
      ["new", "wot", "ns"],
    );
    const accepted = w
      .filter((r, i) => i > 0 && r.body.split("\n").length <= 2)
      .flatMap((r) => r.body.split("\n"));
    assert.equal(new Set(accepted).size, 7, "all seven points, split into requests the server takes");
    await waitFor(() => inf.status().state === "up");
  } finally {
    await vo.stop();
    await server.close();
  }
});
