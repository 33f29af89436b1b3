// History identity survives restarts: a thing without an `id` gets one derived from its title
// (node-wot would give a new random urn:uuid at every start), and history recorded under the
// random ids of an earlier version is adopted by the derived id.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const Database = require("better-sqlite3");
const { tempDir, waitFor, startTestVo, exposeThing } = require("./helpers/vo.js");
const { launch } = require("./helpers/launcher.js");

async function tdOf(out) {
  const url = await waitFor(() => /TD at (http:\/\/\S+)/.exec(out.stdout)?.[1], {
    what: `the launcher to expose the demo (stdout: ${out.stdout} stderr: ${out.stderr})`,
    timeoutMs: 20000,
  });
  return (await fetch(url)).json();
}

/** The history form of the TD, expanded as an HTTP client would (RFC 6570 form-style query). */
function historyUrl(td, vars) {
  const href = td.properties.history.forms[0].href.replace(/\{\?[^}]*\}$/, "");
  return `${href}?${new URLSearchParams(vars)}`;
}

test("a thing without an id keeps its history across a launcher restart (read back from the TD's form)", async () => {
  const data = tempDir();
  const first = launch(["--config", "things/demo.config.json"], { NODE_WOT_VO_DATA_DIR: data });
  let td = await tdOf(first.out);
  assert.equal(td.id, "urn:node-wot-vo:demo-thermostat", "the demo gets an id derived from its title");
  const put = (v) =>
    fetch(td.properties.targetTemperature.forms[0].href, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(v),
    });
  for (const v of [19.5, 20.5, 21.5]) assert.equal((await put(v)).status, 204);
  first.child.kill("SIGTERM");
  assert.equal((await first.exited).code, 0, first.out.stderr);

  const second = launch(["--config", "things/demo.config.json"], { NODE_WOT_VO_DATA_DIR: data });
  try {
    td = await tdOf(second.out);
    assert.equal(td.id, "urn:node-wot-vo:demo-thermostat", "the same id after the restart");
    const res = await fetch(historyUrl(td, { name: "targetTemperature", order: "asc" }));
    assert.equal(res.status, 200);
    const rows = await res.json();
    assert.deepEqual(
      rows.filter((r) => r.op === "write").map((r) => r.value),
      [19.5, 20.5, 21.5],
    );
  } finally {
    second.child.kill("SIGTERM");
    await second.exited;
  }
});

test("history recorded under earlier random ids is adopted by the derived id; explicit ids are kept", async () => {
  const dir = tempDir();
  // An earlier version recorded 'Lamp' under two random ids (two starts) and 'Fixed' under its own id.
  let vo = await startTestVo({ dataDir: dir });
  await vo.stop();
  const db = new Database(path.join(dir, "vo.sqlite"));
  const series = db.prepare(
    "INSERT INTO wotvo_series (thing_id, thing_title, kind, name) VALUES (?, ?, ?, ?)",
  );
  const row = db.prepare(
    "INSERT INTO wotvo_history (series_id, ts, ts_sub, op, ok, value, source) VALUES (?, ?, 0, 'write', 1, ?, 'http')",
  );
  const a = series.run(
    "urn:uuid:11111111-1111-4111-8111-111111111111",
    "Lamp",
    "property",
    "level",
  ).lastInsertRowid;
  const b = series.run(
    "urn:uuid:22222222-2222-4222-8222-222222222222",
    "Lamp",
    "property",
    "level",
  ).lastInsertRowid;
  row.run(a, 1_700_000_000_000, "1");
  row.run(b, 1_700_000_001_000, "2");
  db.close();

  vo = await startTestVo({ dataDir: dir });
  try {
    const schema = { properties: { level: { type: "integer" } } };
    const lamp = await exposeThing(vo.wot, { title: "Lamp", ...schema }, (t) =>
      t.setPropertyReadHandler("level", async () => 0),
    );
    const fixed = await exposeThing(vo.wot, { id: "urn:example:fixed", title: "Fixed", ...schema }, (t) =>
      t.setPropertyReadHandler("level", async () => 0),
    );
    const second = await exposeThing(vo.wot, { title: "Lamp", ...schema }, (t) =>
      t.setPropertyReadHandler("level", async () => 0),
    );
    assert.equal(lamp.getThingDescription().id, "urn:node-wot-vo:lamp");
    assert.equal(
      second.getThingDescription().id,
      "urn:node-wot-vo:lamp:2",
      "a second thing of the same title",
    );
    assert.equal(fixed.getThingDescription().id, "urn:example:fixed");
    const res = await fetch(`${vo.baseUrl}/lamp/properties/history?name=level&order=asc`);
    assert.equal(res.status, 200);
    assert.deepEqual(
      (await res.json()).map((r) => r.value),
      [1, 2],
    );
    const left = new Database(path.join(dir, "vo.sqlite"), { readonly: true })
      .prepare("SELECT COUNT(*) AS n FROM wotvo_series WHERE thing_id LIKE 'urn:uuid:%'")
      .get().n;
    assert.equal(left, 0, "no series is left under a random id");
  } finally {
    await vo.stop();
  }
});
