// Helpers for the dashboard tests and benchmark: Debian's chromium through playwright-core, the
// real launcher with a config of our own, and histories written with the store's own API.
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { launch, ROOT } = require("./launcher.js");
const { tempDir, waitFor } = require("./vo.js");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const DEMO_ID = "urn:node-wot-vo:demo-thermostat";
const DEMO_TITLE = "Demo Thermostat";

/** Starts headless chromium with a fresh user-data dir; fails (never skips) when it is missing. */
async function startBrowser() {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `the dashboard tests drive Debian's chromium, expected at ${CHROMIUM} (or set CHROMIUM_PATH): ` +
        "install it with `apt-get install -y chromium` (bash .ci/run does so when it runs as root)",
    );
  const { chromium } = require("playwright-core");
  const userDataDir = tempDir("nwv-chromium-");
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The launcher running the demo thermostat with `options` merged into its config, on a free port.
 * Returns { base, dashboard, dir, out, stop }.
 */
async function startDemo(options = {}, { dataDir = tempDir() } = {}) {
  const configDir = tempDir("nwv-config-");
  const config = {
    http: { port: 0, address: "127.0.0.1", ...(options.http ?? {}) },
    vo: { selfCheck: { periodMs: 1000, timeoutMs: 500 } },
    scripts: [path.join(ROOT, "things", "demo-vo.js")],
    ...options,
    dataDir,
  };
  const file = path.join(configDir, "vo.json");
  fs.writeFileSync(file, JSON.stringify(config));
  const { child, out, exited } = launch(["--config", file], { NODE_WOT_VO_DATA_DIR: "" });
  const dashboard = await waitFor(() => /dashboard at (http:\/\/\S+)/.exec(out.stdout)?.[1], {
    what: `the launcher to print the dashboard URL (stdout: ${out.stdout} stderr: ${out.stderr})`,
    timeoutMs: 30000,
  });
  await waitFor(() => /exposed 'Demo Thermostat'/.test(out.stdout), {
    what: "the demo thing",
    timeoutMs: 30000,
  });
  const base = new URL(dashboard).origin;
  return {
    base,
    dashboard,
    dir: dataDir,
    out,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Writes records (with explicit times) into `<dataDir>/vo.sqlite` with the store's own API, before
 * a VO opens the file. `records` is an iterable of partial InteractionRecords; thing defaults to
 * the demo thermostat.
 */
async function writeHistory(dataDir, records, { voStatus = [] } = {}) {
  const { openDatabase } = require(path.join(ROOT, "dist", "store", "database.js"));
  const { HistoryStore } = require(path.join(ROOT, "dist", "store", "history.js"));
  const { SqliteDb } = require(path.join(ROOT, "dist", "store", "sqlite-db.js"));
  fs.mkdirSync(dataDir, { recursive: true });
  const db = openDatabase({
    file: path.join(dataDir, "vo.sqlite"),
    synchronous: "normal",
    busyTimeoutMs: 5000,
  });
  // Self-check rows as the VO writes them (SQLite CURRENT_TIMESTAMP: UTC, second precision).
  const tables = new SqliteDb(db);
  for (const { time, online } of voStatus)
    tables.insertData("vo_status", {
      timestamp: new Date(time).toISOString().slice(0, 19).replace("T", " "),
      status: online ? 1 : 0,
    });
  const store = new HistoryStore(db);
  let batch = [];
  let count = 0;
  for (const r of records) {
    batch.push(store.append({ thingId: DEMO_ID, thingTitle: DEMO_TITLE, source: "http", ok: true, ...r }));
    count++;
    if (batch.length >= 20000) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  store.close();
  db.close();
  return count;
}

/** A day and a bit of a plausible thermostat: temperature every `stepMs`, set points, modes, actions, events. */
function* thermostatDay(now = Date.now(), { spanMs = 26 * 3600e3, stepMs = 30e3 } = {}) {
  const start = now - spanMs;
  let target = 21;
  for (let t = start, i = 0; t < now - 5000; t += stepMs, i++) {
    const hour = (t / 3600e3) % 24;
    const temperature = 20 + 2.5 * Math.sin(((hour - 9) / 24) * 2 * Math.PI) + Math.sin(i / 7) * 0.3;
    yield {
      kind: "property",
      name: "temperature",
      op: "change",
      source: "local",
      valueJson: String(Math.round(temperature * 100) / 100),
      time: t,
    };
  }
  for (let t = start + 1800e3; t < now - 60e3; t += 3 * 3600e3) {
    target = target >= 23 ? 19.5 : target + 1.5;
    yield { kind: "property", name: "targetTemperature", op: "write", valueJson: String(target), time: t };
  }
  const modes = ["heat", "off", "heat", "cool", "heat"];
  for (let i = 0; i < modes.length; i++)
    yield {
      kind: "property",
      name: "mode",
      op: "write",
      valueJson: JSON.stringify(modes[i]),
      time: start + ((i + 0.5) * spanMs) / modes.length,
    };
  for (let i = 0; i < 6; i++) {
    const refused = i % 3 === 2;
    const minutes = refused ? 240 : 30;
    yield {
      kind: "action",
      name: "boost",
      op: "invoke",
      ok: !refused,
      valueJson: JSON.stringify({ delta: 1, minutes }),
      ...(refused
        ? { error: `boost is limited to 120 minutes, got ${minutes}` }
        : { outputJson: JSON.stringify({ targetTemperature: 22, until: new Date(now).toISOString() }) }),
      durationMs: 0.4 + i * 0.1,
      time: now - (i + 1) * 2.5 * 3600e3,
    };
  }
  yield {
    kind: "event",
    name: "overheat",
    op: "emit",
    source: "local",
    valueJson: "28.4",
    time: now - 5 * 3600e3,
  };
}

/** Self-checks every 10 minutes over the span, with a two-hour outage. */
function selfChecks(now = Date.now(), spanMs = 26 * 3600e3) {
  const rows = [];
  for (let t = now - spanMs; t < now - 60e3; t += 600e3)
    rows.push({ time: t, online: !(t > now - 14 * 3600e3 && t < now - 12 * 3600e3) });
  return rows;
}

/** A directory for screenshots (not committed); DASHBOARD_SCREENSHOTS overrides it. */
function screenshotDir() {
  const dir =
    process.env.DASHBOARD_SCREENSHOTS ?? path.join(os.tmpdir(), "node-wot-vo-dashboard-screenshots");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Runs `fn(page)` in a new page of `browser` (startBrowser); on failure saves a screenshot into
 * screenshotDir() and names it in the test's output; JavaScript errors in the page fail the test.
 */
async function withPage(browser, t, name, fn) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await fn(page);
    assert.deepEqual(errors, [], "no JavaScript errors in the page");
  } catch (err) {
    const file = path.join(screenshotDir(), `failure-${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    t.diagnostic(`screenshot of the failure: ${file}`);
    throw err;
  } finally {
    await page.close();
  }
}

/** Minimal parser of the Prometheus text format (0.0.4): { types, samples: [{ name, labels, value }] }. */
function parsePrometheus(text) {
  const types = new Map();
  const helps = new Map();
  const samples = [];
  const sample =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (-?(?:[0-9.e+-]+|\+Inf|-Inf|NaN))(?: -?\d+)?$/;
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    let m;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      if (types.has(m[1])) throw new Error(`line ${i + 1}: second TYPE for ${m[1]}`);
      types.set(m[1], m[2]);
    } else if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) helps.set(m[1], m[2]);
    else if (line.startsWith("#")) return;
    else if ((m = sample.exec(line))) {
      const labels = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[k] = v;
      const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
      if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`line ${i + 1}: bad value in ${line}`);
      samples.push({ name: m[1], labels, value });
    } else throw new Error(`line ${i + 1} is not Prometheus text format: ${line}`);
  });
  return { types, helps, samples };
}

/** The value of one sample (labels must match exactly those given), or undefined. */
function sampleValue(parsed, name, labels = {}) {
  const want = JSON.stringify(Object.entries(labels).sort());
  return parsed.samples.find(
    (s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want,
  )?.value;
}

module.exports = {
  CHROMIUM,
  DEMO_ID,
  DEMO_TITLE,
  startBrowser,
  startDemo,
  writeHistory,
  thermostatDay,
  selfChecks,
  screenshotDir,
  withPage,
  parsePrometheus,
  sampleValue,
};
