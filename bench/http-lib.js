// HTTP load for the benchmarks: the benchmark server (bench/http-server.js) in a child pinned to
// CPU 0, autocannon (keep-alive) in this process pinned to CPU 1 when `taskset` exists.
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const path = require("node:path");
const autocannon = require("autocannon");
const { hasTaskset } = require("./lib.js");

if (hasTaskset) execFileSync("taskset", ["-p", "-c", "1", String(process.pid)], { stdio: "ignore" });

/**
 * Starts the server ("on": plugin attached, "off": stock node-wot): { child, port }. `nodeFlags`
 * go to its node (e.g. `--cpu-prof`).
 */
function startServer(mode, dataDir, env = {}, nodeFlags = []) {
  return startChild([...nodeFlags, path.join(__dirname, "http-server.js"), mode, dataDir], env);
}

/**
 * Runs `node ...args` pinned to CPU 0 (when `taskset` exists), with an IPC channel; resolves
 * { child, port } once it prints PORT=<n>.
 */
function startChild(args, env = {}) {
  const options = { stdio: ["ignore", "pipe", "inherit", "ipc"], env: { ...process.env, ...env } };
  const child = hasTaskset
    ? spawn("taskset", ["-c", "0", process.execPath, ...args], options)
    : spawn(process.execPath, args, options);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /PORT=(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

function ask(child, what) {
  return new Promise((resolve) => {
    child.once("message", resolve);
    child.send(what);
  });
}

/** CPU microseconds the server has used. */
const cpu = async (child) => {
  const u = await ask(child, "cpu");
  return u.user + u.system;
};

async function stopServer(child) {
  child.kill("SIGTERM");
  await new Promise((resolve) => child.on("exit", resolve));
}

const TARGETS = {
  read: { path: "/bench/properties/v", method: "GET" },
  write: { path: "/bench/properties/v", method: "PUT", body: "42" },
  invoke: { path: "/bench/actions/act", method: "POST", body: "7" },
};

/** `seconds` of keep-alive load on one affordance: { rps, total }. Throws on any error or non-2xx. */
async function load(port, kind, seconds, connections = 10) {
  const t = TARGETS[kind];
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${t.path}`,
    method: t.method,
    ...(t.body === undefined ? {} : { headers: { "content-type": "application/json" }, body: t.body }),
    connections,
    duration: seconds,
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, total: result.requests.total };
}

module.exports = { startServer, startChild, stopServer, cpu, ask, load };
