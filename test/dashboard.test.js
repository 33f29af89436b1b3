// The dashboard in a real browser (Debian's chromium through playwright-core) against the real
// launcher: overview, charts that hold exactly the recorded points and grow live, refused actions,
// aggregates for long ranges, credentials, and /metrics moving with the traffic.
// Screenshots go to $DASHBOARD_SCREENSHOTS (default: <tmp>/node-wot-vo-dashboard-screenshots);
// UPDATE_DOCS_SCREENSHOT=1 also writes docs/dashboard-thermostat.png.
"use strict";
/* global window, document -- functions given to page.evaluate run in the browser */
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { tempDir } = require("./helpers/vo.js");
const { ROOT } = require("./helpers/launcher.js");
const {
  DEMO_ID,
  startBrowser,
  startDemo,
  writeHistory,
  thermostatDay,
  selfChecks,
  screenshotDir,
  withPage,
  parsePrometheus,
  sampleValue,
} = require("./helpers/dashboard.js");

let browser;
let demo;
let shots;

test.before(async () => {
  browser = await startBrowser(); // fails with what to install when chromium is missing
  demo = await startDemo();
  shots = screenshotDir();
});

test.after(async () => {
  await demo?.stop();
  await browser?.close();
});

async function shot(t, page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);
}

function put(base, name, value, init = {}) {
  return fetch(`${base}/demo-thermostat/properties/${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    body: JSON.stringify(value),
  });
}

function invoke(base, name, input, init = {}) {
  return fetch(`${base}/demo-thermostat/actions/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    body: JSON.stringify(input),
  });
}

/** Waits until the chart card of `name` has `points` points from `source`. */
function waitForChart(page, name, check, timeout = 10000) {
  return page.waitForFunction(
    ({ name, check }) => {
      const card = document.querySelector(`article.chart-card[data-name="${name}"]`);
      if (!card) return false;
      const points = Number(card.dataset.points);
      const source = card.dataset.source;
      if (check.source && source !== check.source) return false;
      if (check.points !== undefined && points !== check.points) return false;
      if (check.min !== undefined && points < check.min) return false;
      return { points, source };
    },
    { name, check },
    { timeout },
  );
}

test("the overview lists the demo thermostat with its VO and device status and the recording health", async (t) => {
  await withPage(browser, t, "overview", async (page) => {
    await page.goto(demo.dashboard);
    const row = 'tr[data-thing="Demo Thermostat"]';
    await page.waitForSelector(`${row} .vo .badge.online`, { timeout: 15000 });
    assert.match(await page.textContent(`${row} .device`), /no device configured/);
    await page.waitForSelector("#health-recording");
    assert.match(await page.textContent("#health-recording"), /committing/);
    assert.match(await page.textContent("#health-shipping"), /off/);
    // The launcher exposes the ServiceManager Thing beside the demo thermostat.
    const all = await page.evaluate(() => window.__dashboard.overview.things);
    assert.deepEqual(all.map((t) => t.title).sort(), ["Demo Thermostat", "ServiceManager"]);
    const things = all.filter((t) => t.title !== "ServiceManager");
    assert.equal(things.length, 1);
    assert.equal(things[0].title, "Demo Thermostat");
    assert.equal(things[0].vo, true);
    assert.equal(things[0].device, "none");
    await shot(t, page, "overview");
    await page.click(`${row} a`);
    await page.waitForSelector("h1:text('Demo Thermostat')");
    assert.equal(new URL(page.url()).hash, "#/thing/demo-thermostat");
  });
});

test("after N property writes the chart holds N points, and a new write appears live within 2 s", async (t) => {
  const N = 7;
  for (let i = 0; i < N; i++)
    assert.equal((await put(demo.base, "targetTemperature", 20 + i * 0.5)).status, 204);
  await withPage(browser, t, "chart-points", async (page) => {
    await page.goto(`${demo.dashboard}#/thing/demo-thermostat`);
    await waitForChart(page, "targetTemperature", { source: "raw", points: N });
    const state = await page.evaluate(() => window.__dashboard.thing.charts.targetTemperature);
    assert.deepEqual(state, { points: N, source: "raw" });
    // uPlot holds the same points the card reports (the chart's own data, not a counter).
    await page.waitForFunction(() => window.__dashboard.thing.polls > 0);
    const t0 = Date.now();
    assert.equal((await put(demo.base, "targetTemperature", 29.5)).status, 204);
    await waitForChart(page, "targetTemperature", { points: N + 1 }, 5000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 2000, `the new write appeared after ${elapsed} ms (expected within 2000)`);
    assert.equal(
      (await page.textContent('article.chart-card[data-name="targetTemperature"] .current')).trim(),
      "29.5",
    );
    await shot(t, page, "thing-live");
  });
});

