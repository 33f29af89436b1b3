// Test harness: real InfluxDB 1.6.7 (`influxd`) and VictoriaMetrics servers, each on free loopback
// ports with a temporary data directory. Missing binaries are installed from Debian when running
// as root; otherwise the harness fails with a message that says what to install (never a skip).
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const net = require("node:net");
const path = require("node:path");
const { spawn, execFileSync } = require("node:child_process");

const INFLUXD = process.env.NODE_WOT_VO_INFLUXD ?? "/usr/bin/influxd";
const VICTORIA = process.env.NODE_WOT_VO_VICTORIA_METRICS ?? "/usr/bin/victoria-metrics";

/** Makes sure a server binary exists: installs the Debian packages as root, else throws. */
function ensureBinary(file, pkg) {
  if (fs.existsSync(file)) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(
      `${file} is missing: the InfluxDB tests need real servers. Install them with ` +
        "`sudo apt-get install -y influxdb victoria-metrics` (Debian packages) and run the tests again.",
    );
  }
  process.stderr.write(`# ${file} missing: installing the Debian package ${pkg}\n`);
  execFileSync("apt-get", ["update"], { stdio: "inherit" });
  execFileSync("apt-get", ["install", "-y", "influxdb", "victoria-metrics"], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (!fs.existsSync(file)) throw new Error(`${file} is still missing after installing ${pkg}`);
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `url` until it answers with a 2xx, the process exits, or the deadline passes. */
async function waitReady(url, proc, logFile, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `${url}: the server exited (${proc.exitCode ?? proc.signalCode}); log:\n${tail(logFile)}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${url} not ready after ${timeoutMs} ms; log:\n${tail(logFile)}`);
    await sleep(50);
  }
}

function tail(file) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-30).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Base class: one server process that can be stopped and started again on the same port and data. */
class ManagedServer {
  constructor(name, dir, port) {
    this.name = name;
    this.dir = dir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.logFile = path.join(dir, `${name}.log`);
    this.proc = undefined;
  }

  get running() {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start() {
    if (this.running) return this;
    const log = fs.openSync(this.logFile, "a");
    const { file, args, readyPath } = this.command();
    this.proc = spawn(file, args, { stdio: ["ignore", log, log], detached: false });
    fs.closeSync(log);
    this.proc.on("error", () => undefined);
    await waitReady(this.url + readyPath, this.proc, this.logFile);
    return this;
  }

  /** Stops the process (SIGTERM, then SIGKILL after 15 s); the data directory stays. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 15000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its data directory. */
  async destroy() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

class Influxd extends ManagedServer {
  constructor(dir, port, rpcPort, options) {
    super("influxd", dir, port);
    this.rpcPort = rpcPort;
    this.options = options;
    this.configFile = path.join(dir, "influxdb.conf");
    fs.writeFileSync(this.configFile, this.config());
  }

  config() {
    const d = (p) => JSON.stringify(path.join(this.dir, p));
    return `reporting-enabled = false
bind-address = "127.0.0.1:${this.rpcPort}"

[meta]
  dir = ${d("meta")}
  logging-enabled = false

[data]
  dir = ${d("data")}
  wal-dir = ${d("wal")}
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${this.port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  max-body-size = ${this.options.maxBodySize ?? 25000000}

[continuous_queries]
  enabled = false

[[udp]]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false
`;
  }

  command() {
    return { file: INFLUXD, args: ["-config", this.configFile], readyPath: "/ping" };
  }

  /** InfluxQL through /query; returns the parsed JSON. Throws on an error in any statement. */
  async query(q, db, params) {
    const body = new URLSearchParams({ q, epoch: "ns" });
    if (db) body.set("db", db);
    if (params) body.set("params", JSON.stringify(params));
    const res = await fetch(`${this.url}/query`, { method: "POST", body });
    const json = await res.json();
    if (!res.ok || json.error) throw new Error(`influxql ${q}: ${res.status} ${JSON.stringify(json)}`);
    for (const r of json.results ?? []) if (r.error) throw new Error(`influxql ${q}: ${r.error}`);
    return json;
  }

  /** Rows of the first series-set of a query as objects (`time` as a ns string when epoch=ns). */
  async rows(q, db, params) {
    const json = await this.query(q, db, params);
    const out = [];
    for (const s of json.results?.[0]?.series ?? []) {
      for (const values of s.values) {
        const row = { ...(s.tags ?? {}) };
        s.columns.forEach((c, i) => (row[c] = values[i]));
        row._measurement = s.name;
        out.push(row);
      }
    }
    return out;
  }
}

class VictoriaMetrics extends ManagedServer {
  constructor(dir, port) {
    super("victoria-metrics", dir, port);
  }

  command() {
    return {
      file: VICTORIA,
      args: [
        `-storageDataPath=${path.join(this.dir, "data")}`,
        `-httpListenAddr=127.0.0.1:${this.port}`,
        "-retentionPeriod=100y",
        "-search.disableCache",
        "-loggerLevel=ERROR",
      ],
      readyPath: "/health",
    };
  }

  /** Everything matching `match` as exported JSON lines (after a force flush). */
  async export(match) {
    await fetch(`${this.url}/internal/force_flush`).then((r) => r.arrayBuffer());
    const res = await fetch(`${this.url}/api/v1/export?${new URLSearchParams({ "match[]": match })}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`export ${match}: ${res.status} ${text}`);
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l));
  }
}

/** Starts InfluxDB 1.6.7 on free loopback ports with a temporary data directory. */
async function startInfluxd(options = {}) {
  ensureBinary(INFLUXD, "influxdb");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-influxd-"));
  const port = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === port) rpcPort = await freePort();
  const server = new Influxd(dir, port, rpcPort, options);
  return server.start();
}

/** Starts VictoriaMetrics on a free loopback port with a temporary data directory. */
async function startVictoriaMetrics() {
  ensureBinary(VICTORIA, "victoria-metrics");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nwv-vm-"));
  const server = new VictoriaMetrics(dir, await freePort());
  return server.start();
}

/**
 * A VO servient (test/helpers/vo.js) shipping to `url`, fast timers for tests, and the TD schemas
 * of its things handed to the point layout (what the plugin's `attach` is asked to do).
 */
async function startInfluxVo(url, influxdb = {}, options = {}) {
  const { startTestVo } = require("./vo.js");
  const vo = await startTestVo({
    ...options,
    influxdb: {
      enabled: true,
      apiVersion: 1,
      url,
      createBucket: true,
      flushIntervalMs: 50,
      retryDelayMs: 50,
      maxRetryDelayMs: 400,
      ...influxdb,
    },
  });
  vo.servient.influxdb.useThings((id) => vo.servient.getThing(id));
  return vo;
}

module.exports = { startInfluxd, startVictoriaMetrics, startInfluxVo, freePort };
