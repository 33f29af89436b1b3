// The dashboard's Services panel in a real browser (Debian's chromium through playwright-core)
// against the real launcher. Until the launcher exposes the ServiceManager Thing itself, an extra
// Thing script (test/fixtures/dashboard-sm-script.js) exposes the real one — the built store,
// traffic monitor and Thing — beside the demo thermostat, with two services and their traffic.
"use strict";
/* global window, document -- functions given to page.evaluate run in the browser */
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { ROOT } = require("./helpers/launcher.js");
const { startBrowser, startDemo, screenshotDir, withPage } = require("./helpers/dashboard.js");

const FIXTURE = path.join(__dirname, "fixtures", "dashboard-sm-script.js");
const { SERVICES, TRAFFIC } = require(FIXTURE); // the script runs only when the launcher calls it

let browser;
let demo;
let shots;
let smDir;

test.before(async () => {
  browser = await startBrowser(); // fails with what to install when chromium is missing
  smDir = tempDir("nwv-dashboard-sm-");
  process.env.NWV_SM_FILE = path.join(smDir, "sm.sqlite"); // the launcher's child inherits it
  demo = await startDemo({
    scripts: [path.join(ROOT, "things", "demo-vo.js"), FIXTURE],
    // the fixture exposes its own ServiceManager Thing on a store the test seeds
    serviceManager: { enabled: false },
  });
  await waitFor(() => /exposed 'ServiceManager'/.test(demo.out.stdout), {
    what: `the ServiceManager thing (stdout: ${demo.out.stdout} stderr: ${demo.out.stderr})`,
    timeoutMs: 30000,
  });
  shots = screenshotDir();
});

test.after(async () => {
  await demo?.stop();
  await browser?.close();
  delete process.env.NWV_SM_FILE;
  if (smDir) fs.rmSync(smDir, { recursive: true, force: true });
});

/** The ServiceManager TD, found the way the dashboard finds it: `GET /`, then each TD. */
async function serviceManagerTd() {
  const urls = await (await fetch(`${demo.base}/`)).json();
  for (const url of urls) {
    const td = await (await fetch(url)).json();
    if (td.title === "ServiceManager") return td;
  }
  throw new Error(`no ServiceManager among ${JSON.stringify(urls)}`);
}

/** Invokes one of the Thing's actions through its TD form. */
async function invoke(td, name, input) {
  const form = td.actions[name].forms.find((f) => /^https?:/.test(f.href));
  const res = await fetch(form.href, {
    method: form["htv:methodName"] ?? "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(input),
  });
  assert.ok(res.ok, `${name}: ${res.status} ${await res.text()}`);
}

/** What a service's row shows, read back from the DOM. */
function readRow(page, id) {
  return page.evaluate((id) => {
    const tr = document.querySelector(`#section-services tr[data-service="${id}"]`);
    if (!tr) return undefined;
    const text = (sel) => tr.querySelector(sel)?.textContent.trim();
    const cell = (sel) => {
      const div = tr.querySelector(`${sel} > div[data-value]`);
      const bar = tr.querySelector(`${sel} .bar`);
      return {
        usage: text(`${sel} .usage`),
        value: div ? Number(div.dataset.value) : undefined,
        limit: div ? Number(div.dataset.limit) : undefined,
        bar: bar ? { now: Number(bar.getAttribute("aria-valuenow")), className: bar.className } : null,
        speed: text(`${sel} .speed`),
      };
    };
    return {
      service: text(".service"),
      state: text(".state"),
      status: text(".status .badge"),
      statusMessage: text(".status-message"),
      unit: text(".unit"),
      unitLink: tr.querySelector(".unit a")?.getAttribute("href") ?? null,
      in: cell(".traffic-in"),
      out: cell(".traffic-out"),
    };
  }, id);
}

