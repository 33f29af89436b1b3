// Thing scripts as services on the real launcher, through the ServiceManager Thing's TD forms only:
// install, start (its thing answers), stop (404, its interval stops), start again, update, a
// failing update rolled back, remove; exactly the running services come back after SIGTERM and
// SIGKILL; a throwing service leaves the others running; path traversal, symlink escape and a
// changed layer refused with 4xx; a changed state folder reported through the checksum.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { writeConfig, start, smClient } = require("./helpers/sm.js");

/** A counter service: a thing whose `count` property grows every 50 ms. */
function counterScript(title, version = 1, extra = "") {
  return `
"use strict";
let count = 0;
WoT.produce({ title: ${JSON.stringify(title)}, properties: { count: { type: "integer", readOnly: true, observable: true }, version: { type: "integer", readOnly: true } } })
  .then(async (thing) => {
    thing.setPropertyReadHandler("count", async () => count);
    thing.setPropertyReadHandler("version", async () => ${version});
    setInterval(() => { count++; }, 50);
    ${extra}
    await thing.expose();
  });
`;
}

function writeService(servicesDir, dir, descriptor, main) {
  const d = path.join(servicesDir, dir);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, "service.json"), JSON.stringify(descriptor));
  fs.writeFileSync(path.join(d, "index.js"), main);
}

async function read(base, thing, prop) {
  const r = await fetch(`${base}/${thing}/properties/${prop}`);
  return { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
}

test("install, start, stop, start again, update, roll back a failing update, remove", async (t) => {
  const dir = tempDir("nwv-sms-");
  const services = path.join(dir, "data", "services");
  fs.mkdirSync(services, { recursive: true });
  writeService(services, "counter", { id: "counter", version: 1 }, counterScript("Counter", 1));
  const vo = await start(writeConfig(dir));
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);

  const installed = await sm.invoke("installService", { path: "counter" });
  assert.equal(installed.status, 200, installed.text);
  assert.equal(installed.body.id, "counter");
  assert.equal(installed.body.state, "init");
  assert.equal((await sm.invoke("installService", { path: "counter" })).status, 409, "installed twice");

  const started = await sm.invoke("startService", { id: "counter" });
  assert.equal(started.status, 200, started.text);
  assert.equal(started.body.state, "running");
  assert.equal(started.body.status, "ok", started.body.statusMessage);
  assert.equal(started.body.unit, "Counter");
  assert.ok(started.body.startAt);
  await waitFor(async () => (await read(vo.base, "counter", "count")).body > 2, {
    what: "the counter to count",
  });

  const stopped = await sm.invoke("stopService", { id: "counter" });
  assert.equal(stopped.status, 200, stopped.text);
  assert.equal(stopped.body.state, "stopped");
  assert.equal((await read(vo.base, "counter", "count")).status, 404);

  await sm.invoke("startService", { id: "counter" });
  const c1 = (await read(vo.base, "counter", "count")).body;
  await waitFor(async () => (await read(vo.base, "counter", "count")).body > c1, { what: "counting again" });

  // Update to version 2 at a new path.
  writeService(services, "counter-v2", { id: "counter", version: 2 }, counterScript("Counter", 2));
  const updated = await sm.invoke("updateService", { id: "counter", path: "counter-v2" });
  assert.equal(updated.status, 200, updated.text);
  assert.equal(updated.body.version, 2);
  assert.equal(updated.body.status, "ok", updated.body.statusMessage);
  assert.equal((await read(vo.base, "counter", "version")).body, 2);

  // A failing version 3 is rolled back to version 2, with the failure in the status.
  writeService(services, "counter-v3", { id: "counter", version: 3 }, "throw new Error('v3 is broken');");
  const failed = await sm.invoke("updateService", { id: "counter", path: "counter-v3" });
  assert.equal(failed.status, 200, failed.text);
  assert.equal(failed.body.version, 2);
  assert.equal(failed.body.path, "counter-v2");
  assert.equal(failed.body.status, "error");
  assert.match(failed.body.statusMessage, /update to version 3 .*v3 is broken.*rolled back to version 2/);
  assert.equal((await read(vo.base, "counter", "version")).body, 2, "the old version runs again");

  // A lower version is refused.
  writeService(services, "counter-v1b", { id: "counter", version: 1 }, counterScript("Counter", 1));
  assert.equal((await sm.invoke("updateService", { id: "counter", path: "counter-v1b" })).status, 400);

  const removed = await sm.invoke("removeService", { id: "counter" });
  assert.equal(removed.status, 204, removed.text);
  assert.equal((await read(vo.base, "counter", "count")).status, 404);
  assert.equal((await sm.read("service", { id: "counter" })).status, 404);
  assert.ok(!(await sm.read("users")).body.some((u) => u.serviceId === "counter"));
  assert.ok(!(await sm.read("traffic")).body.chains.some((c) => c.chain === "Counter_IN" && c.value > 0));
  assert.ok(!fs.existsSync(path.join(dir, "data", "service-storage", "counter")), "storage folder removed");
  // The launcher's thermostat is a service too; the manager does not stop it.
  assert.equal((await sm.invoke("stopService", { id: "demo-thermostat" })).status, 400);
});