test("a refused action shows in the action table as refused, with its error", async (t) => {
  await withPage(browser, t, "refused-action", async (page) => {
    assert.equal((await invoke(demo.base, "boost", { delta: 1, minutes: 30 })).status, 200);
    await page.goto(`${demo.dashboard}#/thing/demo-thermostat`);
    await page.waitForSelector("#actions tr.ok[data-name='boost']");
    // … and one refused while the page is open: it appears live.
    const refused = await invoke(demo.base, "boost", { delta: 1, minutes: 999 });
    assert.equal(refused.status, 500);
    const row = await page.waitForSelector("#actions tr.refused", { timeout: 5000 });
    const text = await row.textContent();
    assert.match(text, /refused/);
    assert.match(text, /boost is limited to 120 minutes, got 999/);
    assert.match(text, /"minutes":999/);
    assert.equal(await row.$eval(".badge", (b) => b.textContent), "refused");
    const ok = await page.textContent("#actions tr.ok[data-name='boost']");
    assert.match(ok, /targetTemperature/);
    const counts = await page.evaluate(() => window.__dashboard.thing);
    assert.ok(counts.refused >= 1 && counts.actions >= 2, JSON.stringify(counts));
  });
});

test("a range change redraws the charts from historyAggregate windows; zooming narrows the range", async (t) => {
  const dir = tempDir();
  const now = Date.now();
  const written = await writeHistory(dir, thermostatDay(now), { voStatus: selfChecks(now) });
  assert.ok(written > 3000);
  const vo = await startDemo({}, { dataDir: dir });
  try {
    await withPage(browser, t, "range-aggregates", async (page) => {
      const aggregates = [];
      page.on("request", (r) => {
        if (r.url().includes("/properties/historyAggregate?")) aggregates.push(new URL(r.url()).searchParams);
      });
      await page.goto(`${vo.dashboard}#/thing/demo-thermostat`);
      // Last hour: 30-second data, drawn raw.
      await waitForChart(page, "temperature", { source: "raw", min: 100 });
      assert.equal(aggregates.length, 0, "the last hour is drawn from raw records");

      await page.click('button[data-range="1d"]');
      const day = await (
        await waitForChart(page, "temperature", { source: "aggregate", min: 200 })
      ).jsonValue();
      // 289 windows at most, plus the few live records appended since.
      assert.ok(day.points <= 300, `a day in 5-minute windows: ${day.points} points`);
      const chart = await page.evaluate(() => window.__dashboard.thing.charts.temperature);
      assert.equal(chart.window, 300000);
      assert.ok(
        aggregates.some((p) => p.get("name") === "temperature" && p.get("window") === "300000"),
        "the chart read historyAggregate windows",
      );
      assert.match(new URL(page.url()).hash, /range=1d/);
      await page.waitForFunction(() => !window.__dashboard.thing.loading);
      assert.ok((await page.evaluate(() => window.__dashboard.thing.timelines.mode.changes)) >= 1);
      // The self-checks draw online / offline bands, the outage included.
      assert.ok((await page.$$("#connection [data-band=vo] .segment.offline")).length >= 1);
      assert.ok((await page.$$("#connection [data-band=vo] .segment.online")).length >= 2);
      await shot(t, page, "thing-day");
      if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.waitForTimeout(300);
        await page.screenshot({ path: path.join(ROOT, "docs", "dashboard-thermostat.png"), fullPage: true });
      }

      // Last week: 30-minute windows, read in day-sized chunks, newest first.
      aggregates.length = 0;
      await page.click('button[data-range="1w"]');
      await page.waitForFunction(() => window.__dashboard.thing.charts.temperature?.window === 1800000);
      await page.waitForFunction(() => !window.__dashboard.thing.loading);
      const week = aggregates.filter((p) => p.get("name") === "temperature");
      assert.ok(week.length >= 7, `a week is read in day chunks (${week.length} requests)`);
      assert.ok(Number(week[0].get("from")) > Number(week[1].get("from")), "newest chunk first");

      // Dragging over a chart zooms: the range becomes the dragged span, read again.
      const over = await page.$('article.chart-card[data-name="temperature"] .u-over');
      const box = await over.boundingBox();
      const y = box.y + box.height / 2;
      await page.mouse.move(box.x + box.width * 0.9, y);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.95, y, { steps: 5 });
      await page.mouse.move(box.x + box.width * 0.99, y, { steps: 5 });
      await page.mouse.up();
      await page.waitForFunction(() => window.__dashboard.thing.range.kind === "custom");
      const range = await page.evaluate(() => window.__dashboard.thing.range);
      const span = range.to - range.from;
      assert.ok(span > 3600e3 && span < 2 * 86400e3, `zoomed to ${span} ms of the week`);
      await page.waitForFunction(() => !window.__dashboard.thing.loading);
      assert.match(new URL(page.url()).hash, /from=\d+&to=\d+/);
    });
  } finally {
    await vo.stop();
  }
});