test("the overview shows the service manager's services with their state and traffic against their limits", async (t) => {
  await withPage(browser, t, "services", async (page) => {
    await page.goto(demo.dashboard);
    await page.waitForSelector('#section-services tr[data-service="meter-svc"]', { timeout: 15000 });
    assert.equal(
      await page.evaluate(
        () => document.querySelector("#section-services").previousElementSibling.textContent,
      ),
      "Services",
    );

    const thermo = await readRow(page, "thermo-svc");
    assert.equal(thermo.service, "thermo-svc v3");
    assert.equal(thermo.state, "running");
    assert.equal(thermo.status, "ok");
    assert.equal(thermo.statusMessage, undefined);
    assert.equal(thermo.unit, "Demo Thermostat");
    assert.equal(thermo.unitLink, "#/thing/demo-thermostat", "the unit links to its thing's page");
    assert.deepEqual(thermo.in, {
      usage: "12.3 kB / 1 MB",
      value: TRAFFIC["Demo Thermostat_IN"],
      limit: 1_000_000,
      bar: { now: 12_345, className: "bar " },
      speed: "at most 50 kB/s",
    });
    assert.deepEqual(thermo.out, {
      usage: "250 kB / 2 MB",
      value: 250_000,
      limit: 2_000_000,
      bar: { now: 250_000, className: "bar " },
      speed: undefined,
    });

    const meter = await readRow(page, "meter-svc");
    assert.equal(meter.service, "meter-svc v7");
    assert.equal(meter.state, "stopped");
    assert.equal(meter.status, "error");
    assert.equal(meter.statusMessage, "package checksum mismatch");
    assert.match(meter.unit, /^Power Meter\s*not exposed$/);
    assert.equal(meter.unitLink, null);
    assert.deepEqual(meter.in, {
      usage: "4.2 kB / no limit",
      value: 4_200,
      limit: 0,
      bar: null,
      speed: undefined,
    });
    assert.deepEqual(meter.out, {
      usage: "9 kB / 10 kB",
      value: 9_000,
      limit: 10_000,
      bar: { now: 9_000, className: "bar high" },
      speed: undefined,
    });

    // The page's state for tests, and nothing that changes anything (no credentials given).
    const services = await page.evaluate(() => window.__dashboard.overview.services.services);
    assert.deepEqual(
      services.map((s) => [
        s.id,
        s.state,
        s.status,
        s.unit,
        s.in.value,
        s.in.limit,
        s.out.value,
        s.out.limit,
      ]),
      SERVICES.map((s) => [
        s.id,
        s.state,
        s.status,
        s.unit,
        TRAFFIC[`${s.unit}_IN`],
        s.dlLimit,
        TRAFFIC[`${s.unit}_OUT`],
        s.ulLimit,
      ]).sort((a, b) => a[0].localeCompare(b[0])),
    );
    assert.equal(await page.locator("#section-services button, #section-services form").count(), 0);
    const file = path.join(shots, "overview-services.png");
    await page.screenshot({ path: file, fullPage: true });
    t.diagnostic(`screenshot: ${file}`);
  });
});

test("the panel follows the Thing with the overview's polling: traffic past a limit, a new state", async (t) => {
  await withPage(browser, t, "services-refresh", async (page) => {
    await page.goto(demo.dashboard);
    await page.waitForSelector('#section-services tr[data-service="meter-svc"][data-state="stopped"]', {
      timeout: 15000,
    });
    const td = await serviceManagerTd();
    await invoke(td, "setTrafficMonitorData", { chain: "Power Meter_OUT", value: 15_000 });
    await invoke(td, "setServiceState", { id: "meter-svc", state: "running" });
    const started = Date.now();
    await page.waitForSelector('#section-services tr[data-service="meter-svc"][data-state="running"]', {
      timeout: 10000,
    });
    await page.waitForFunction(
      () =>
        document.querySelector('#section-services tr[data-service="meter-svc"] .traffic-out .usage')
          ?.textContent === "15 kB / 10 kB",
      null,
      { timeout: 10000 },
    );
    t.diagnostic(`shown ${Date.now() - started} ms after the change (polling every 2 s)`);
    const meter = await readRow(page, "meter-svc");
    assert.equal(meter.state, "running");
    assert.deepEqual(meter.out.bar, { now: 15_000, className: "bar over" });
    // Put it back for any later test.
    await invoke(td, "setTrafficMonitorData", {
      chain: "Power Meter_OUT",
      value: TRAFFIC["Power Meter_OUT"],
    });
    await invoke(td, "setServiceState", { id: "meter-svc", state: "stopped" });
  });
});

test("without a ServiceManager thing listed, the overview has no Services panel", async (t) => {
  await withPage(browser, t, "services-absent", async (page) => {
    // The same VO, with the ServiceManager left out of `GET /` (as the launcher lists things today).
    const sm = await serviceManagerTd();
    const smUrl = (await (await fetch(`${demo.base}/`)).json()).find((u) =>
      sm.properties.services.forms[0].href.startsWith(u + "/"),
    );
    assert.ok(smUrl, "the ServiceManager's URL is in the list");
    await page.route(`${demo.base}/`, async (route) => {
      const res = await route.fetch();
      const list = (await res.json()).filter((u) => u !== smUrl);
      await route.fulfill({ response: res, json: list });
    });
    await page.goto(demo.dashboard);
    await page.waitForSelector('tr[data-thing="Demo Thermostat"] .vo .badge', { timeout: 15000 });
    await page.waitForFunction(() => window.__dashboard.overview.refreshedAt !== undefined);
    assert.equal(await page.locator("#section-services").count(), 0);
    assert.deepEqual(await page.evaluate(() => window.__dashboard.overview.things.map((x) => x.title)), [
      "Demo Thermostat",
    ]);
  });
});
