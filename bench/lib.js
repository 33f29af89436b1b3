// Shared by the benchmarks: flags, seeded data, medians and spreads, the backlogs they ship (made
// once per machine and copied), CPU time of other processes, and the final JSON line that
// bench/run-all.js turns into the table.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

/**
 * `--full` (full sizes) or quick; `--rounds N`; `--profile DIR`; other `--key value` pairs; the
 * other arguments, numbers where they are numbers, in `_`.
 */
function flags(argv = process.argv.slice(2)) {
  const out = { full: false, rounds: undefined, profile: undefined, _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) out._.push(Number.isNaN(Number(a)) ? a : Number(a));
    else if (a === "--full") out.full = true;
    else if (a === "--quick") out.full = false;
    else {
      const key = a.slice(2);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) out[key] = true;
      else {
        out[key] = Number.isNaN(Number(next)) ? next : Number(next);
        i++;
      }
    }
  }
  return out;
}

/** A small, fast, seeded PRNG (mulberry32): the same data on every run. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** The value below which a share `q` of `xs` lies (0.95: the p95), one of the values. */
const quantile = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
/** Smallest and largest of the rounds. */
const spread = (xs) => [Math.min(...xs), Math.max(...xs)];
const round = (x, digits = 0) => Number(x.toFixed(digits));

/** The figure's fields for many timings in ms: the median as value, min–p95 as spread. */
const timings = (ms, digits = 2) => ({
  value: round(median(ms), digits),
  unit: "ms",
  spread: [round(Math.min(...ms), digits), round(quantile(ms, 0.95), digits)],
  spreadLabel: "min–p95",
});

/** Prints the final line: `{ bench, figures: [{ what, reference, target, value, unit, ratio?, met?, … }] }`. */
function report(bench, figures, extra = {}) {
  console.log(JSON.stringify({ bench, ...extra, figures }));
}

/** CPU milliseconds a process has used (Linux /proc), for servers we did not start in this process. */
function processCpuMs(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / clockTicks();
}
let ticksPerSecond;
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

