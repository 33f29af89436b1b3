// The harshest user, against a running launcher (the demo VO as a child process): at least 200
// hostile requests — SQL, Flux and InfluxQL injection strings, deep nesting, huge sizes, broken
// encodings, prototype names, wrong methods and content types — to the plugin's affordances.
// Each must get a 4xx with a message or a documented 2xx; never a 5xx, never a hang. Afterwards
// the server is alive and the history still readable.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { ROOT, BIN, launch } = require("./helpers/launcher.js");

const MAX_BODY = 65536;

const INJECTIONS = [
  "' OR 1=1 --",
  "x'); DROP TABLE wotvo_history; --",
  '" OR ""="',
  "1; DELETE FROM observer",
  'r._measurement == "x" or true',
  '") |> drop() |> yield(name: "x',
  'from(bucket: "wot") |> range(start: 0)',
  'x" OR time > 0; DROP DATABASE wot; --',
  'SELECT * FROM "wot_property"',
  "\\u0000",
  "\u0000",
  "%00",
  "../../etc/passwd",
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "🔥".repeat(50),
  "a".repeat(10000),
];
const PROTOTYPE_NAMES = ["__proto__", "constructor", "prototype", "hasOwnProperty", "toString", "valueOf"];
const deep = (n, open = "[", close = "]") => open.repeat(n) + close.repeat(n);