test("after SIGTERM and after SIGKILL exactly the running services come back", async (t) => {
  const dir = tempDir("nwv-sms-");
  const services = path.join(dir, "data", "services");
  fs.mkdirSync(services, { recursive: true });
  writeService(services, "alpha", { id: "alpha", version: 1 }, counterScript("Alpha"));
  fs.writeFileSync(path.join(services, "beta.js"), counterScript("Beta"));
  const config = writeConfig(dir);
  let vo = await start(config);
  t.after(() => vo.stop("SIGKILL"));
  let sm = await smClient(vo.base);
  for (const p of ["alpha", "beta.js"])
    assert.equal((await sm.invoke("installService", { path: p })).status, 200);
  assert.equal((await sm.invoke("startService", { id: "alpha" })).status, 200);
  assert.equal((await sm.invoke("startService", { id: "beta" })).status, 200);
  assert.equal((await sm.invoke("stopService", { id: "beta" })).status, 200);

  for (const signal of ["SIGTERM", "SIGKILL"]) {
    await vo.stop(signal);
    vo = await start(config);
    sm = await smClient(vo.base);
    await waitFor(async () => (await read(vo.base, "alpha", "count")).status === 200, {
      what: `alpha back after ${signal}`,
    });
    assert.equal((await read(vo.base, "beta", "count")).status, 404, `beta stays stopped after ${signal}`);
    const rows = (await sm.read("services")).body;
    assert.equal(rows.find((s) => s.id === "alpha").state, "running");
    assert.equal(rows.find((s) => s.id === "beta").state, "stopped");
    assert.equal(rows.find((s) => s.id === "demo-thermostat").state, "running");
  }
});

test("a throwing service gets error status and the others keep running", async (t) => {
  const dir = tempDir("nwv-sms-");
  const services = path.join(dir, "data", "services");
  fs.mkdirSync(services, { recursive: true });
  writeService(services, "steady", { id: "steady", version: 1 }, counterScript("Steady"));
  writeService(
    services,
    "flaky",
    { id: "flaky", version: 1 },
    counterScript("Flaky", 1, "setTimeout(() => { throw new Error('flaky broke'); }, 100);"),
  );
  writeService(services, "broken", { id: "broken", version: 1 }, "throw new Error('broken at start');");
  const vo = await start(writeConfig(dir));
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);
  for (const id of ["steady", "flaky", "broken"]) {
    assert.equal((await sm.invoke("installService", { path: id })).status, 200);
    assert.equal((await sm.invoke("startService", { id })).status, 200);
  }
  const broken = (await sm.read("service", { id: "broken" })).body;
  assert.equal(broken.status, "error");
  assert.match(broken.statusMessage, /broken at start/);
  await waitFor(async () => (await sm.read("service", { id: "flaky" })).body.status === "error", {
    what: "flaky's error status",
  });
  assert.match((await sm.read("service", { id: "flaky" })).body.statusMessage, /flaky broke/);
  const c = (await read(vo.base, "steady", "count")).body;
  await waitFor(async () => (await read(vo.base, "steady", "count")).body > c, {
    what: "steady keeps counting",
  });
  assert.equal((await read(vo.base, "demo-thermostat", "mode")).status, 200);
  assert.equal(vo.child.exitCode, null, "the launcher is alive");
});