const hasTaskset = (() => {
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

// ---------------------------------------------------------------------------------------------
// Backlogs

/** Bumped whenever mixedRecord changes, so cached backlogs are made again. */
const MIX_VERSION = 1;

/**
 * The mix every shipping benchmark uses, by record index: 40 % number properties, 10 % integer
 * properties (the TD says integer), 20 % object properties, 20 % numeric events, 10 % actions
 * (object input, string output, duration). `numeric`: numbers, integers and events only (what
 * VictoriaMetrics stores). `things` distinct things; `tag` goes into their ids (fan-in processes).
 */
function mixedRecord(j, rnd, { numeric = false, things = 20, tag = "" } = {}) {
  const k = numeric ? [0, 1, 2, 3, 4, 7, 8][j % 7] : j % 10;
  const t = j % things;
  const base = { thingId: `urn:bench${tag}:${t}`, thingTitle: `Sensor${tag} ${t}`, source: "http", ok: true };
  if (k < 4) {
    return {
      ...base,
      kind: "property",
      name: "temperature",
      op: "write",
      valueJson: String(round(15 + rnd() * 20, 2)),
    };
  }
  if (k === 4) {
    return {
      ...base,
      kind: "property",
      name: "count",
      op: "write",
      valueJson: String(Math.floor(rnd() * 100000)),
    };
  }
  if (k < 7) {
    const pm = { pm25: round(rnd() * 50, 1), pm10: round(rnd() * 80, 1), unit: "ug/m3" };
    return { ...base, kind: "property", name: "pm", op: "write", valueJson: JSON.stringify(pm) };
  }
  if (k < 9) {
    return {
      ...base,
      kind: "event",
      name: "tick",
      op: "emit",
      source: "local",
      valueJson: String(Math.floor(rnd() * 1e6)),
    };
  }
  return {
    ...base,
    kind: "action",
    name: "reset",
    op: "invoke",
    valueJson: JSON.stringify({ hard: rnd() < 0.5 }),
    outputJson: '"done"',
    durationMs: round(rnd() * 5, 3),
  };
}

/** The TD schemas of the mix's things (integers are integers), as the plugin remembers them. */
function rememberSchemas(influxdb, { things = 20, tag = "" } = {}) {
  for (let t = 0; t < things; t++) {
    influxdb.rememberThing({
      id: `urn:bench${tag}:${t}`,
      title: `Sensor${tag} ${t}`,
      properties: { temperature: { type: "number" }, count: { type: "integer" }, pm: { type: "object" } },
      events: { tick: { data: { type: "integer" } } },
      actions: { reset: { input: { type: "object" }, output: { type: "string" } } },
    });
  }
}

/**
 * A SQLite file holding `records` of the mix as the plugin's store writes them (live records,
 * group commits of 1,000), made once per machine and kind in a cache directory, then copied to
 * `dest`. Returns `dest`.
 */
async function backlogFile(dest, records, { seed = 42, numeric = false, things = 20, tag = "" } = {}) {
  const dist = path.join(__dirname, "..", "dist");
  const { openDatabase } = require(path.join(dist, "store", "database.js"));
  const { HistoryStore } = require(path.join(dist, "store", "history.js"));
  const { InfluxDb } = require(path.join(dist, "influx", "influxdb.js"));
  const { resolveOptions } = require(path.join(dist, "config.js"));
  const version = require(path.join(dist, "store", "migrations.js")).MIGRATIONS.length;
  const cacheDir = path.join(os.tmpdir(), "nwv-bench-cache");
  fs.mkdirSync(cacheDir, { recursive: true });
  const name = `backlog-v${version}.${MIX_VERSION}-${numeric ? "numeric" : "mixed"}-${records}-${things}${tag}-${seed}.sqlite`;
  const cached = path.join(cacheDir, name);
  if (!fs.existsSync(cached)) {
    const tmp = `${cached}.${process.pid}.tmp`;
    const db = openDatabase({ file: tmp, synchronous: "normal", busyTimeoutMs: 5000 });
    const store = new HistoryStore(db);
    rememberSchemas(new InfluxDb(resolveOptions({}).influxdb, store, db), { things, tag });
    const rnd = seeded(seed);
    for (let i = 0; i < records; i += 1000) {
      let last;
      for (let j = i; j < Math.min(records, i + 1000); j++) {
        last = store.append(mixedRecord(j, rnd, { numeric, things, tag }));
      }
      await last;
    }
    store.close();
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    fs.renameSync(tmp, cached);
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(cached, dest);
  return dest;
}

/**
 * The payloads the shipper sends for the backlog in `file`, built by the plugin's own batch
 * builder and layout (so a reference is the very bytes the shipper sends): one per batch and
 * bucket, `{ bucket, text, lines() }`, up to `maxRows` rows. `influxdb`: the options (layout, …).
 */
async function backlogPayloads(file, influxdb = {}, maxRows = Infinity) {
  const dist = path.join(__dirname, "..", "dist");
  const { openDatabase } = require(path.join(dist, "store", "database.js"));
  const { HistoryStore } = require(path.join(dist, "store", "history.js"));
  const { InfluxDb } = require(path.join(dist, "influx", "influxdb.js"));
  const { BatchBuilder } = require(path.join(dist, "influx", "batch-builder.js"));
  const { resolveOptions } = require(path.join(dist, "config.js"));
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 5000 });
  const store = new HistoryStore(db);
  const options = resolveOptions({ influxdb: { apiVersion: 1, ...influxdb } }).influxdb;
  // The helper's own layout (private in TypeScript, reachable from JavaScript).
  const layout = new InfluxDb({ ...options, enabled: true }, store, db).layout;
  const builder = new BatchBuilder(db, store, layout, options, () => new Promise((r) => setImmediate(r)));
  const payloads = [];
  let rows = 0;
  for (
    let b = await builder.build(0, () => false);
    b && rows < maxRows;
    b = await builder.build(b.last, () => false)
  ) {
    rows += b.count;
    for (const p of b.payloads) {
      payloads.push({
        bucket: p.bucket,
        text: p.text,
        lines: () => Array.from({ length: p.count }, (_, i) => p.line(i)),
      });
    }
  }
  store.close();
  db.close();
  return payloads;
}

/**
 * POSTs bodies to `url` + `path` over one keep-alive connection: `post(body)` resolves on 204 (or
 * 2xx), rejects otherwise; `close()` ends the connection.
 */
function poster(url, requestPath) {
  const http = require("node:http");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(url);
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: hostname,
          port,
          path: requestPath,
          method: "POST",
          agent,
          headers: { "content-type": "text/plain; charset=utf-8", "content-length": body.length },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode >= 200 && res.statusCode < 300
              ? resolve()
              : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return { post, close: () => agent.destroy() };
}

function tempDir(prefix = "nwv-bench-") {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

module.exports = {
  flags,
  seeded,
  median,
  quantile,
  spread,
  round,
  timings,
  report,
  processCpuMs,
  hasTaskset,
  mixedRecord,
  rememberSchemas,
  backlogFile,
  backlogPayloads,
  poster,
  tempDir,
};