/** The hostile requests: [label, method, path (relative to the thing), headers, body]. */
function hostileRequests() {
  const list = [];
  const get = (label, p) => list.push({ label, method: "GET", path: p });
  const post = (label, p, body, type = "application/json") =>
    list.push({ label, method: "POST", path: p, body, headers: { "content-type": type } });
  const q = (o) => new URLSearchParams(o).toString();

  for (const name of PROTOTYPE_NAMES) {
    // Names are looked up as the thing's own affordances: a prototype name is an unknown name.
    list.push({
      label: `history name=${name} is unknown`,
      method: "GET",
      path: `/properties/history?${q({ name })}`,
      only4xx: true,
    });
    list.push({
      label: `historyAggregate name=${name} is unknown`,
      method: "GET",
      path: `/properties/historyAggregate?${q({ name, from: 0, window: 60000 })}`,
      only4xx: true,
      says: /no affordance named/,
    });
  }
  for (const v of ["abc", "1.5x"]) {
    // node-wot casts integers before the plugin sees them: the message must say what was sent.
    list.push({
      label: `history limit=${v} says what was sent`,
      method: "GET",
      path: `/properties/history?limit=${v}`,
      only4xx: true,
      says: new RegExp(v.replace(".", "\\.")),
    });
  }
  for (const s of [...INJECTIONS, ...PROTOTYPE_NAMES]) {
    get(`history name=${s.slice(0, 20)}`, `/properties/history?${q({ name: s })}`);
    get(
      `historyAggregate name=${s.slice(0, 20)}`,
      `/properties/historyAggregate?${q({ name: s, from: 0, window: 60000 })}`,
    );
    get(`history kind=${s.slice(0, 20)}`, `/properties/history?${q({ kind: s })}`);
    get(
      `historyAggregate field=${s.slice(0, 20)}`,
      `/properties/historyAggregate?${q({ name: "temperature", from: 0, window: 60000, field: s })}`,
    );
    post(`queryHistory name=${s.slice(0, 20)}`, "/actions/queryHistory", JSON.stringify({ name: s }));
    post(`addObserver ${s.slice(0, 20)}`, "/actions/addObserver", JSON.stringify({ address: s }));
  }
  for (const v of [
    "abc",
    "-1",
    "0",
    "1.5",
    "1e400",
    "99999999999999999999",
    "",
    " ",
    "NaN",
    "Infinity",
    "0x10",
    "[]",
    "%00",
  ]) {
    // Only plain decimal digits are numbers here ("0" is a valid time, not a valid limit).
    const strict = { method: "GET", only4xx: true };
    list.push({
      ...strict,
      label: `history limit=${v}`,
      path: `/properties/history?limit=${encodeURIComponent(v)}`,
    });
    if (v === "0") {
      get(`history from=${v}`, `/properties/history?from=${v}`);
      get(`history to=${v}`, `/properties/history?to=${v}`);
    } else {
      list.push({
        ...strict,
        label: `history from=${v}`,
        path: `/properties/history?from=${encodeURIComponent(v)}`,
      });
      list.push({
        ...strict,
        label: `history to=${v}`,
        path: `/properties/history?to=${encodeURIComponent(v)}`,
      });
    }
    get(
      `historyAggregate window=${v}`,
      `/properties/historyAggregate?name=temperature&from=0&window=${encodeURIComponent(v)}`,
    );
    post(`queryHistory limit=${v}`, "/actions/queryHistory", JSON.stringify({ limit: v }));
  }
  for (const v of ["sideways", "DESC; DROP", "__proto__"])
    get(`history order=${v}`, `/properties/history?order=${encodeURIComponent(v)}`);
  get("history from after to", "/properties/history?from=2000&to=1000");
  get("historyAggregate too many windows", "/properties/historyAggregate?name=temperature&from=0&window=1");
  get("historyAggregate without name", "/properties/historyAggregate");
  get(
    "history aggregate=bogus",
    "/properties/historyAggregate?name=temperature&from=0&window=60000&aggregate=median",
  );
  get("voStatusHistory limit=abc", "/properties/voStatusHistory?limit=abc");
  get("voStatusHistory limit=-5", "/properties/voStatusHistory?limit=-5");
  get("voStatusHistory limit=1e9", "/properties/voStatusHistory?limit=1000000000");
  // Broken encodings
  for (const p of ["%E0%A4%A", "%", "%%", "%ZZ", "%C0%AF", "%FF%FE", "%u0041"]) {
    get(`history name=${p}`, `/properties/history?name=${p}`);
    get(`history limit=${p}`, `/properties/history?limit=${p}`);
  }
  // Bodies: nesting, types, sizes, content types
  for (const [label, body] of [
    ["deep array 5000", deep(5000)],
    ["deep object 5000", '{"a":'.repeat(5000) + "1" + "}".repeat(5000)],
    ["deep in a field", `{"name":"temperature","limit":${deep(3000)}}`],
    ["not JSON", "{name: temperature"],
    ["JSON string", '"temperature"'],
    ["JSON array", '["temperature"]'],
    ["JSON number", "42"],
    ["null", "null"],
    ["truncated", '{"name":"temp'],
    ["BOM", "\ufeff{}"],
    ["huge string", JSON.stringify({ name: "x".repeat(60000) })],
    ["name as array", '{"name":["temperature"]}'],
    ["name as object", '{"name":{"$ne":null}}'],
    ["limit as object", '{"limit":{"$gt":0}}'],
    ["window negative", '{"name":"temperature","window":-5,"from":0}'],
    ["from as ISO garbage", '{"from":"2026-13-45T99:99"}'],
    ["__proto__ key", '{"__proto__":{"limit":1},"name":"temperature"}'],
    ["constructor key", '{"constructor":{"prototype":{"x":1}}}'],
  ]) {
    post(`queryHistory ${label}`, "/actions/queryHistory", body);
    post(`addObserver ${label}`, "/actions/addObserver", body);
  }
  for (const a of [
    "fe80::1%eth0",
    "[fe80::1%eth0]:8080",
    "fe80::1%25eth0",
    "1.2.3.4:99999",
    "1.2.3.4:0",
    "256.1.1.1",
    "::ffff:1.2.3.4",
    "[::1",
    "",
    " ",
  ]) {
    post(`addRedirectIp ${a}`, "/actions/addRedirectIp", JSON.stringify({ address: a }));
    post(`setDeviceIp ${a}`, "/actions/setDeviceIp", JSON.stringify({ address: a }));
  }
  for (const type of [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
  ])
    post(`queryHistory as ${type}`, "/actions/queryHistory", "name=temperature", type);
  post("body over maxBodyBytes", "/actions/queryHistory", JSON.stringify({ name: "y".repeat(MAX_BODY * 2) }));
  // Wrong methods on plugin affordances
  for (const [method, p] of [
    ["PUT", "/properties/history"],
    ["PUT", "/properties/voStatus"],
    ["PUT", "/properties/voHealth"],
    ["DELETE", "/properties/history"],
    ["PATCH", "/properties/observers"],
    ["GET", "/actions/queryHistory"],
    ["PUT", "/actions/addObserver"],
    ["DELETE", "/actions/removeObserver"],
  ])
    list.push({
      label: `${method} ${p}`,
      method,
      path: p,
      body: method === "GET" || method === "DELETE" ? undefined : "1",
      headers: { "content-type": "application/json" },
    });
  // The thing's own affordances: node-wot answers a value that fails the schema with 500; the
  // plugin makes it the client's 400. (A Thing script's own exception stays a 500: its choice.)
  for (const [label, p, body] of [
    ["mode not in enum", "/properties/mode", '"dance"'],
    ["set point above maximum", "/properties/targetTemperature", "99"],
    ["set point as string", "/properties/targetTemperature", '"abc"'],
    ["set point as malformed JSON", "/properties/targetTemperature", '{"a":'],
    ["mode nested 5000 deep", "/properties/mode", deep(5000)],
    ["set point injection", "/properties/targetTemperature", JSON.stringify(INJECTIONS[1])],
    ["boost input out of range", "/actions/boost", '{"delta":100,"minutes":1}'],
    ["boost input not JSON", "/actions/boost", "nope"],
    ["boost input nested", "/actions/boost", `{"delta":1,"minutes":1,"x":${deep(1500)}}`],
  ])
    list.push({
      label: `own: ${label}`,
      method: p.includes("/actions/") ? "POST" : "PUT",
      path: p,
      body,
      headers: { "content-type": "application/json" },
      ...(label === "boost input nested" ? {} : { only4xx: true }),
    });
  return list;
}