test("with credentials configured the dashboard without them gets no data and offers no changes", async (t) => {
  const vo = await startDemo({
    http: { security: [{ scheme: "basic" }] },
    credentials: { [DEMO_ID]: { username: "admin", password: "s3cret" } },
  });
  try {
    await withPage(browser, t, "credentials", async (page) => {
      const thingResponses = [];
      page.on("response", (r) => {
        if (/\/demo-thermostat\/(properties|actions)\//.test(r.url()))
          thingResponses.push({ url: r.url(), status: r.status(), auth: r.headers()["www-authenticate"] });
      });
      await page.goto(vo.dashboard);
      await page.waitForFunction(() => window.__dashboard.unauthorized === true);
      await page.waitForSelector('tr[data-thing="Demo Thermostat"] .vo [title="needs credentials"]');
      assert.equal(await page.$("#health-recording"), null, "no health without credentials");

      await page.goto(`${vo.dashboard}#/thing/demo-thermostat`);
      await page.waitForFunction(() => window.__dashboard.thing?.unauthorized === true);
      await page.waitForTimeout(1500); // a few poll periods: still nothing may arrive
      assert.equal(
        await page.getAttribute('article.chart-card[data-name="temperature"]', "data-points"),
        "0",
      );
      assert.deepEqual(await page.evaluate(() => window.__dashboard.thing.charts), {});
      assert.equal(await page.$("#vo-state form"), null, "no changing action is offered");
      assert.ok(thingResponses.length > 0);
      for (const r of thingResponses) {
        assert.equal(r.status, 401, r.url);
        assert.equal(r.auth, undefined, "no WWW-Authenticate: the browser shows no login prompt of its own");
      }
      await shot(t, page, "credentials-missing");

      // /metrics wants them too.
      assert.equal((await fetch(`${vo.base}/metrics`)).status, 401);
      const basic = { authorization: "Basic " + Buffer.from("admin:s3cret").toString("base64") };
      assert.equal((await fetch(`${vo.base}/metrics`, { headers: basic })).status, 200);

      // A wrong password is refused as well; the right one shows the data and the changes.
      await page.click("#login-button");
      await page.fill("input[name=username]", "admin");
      await page.fill("input[name=password]", "wrong");
      await page.click("#login-form button[type=submit]");
      await page.waitForFunction(() => window.__dashboard.thing?.unauthorized === true);
      assert.equal(await page.$("#vo-state form"), null);
      await page.click("#login-button"); // sign out
      await page.click("#login-button");
      await page.fill("input[name=username]", "admin");
      await page.fill("input[name=password]", "s3cret");
      await page.click("#login-form button[type=submit]");
      await waitForChart(page, "temperature", { source: "raw" });
      assert.equal(await page.evaluate(() => window.__dashboard.thing.unauthorized), false);
      assert.match(await page.textContent("#login-button"), /Sign out/);
      const form = await page.waitForSelector('#vo-state [data-list="observers"] form');
      await (await form.$("input")).fill("10.0.0.7:8080");
      await (await form.$("button")).click();
      await page.waitForSelector('#vo-state [data-list="observers"] code:text("10.0.0.7:8080")');
      const observers = await (
        await fetch(`${vo.base}/demo-thermostat/properties/observers`, { headers: basic })
      ).json();
      assert.deepEqual(observers, ["10.0.0.7:8080"]);
    });
  } finally {
    await vo.stop();
  }
});

test("/metrics parses as Prometheus text and its counters move with the traffic", async () => {
  const scrape = async () => {
    const res = await fetch(`${demo.base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  };
  const before = await scrape();
  // Conventions: our prefix, a TYPE for every sample, counters end in _total, base units.
  for (const s of before.samples) {
    assert.match(s.name, /^nodewotvo_/);
    const base = s.name.replace(/_(bucket|sum|count)$/, "");
    const type = before.types.get(s.name) ?? before.types.get(base);
    assert.ok(type, `${s.name} has a TYPE`);
    if (type === "counter") assert.match(s.name, /_total$/);
    assert.doesNotMatch(s.name, /_(ms|milliseconds|kb|kilobytes)(_|$)/);
  }
  for (const [name, type] of before.types) if (type === "counter") assert.match(name, /_total$/, name);
  assert.equal(sampleValue(before, "nodewotvo_shipper_state", { state: "off" }), 1);
  assert.equal(sampleValue(before, "nodewotvo_shipper_state", { state: "up" }), 0);
  assert.equal(sampleValue(before, "nodewotvo_outbox_backlog_records"), 0);
  assert.equal(sampleValue(before, "nodewotvo_recording_up"), 1);

  const thing = { thing: "Demo Thermostat" };
  const bodies = ["21.5", "22", "22.5", "23", "23.5"];
  for (const b of bodies) {
    const r = await fetch(`${demo.base}/demo-thermostat/properties/targetTemperature`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: b,
    });
    assert.equal(r.status, 204);
  }
  const action = JSON.stringify({ delta: 0.5, minutes: 5 });
  assert.equal((await invoke(demo.base, "boost", JSON.parse(action))).status, 200);
  const after = await scrape();

  const grew = (name, labels) =>
    (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
  assert.ok(grew("nodewotvo_records_committed_total") >= 6, "records committed");
  assert.ok(grew("nodewotvo_commit_duration_seconds_count") >= 1, "commit latency observed");
  assert.ok(grew("nodewotvo_commit_records_sum") >= 6, "records per commit observed");
  assert.ok(grew("nodewotvo_http_requests_total", thing) >= 6, "requests of the thing");
  const bodyBytes = bodies.reduce((n, b) => n + b.length, 0) + action.length;
  assert.ok(grew("nodewotvo_http_request_bytes_total", thing) >= bodyBytes, "request bytes");
  assert.ok(grew("nodewotvo_http_response_bytes_total", thing) > 6 * 50, "response bytes (headers included)");
  assert.equal(grew("nodewotvo_points_shipped_total"), 0);
  // Histogram buckets are cumulative and end at the count.
  const buckets = after.samples.filter((s) => s.name === "nodewotvo_commit_duration_seconds_bucket");
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value);
  assert.equal(buckets.at(-1).labels.le, "+Inf");
  assert.equal(buckets.at(-1).value, sampleValue(after, "nodewotvo_commit_duration_seconds_count"));
});

test("on a phone-sized screen the pages fit the width (tables scroll inside their box)", async (t) => {
  await withPage(browser, t, "phone", async (page) => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ["#/", "#/thing/demo-thermostat"]) {
      await page.goto(`${demo.dashboard}${hash}`);
      await page.waitForFunction(
        () => window.__dashboard.overview?.refreshedAt || window.__dashboard.thing?.loads > 0,
      );
      const widths = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        view: window.innerWidth,
      }));
      assert.ok(widths.page <= widths.view, `${hash}: ${widths.page} px wide in a ${widths.view} px screen`);
    }
    await shot(t, page, "phone-thing");
  });
});

test("without chromium the dashboard tests fail and say what to install", () => {
  const r = require("node:child_process").spawnSync(
    process.execPath,
    [
      "-e",
      'require("./test/helpers/dashboard.js").startBrowser().catch((e) => { console.error(e.message); process.exit(3); })',
    ],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, CHROMIUM_PATH: "/nonexistent/chromium" } },
  );
  assert.equal(r.status, 3);
  assert.match(r.stderr, /expected at \/nonexistent\/chromium/);
  assert.match(r.stderr, /apt-get install -y chromium/);
});

test("the docs screenshot exists and is shown in the README", () => {
  const png = fs.readFileSync(path.join(ROOT, "docs", "dashboard-thermostat.png"));
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  assert.match(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"), /docs\/dashboard-thermostat\.png/);
});
