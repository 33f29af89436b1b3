// How fast a thing page of the dashboard opens over a 1 M-record history, in headless chromium.
// The history (one temperature record per second, ~11.6 days for 1 M, ending now) is written with
// the store's own API into a data directory; the real launcher then serves the demo thermostat on
// it. Figure: median time from navigation to the first chart drawn (the page's own
// performance.now()), default range (last hour, raw records). Also reported: the last week
// (aggregate windows, read in day chunks newest first): first chart and whole page.
// Target (ARCHITECTURE §8): first chart < 1 s.
//
//   npm run build && node bench/dashboard-open.js [--full] [--records N] [--runs R]
//   node bench/dashboard-open.js [records] [runs]   (positional, as before)
//
// Quick: 200,000 records, 5 runs; --full: 1,000,000 records, 7 runs (the week: at most 3 runs).
"use strict";
/* global window -- functions given to page.evaluate run in the browser */
const fs = require("node:fs");
const lib = require("./lib.js");
const { startBrowser, startDemo, writeHistory } = require("../test/helpers/dashboard.js");

const args = lib.flags();
const [records = args.records ?? (args.full ? 1_000_000 : 200_000), runs = args.runs ?? (args.full ? 7 : 5)] =
  args._;

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

/** Opens `url` `count` times: medians (and spreads) of first chart and whole page, ms. */
async function openRuns(browser, url, count, label) {
  const first = [];
  const loaded = [];
  let chart;
  for (let i = 0; i < count; i++) {
    const r = await open(browser, url);
    first.push(r.first);
    loaded.push(r.loaded);
    chart = r.chart;
    process.stderr.write(
      `round ${i + 1} ${label.padEnd(4)} first chart ${Math.round(r.first)} ms, page ${Math.round(r.loaded)} ms\n`,
    );
  }
  return {
    firstMs: Math.round(lib.median(first)),
    firstSpread: lib.spread(first).map(Math.round),
    pageMs: Math.round(lib.median(loaded)),
    pageSpread: lib.spread(loaded).map(Math.round),
    chart,
  };
}

async function main() {
  const dir = lib.tempDir("nwv-dash-bench-");
  const t0 = Date.now();
  const written = await writeHistory(dir, temperatures(Date.now()));
  const generateSeconds = (Date.now() - t0) / 1000;
  process.stderr.write(`wrote ${written} records in ${generateSeconds.toFixed(1)} s\n`);
  const vo = await startDemo({}, { dataDir: dir });
  const browser = await startBrowser();
  try {
    const page = `${vo.dashboard}#/thing/demo-thermostat`;
    await open(browser, page); // warm-up: the file's pages into the OS cache, chromium started
    const hour = await openRuns(browser, page, runs, "hour");
    const week = await openRuns(browser, `${page}?range=1w`, Math.min(runs, 3), "week");
    const size = `${written.toLocaleString("en")} records (${lib.round(written / 86400, 1)} days at 1/s)`;
    lib.report(
      "dashboard-open",
      [
        {
          what: "dashboard thing page: first chart drawn, last hour (raw records), median",
          reference: "—",
          target: "< 1,000 ms",
          value: hour.firstMs,
          unit: "ms",
          spread: hour.firstSpread,
          size: `${size}, ${runs} runs`,
          met: hour.firstMs < 1000,
        },
        {
          what: "dashboard thing page: first chart drawn, last week (aggregate windows), median",
          reference: "—",
          target: "reported",
          value: week.firstMs,
          unit: "ms",
          spread: week.firstSpread,
          size: `${size}, ${Math.min(runs, 3)} runs`,
        },
        {
          what: "dashboard thing page: whole page loaded, last week, median",
          reference: "—",
          target: "reported",
          value: week.pageMs,
          unit: "ms",
          spread: week.pageSpread,
          size: `${size}, ${Math.min(runs, 3)} runs`,
        },
      ],
      { records: written, runs, generateSeconds, hour, week },
    );
  } finally {
    await browser.close();
    await vo.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