test("path traversal, symlink escape and a changed layer are refused with 4xx", async (t) => {
  const dir = tempDir("nwv-sms-");
  const services = path.join(dir, "data", "services");
  fs.mkdirSync(services, { recursive: true });
  const outside = path.join(dir, "outside");
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "evil.js"), counterScript("Evil"));
  fs.symlinkSync(path.join(outside, "evil.js"), path.join(services, "link.js"));
  fs.symlinkSync(outside, path.join(services, "linkdir"));
  const layer = path.join(services, "units-layer");
  fs.mkdirSync(layer);
  fs.writeFileSync(path.join(layer, "units.js"), "module.exports = { c2f: (c) => c * 1.8 + 32 };");
  const vo = await start(writeConfig(dir));
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);
  for (const p of ["../outside/evil.js", "link.js", "linkdir", "/etc/passwd", "nope"]) {
    const r = await sm.invoke("installService", { path: p });
    assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status} ${r.text}`);
  }
  const bad = await sm.invoke("addLayer", { path: "../outside", digest: "sha256:" + "0".repeat(64) });
  assert.ok(bad.status >= 400 && bad.status < 500, bad.text);

  // A layer: added with its digest, used by a service; its files changed → clear error status.
  const { layerDigest } = require("../dist/service-manager/layers-digest.js");
  const digest = await layerDigest(layer);
  const wrong = await sm.invoke("addLayer", { path: "units-layer", digest: "sha256:" + "1".repeat(64) });
  assert.equal(wrong.status, 400, wrong.text);
  const added = await sm.invoke("addLayer", { path: "units-layer", digest });
  assert.equal(added.status, 200, added.text);
  writeService(
    services,
    "fahrenheit",
    { id: "fahrenheit", version: 1, layers: [digest] },
    counterScript("Fahrenheit", 1, "require('units');"),
  );
  assert.equal((await sm.invoke("installService", { path: "fahrenheit" })).status, 200);
  const ok = await sm.invoke("startService", { id: "fahrenheit" });
  assert.equal(ok.body.status, "ok", ok.body.statusMessage);
  assert.equal((await sm.invoke("removeLayer", { digest })).status, 409, "a used layer stays");
  await sm.invoke("stopService", { id: "fahrenheit" });
  const installedDir = path.join(dir, "data", "layers", digest.replace(":", "-"));
  fs.appendFileSync(path.join(installedDir, "units.js"), "\n// changed");
  const refused = await sm.invoke("startService", { id: "fahrenheit" });
  assert.equal(refused.status, 200);
  assert.equal(refused.body.status, "error");
  assert.match(refused.body.statusMessage, /layer .* (no longer|changed|match)/i);
  assert.equal((await read(vo.base, "fahrenheit", "count")).status, 404);
});

test("a state folder changed while the service was stopped is reported in its status", async (t) => {
  const dir = tempDir("nwv-sms-");
  const services = path.join(dir, "data", "services");
  fs.mkdirSync(services, { recursive: true });
  writeService(
    services,
    "keeper",
    { id: "keeper", version: 1 },
    counterScript(
      "Keeper",
      1,
      "require('fs').writeFileSync(require('path').join(STORAGE_DIR, 'state.json'), '{}');",
    ),
  );
  const vo = await start(writeConfig(dir));
  t.after(() => vo.stop("SIGKILL"));
  const sm = await smClient(vo.base);
  await sm.invoke("installService", { path: "keeper" });
  assert.equal((await sm.invoke("startService", { id: "keeper" })).body.status, "ok");
  await sm.invoke("stopService", { id: "keeper" });
  const users = (await sm.read("users")).body.find((u) => u.serviceId === "keeper");
  assert.deepEqual(users.users, ["local"]);
  assert.match(users.stateChecksum, /^[0-9a-f]{64}$/);
  // Restarted untouched: ok (the script writes the same file again).
  assert.equal((await sm.invoke("startService", { id: "keeper" })).body.status, "ok");
  await sm.invoke("stopService", { id: "keeper" });
  fs.writeFileSync(path.join(dir, "data", "service-storage", users.storageFolder, "intruder"), "x");
  const again = (await sm.invoke("startService", { id: "keeper" })).body;
  assert.equal(again.status, "error");
  assert.match(again.statusMessage, /state folder .* changed/);
});