test("200+ hostile requests to the plugin's affordances: 4xx with a message or a documented 2xx, never 5xx or a hang", async (t) => {
  const dir = tempDir();
  const config = path.join(dir, "vo.json");
  fs.writeFileSync(
    config,
    JSON.stringify({
      dataDir: dir,
      recorder: { maxBodyBytes: MAX_BODY },
      scripts: [path.join(ROOT, "things", "demo-vo.js")],
    }),
  );
  const { child, out, exited } = launch(["--config", config]);
  try {
    const td = await waitFor(() => /TD at (http:\/\/\S+)/.exec(out.stdout)?.[1], {
      what: `the launcher to expose the demo (stderr: ${out.stderr})`,
      timeoutMs: 20000,
    });
    const requests = hostileRequests();
    assert.ok(requests.length >= 200, `${requests.length} hostile requests`);
    const failures = [];
    const counts = {};
    const ok2xx = [];
    for (const r of requests) {
      let status;
      let text = "";
      try {
        const res = await fetch(td + r.path, {
          method: r.method,
          headers: r.headers,
          body: r.body,
          signal: AbortSignal.timeout(10000),
        });
        status = res.status;
        text = (await res.text()) || res.statusText;
      } catch (err) {
        failures.push(`${r.label}: no answer (${err.name}: ${err.message})`);
        continue;
      }
      counts[status] = (counts[status] ?? 0) + 1;
      if (status >= 500) failures.push(`${r.label}: ${status} ${text.slice(0, 120)}`);
      else if (status >= 400 && text.trim() === "") failures.push(`${r.label}: ${status} without a message`);
      else if (r.only4xx && (status < 400 || status >= 500))
        failures.push(`${r.label}: ${status}, expected a 4xx`);
      else if (r.says && !r.says.test(text))
        failures.push(`${r.label}: message ${JSON.stringify(text.slice(0, 120))}`);
      if (status < 300) ok2xx.push(r.label);
    }
    t.diagnostic(`${requests.length} requests; statuses: ${JSON.stringify(counts)}`);
    t.diagnostic(`answered 2xx: ${ok2xx.join(" | ")}`);
    assert.deepEqual(failures, []);
    assert.equal(child.exitCode, null, "the launcher is still running");
    const list = await fetch(td.replace(/\/[^/]+$/, "/"));
    assert.equal(list.status, 200);
    const history = await fetch(`${td}/properties/history?limit=50`);
    assert.equal(history.status, 200);
    assert.ok(Array.isArray(await history.json()));
    // The nested values stored above never break a read: every order, the aggregate, the CLI.
    for (const q of ["name=mode&order=asc", "name=mode", "name=boost&kind=action&order=asc", "limit=10000"]) {
      const res = await fetch(`${td}/properties/history?${q}`);
      assert.equal(res.status, 200, q);
      await res.json();
    }
    const agg = await fetch(
      `${td}/properties/historyAggregate?name=boost&kind=action&from=0&window=100000000000`,
    );
    assert.equal(agg.status, 200, await agg.clone().text());
    const cli = spawnSync(process.execPath, [BIN, "history", "--config", config, "--limit", "1000"], {
      encoding: "utf8",
    });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /\$tooDeep/, "the nested boost input is stored as the depth marker");
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
});
