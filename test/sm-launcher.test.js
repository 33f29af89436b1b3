// The service manager on the real launcher: traffic counted at a thing and carried over restarts
// (SIGTERM, and SIGKILL losing at most one persist interval), limits set through the
// ServiceManager Thing's TD answered 429 with Retry-After, the demo thermostat registered as a
// service, traffic totals recorded into the history, changes refused without credentials, and a
// launcher thing destroyed mid-run marked stopped.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const Database = require("better-sqlite3");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { DEMO_SCRIPT, writeConfig, start, smClient } = require("./helpers/sm.js");

const UNIT = "Demo Thermostat";

function savedChain(dataDir, chain) {
  const db = new Database(path.join(dataDir, "servicemanager.db"), { readonly: true });
  try {
    return db.prepare("SELECT value FROM trafficmonitor WHERE chain = ?").get(chain)?.value ?? 0;
  } finally {
    db.close();
  }
}

function serviceRow(dataDir, id) {
  const db = new Database(path.join(dataDir, "servicemanager.db"), { readonly: true });
  try {
    return db.prepare("SELECT * FROM services WHERE id = ?").get(id);
  } finally {
    db.close();
  }
}

async function chainValue(sm, chain) {
  const { status, body } = await sm.read("traffic");
  assert.equal(status, 200);
  return body.chains.find((c) => c.chain === chain)?.value ?? 0;
}

async function hit(base, n) {
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${base}/demo-thermostat/properties/mode`);
    assert.equal(r.status, 200);
    await r.text();
  }
}

test("traffic at a thing is counted, survives SIGTERM and SIGKILL restarts; the thermostat is a service", async (t) => {
  const dir = tempDir("nwv-sml-");
  const dataDir = path.join(dir, "data");
  const config = writeConfig(dir);
  let vo = await start(config);
  t.after(() => vo.stop("SIGKILL"));
  let sm = await smClient(vo.base);
  await hit(vo.base, 5);
  const first = await chainValue(sm, `${UNIT}_IN`);
  assert.ok(first > 0, `counted ${first} bytes in`);
  const services = (await sm.read("services")).body;
  const thermo = services.find((s) => s.id === "demo-thermostat");
  assert.ok(thermo, JSON.stringify(services));
  assert.equal(thermo.unit, UNIT);
  assert.equal(thermo.path, DEMO_SCRIPT);
  assert.equal(thermo.state, "running");
  assert.equal(thermo.status, "ok");
  assert.equal(thermo.version, 1);
  assert.ok(thermo.traffic.in > 0);
  assert.equal((await vo.stop("SIGTERM")).code, 0);
  const afterTerm = savedChain(dataDir, `${UNIT}_IN`);
  assert.ok(afterTerm >= first, `saved ${afterTerm} ≥ ${first}`);
  assert.equal(serviceRow(dataDir, "demo-thermostat").state, 2, "stopped with the servient");

  vo = await start(config);
  sm = await smClient(vo.base);
  assert.ok((await chainValue(sm, `${UNIT}_IN`)) >= afterTerm, "the totals continue after SIGTERM");
  await hit(vo.base, 5);
  const counted = await chainValue(sm, `${UNIT}_IN`);
  assert.ok(counted > afterTerm);
  // Saved within a persist interval: SIGKILL loses at most that.
  await waitFor(() => savedChain(dataDir, `${UNIT}_IN`) >= counted, { what: "the totals to be saved" });
  await vo.stop("SIGKILL");
  vo = await start(config);
  sm = await smClient(vo.base);
  assert.ok((await chainValue(sm, `${UNIT}_IN`)) >= counted, "the totals continue after SIGKILL");
  const row = (await sm.read("service", { id: "demo-thermostat" })).body;
  assert.equal(row.state, "running", "registered again when the launcher exposed it");

  // The totals are recorded into the history like any measurement.
  const history = await waitFor(
    async () => {
      const td = sm.td.properties.history;
      if (!td) return undefined;
      const db = new Database(path.join(dataDir, "vo.sqlite"), { readonly: true });
      try {
        return db
          .prepare(
            "SELECT h.value FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'trafficTotals' ORDER BY h.id DESC LIMIT 1",
          )
          .get()?.value;
      } finally {
        db.close();
      }
    },
    { what: "trafficTotals in the history" },
  );
  const totals = JSON.parse(history);
  assert.ok(totals.in > 0 && totals.out > 0, history);
});

test("a limit set through the ServiceManager Thing's TD is answered 429 with Retry-After once passed", async (t) => {
  const dir = tempDir("nwv-sml-");
  const vo = await start(writeConfig(dir));
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);
  await hit(vo.base, 2);
  const set = await sm.invoke("setServiceLimits", { id: "demo-thermostat", dlLimit: 100 });
  assert.equal(set.status, 200, set.text);
  assert.equal(set.body.dlLimit, 100);
  const r = await fetch(`${vo.base}/demo-thermostat/properties/mode`);
  assert.equal(r.status, 429);
  assert.match(r.headers.get("retry-after"), /^\d+$/);
  assert.match(await r.text(), /dlLimit|limit/);
  // Other things are not limited.
  assert.equal((await sm.read("services")).status, 200);
  const lifted = await sm.invoke("setServiceLimits", { id: "demo-thermostat", dlLimit: 0 });
  assert.equal(lifted.status, 200);
  assert.equal((await fetch(`${vo.base}/demo-thermostat/properties/mode`)).status, 200);
});

test("with credentials configured, changes through the ServiceManager Thing need them", async (t) => {
  const dir = tempDir("nwv-sml-");
  const vo = await start(
    writeConfig(dir, {
      credentials: { "urn:node-wot-vo:servicemanager": { username: "admin", password: "s3cret" } },
    }),
  );
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);
  const refused = await sm.invoke("setServiceLimits", { id: "demo-thermostat", dlLimit: 5 });
  assert.equal(refused.status, 401, refused.text);
  assert.equal((await sm.read("service", { id: "demo-thermostat" })).body.dlLimit, 0);
  const auth = { Authorization: "Basic " + Buffer.from("admin:s3cret").toString("base64") };
  const wrong = { Authorization: "Basic " + Buffer.from("admin:nope").toString("base64") };
  assert.equal(
    (await sm.invoke("setServiceLimits", { id: "demo-thermostat", dlLimit: 5 }, wrong)).status,
    401,
  );
  const ok = await sm.invoke("setServiceLimits", { id: "demo-thermostat", ulLimit: 0 }, auth);
  assert.equal(ok.status, 200, ok.text);
});

test("a launcher thing destroyed mid-run is marked stopped; the others stay running", async (t) => {
  const dir = tempDir("nwv-sml-");
  const config = writeConfig(dir, {
    scripts: [DEMO_SCRIPT, path.join(__dirname, "fixtures", "sm-vanishing.js")],
  });
  const vo = await start(config);
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);
  const state = async (id) => (await sm.read("service", { id })).body.state;
  assert.equal(await state("vanishing"), "running");
  const r = await fetch(`${vo.base}/vanishing/actions/vanish`, { method: "POST" });
  assert.ok(r.ok, `vanish answered ${r.status}`);
  await waitFor(async () => (await fetch(`${vo.base}/vanishing`)).status === 404, {
    what: "the thing destroyed",
  });
  await waitFor(async () => (await state("vanishing")) === "stopped", { what: "its row marked stopped" });
  assert.equal(await state("demo-thermostat"), "running");
});
