// How fast a thing page of the dashboard opens over a 1 M-record history, in headless chromium.
// The history (one temperature record per second, ~11.6 days, ending now) is written with the
// store's own API into a data directory; the real launcher then serves the demo thermostat on it.
// Figure: median time from navigation to the first chart drawn (the page's own performance.now()),
// default range (last hour, raw records). Also printed: the last week (aggregate windows, read in
// day chunks newest first): first chart and whole page.
// Usage: node bench/dashboard-open.js [records=1000000] [runs=7]
"use strict";
/* global window -- functions given to page.evaluate run in the browser */
const { tempDir } = require("../test/helpers/vo.js");
const { startBrowser, startDemo, writeHistory } = require("../test/helpers/dashboard.js");

const [records = 1_000_000, runs = 7] = process.argv.slice(2).map(Number);

function* temperatures(now) {
  const start = now - records * 1000;
  for (let i = 0; i < records; i++)
    yield {
      kind: "property",
      name: "temperature",
      op: "change",
      source: "local",
      valueJson: String(Math.round((21 + 3 * Math.sin(i / 3600) + Math.sin(i / 97) * 0.4) * 100) / 100),
      time: start + i * 1000,
    };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function open(browser, url) {
  const page = await browser.context.newPage();
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.__dashboard?.thing?.firstLoadMs !== undefined, null, {
      timeout: 120000,
    });
    return await page.evaluate(() => ({
      first: window.__dashboard.thing.firstChartMs,
      loaded: window.__dashboard.thing.firstLoadMs,
      chart: window.__dashboard.thing.charts.temperature,
    }));
  } finally {
    await page.close();
  }
}

async function main() {
  const dir = tempDir("nwv-dash-bench-");
  const t0 = Date.now();
  const written = await writeHistory(dir, temperatures(Date.now()));
  const generateSeconds = (Date.now() - t0) / 1000;
  const vo = await startDemo({}, { dataDir: dir });
  const browser = await startBrowser();
  try {
    const page = `${vo.dashboard}#/thing/demo-thermostat`;
    await open(browser, page); // warm-up: the file's pages into the OS cache, chromium started
    const hour = [];
    for (let i = 0; i < runs; i++) hour.push(await open(browser, page));
    const week = [];
    for (let i = 0; i < Math.min(runs, 3); i++) week.push(await open(browser, `${page}?range=1w`));
    const result = {
      bench: "dashboard-open",
      records: written,
      generateSeconds,
      hourFirstChartMedianMs: Math.round(median(hour.map((r) => r.first))),
      hourPageMedianMs: Math.round(median(hour.map((r) => r.loaded))),
      hourPoints: hour[0].chart,
      weekFirstChartMedianMs: Math.round(median(week.map((r) => r.first))),
      weekPageMedianMs: Math.round(median(week.map((r) => r.loaded))),
      weekPoints: week[0].chart,
    };
    console.log(JSON.stringify(result));
    console.log(
      JSON.stringify({
        figure: "dashboard thing page over 1 M records: first chart drawn, median ms (last hour)",
        value: result.hourFirstChartMedianMs,
        target: 1000,
      }),
    );
  } finally {
    await browser.close();
    await vo.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
