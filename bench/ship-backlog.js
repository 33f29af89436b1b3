// The subject of the shipping benchmarks: the plugin's own store and InfluxDB helper (the objects
// `servient.vo.history` and `servient.influxdb` are) opened on a SQLite file holding a backlog,
// timed from start until the outbox is empty. node-wot plays no part in shipping, so none is
// started. Used in process (`shipBacklog`) and as a child process (fan-in: waits for "go" over IPC,
// answers with its result).
"use strict";
const path = require("node:path");

const dist = path.join(__dirname, "..", "dist");

/**
 * Ships the backlog in `file` to `url`; resolves { seconds, cpuUs, shipped, status }.
 * `influxdb`: extra options (apiVersion, database, token, …). `profile(fn)` may wrap the timed part.
 */
async function shipBacklog({ file, url, influxdb = {}, profile = (fn) => fn() }) {
  const { openDatabase } = require(path.join(dist, "store", "database.js"));
  const { HistoryStore } = require(path.join(dist, "store", "history.js"));
  const { InfluxDb } = require(path.join(dist, "influx", "influxdb.js"));
  const { resolveOptions } = require(path.join(dist, "config.js"));
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 5000 });
  const store = new HistoryStore(db);
  const options = resolveOptions({
    influxdb: { enabled: true, apiVersion: 1, url, database: "bench", createBucket: true, ...influxdb },
  }).influxdb;
  const inf = new InfluxDb(options, store, db);
  const queued = store.lastId;
  let seconds;
  let cpuUs;
  let ok;
  await profile(async () => {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await inf.start();
    ok = await inf.flush(3_600_000);
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    cpuUs = used.user + used.system;
  });
  const status = inf.status();
  await inf.stop();
  store.close();
  db.close();
  return { seconds, cpuUs, queued, shipped: status.shipped, ok, status };
}

/**
 * Builds (never sends) the first `rows` lines of the backlog, so a fresh process is as warm as a
 * servient that has been running: the JIT has seen the shipping code before it is timed.
 */
async function warmUp(file, rows) {
  await require("./lib.js").backlogPayloads(file, {}, rows);
}

module.exports = { shipBacklog, warmUp };

/**
 * Forks this file as a child process on `file`: resolves { child, ready } where `ready` settles when
 * it has warmed up; `child.send("go")` starts it, its next message is the result.
 */
function forkShipper(file, url, influxdb = {}, profile) {
  const { fork } = require("node:child_process");
  const args = [file, url, JSON.stringify(influxdb), ...(profile ? [profile.dir, profile.name] : [])];
  const child = fork(__filename, args, { stdio: "inherit" });
  const message = () => new Promise((resolve) => child.once("message", resolve));
  const ready = message().then((m) => {
    if (m.error) throw new Error(m.error);
  });
  const run = async () => {
    const result = message();
    child.send("go");
    const r = await result;
    if (r.error) throw new Error(r.error);
    return r;
  };
  return { child, ready, run };
}

module.exports.forkShipper = forkShipper;

// As a child process: argv <file> <url> <influxdb options JSON> [profile dir, name]; warms up, says
// ready, starts on "go".
if (require.main === module) {
  const [file, url, json, profileDir, profileName] = process.argv.slice(2);
  process.once("message", async () => {
    try {
      const started = Date.now();
      const profile = profileDir
        ? (fn) => require("./profile.js").profiled(profileDir, profileName, fn)
        : undefined;
      const result = await shipBacklog({ file, url, influxdb: JSON.parse(json ?? "{}"), profile });
      process.send({ ...result, started, ended: Date.now() });
    } catch (err) {
      process.send({ error: String(err?.stack ?? err) });
    }
    process.disconnect();
  });
  warmUp(file, 20_000).then(
    () => process.send({ ready: true }),
    (err) => process.send({ error: String(err?.stack ?? err) }),
  );
}
