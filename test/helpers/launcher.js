// Test helper: the real launcher (bin/node-wot-vo.js) as a child process, as a user runs it.
"use strict";
const path = require("node:path");
const { spawn } = require("node:child_process");

const ROOT = path.join(__dirname, "..", "..");
const BIN = path.join(ROOT, "bin", "node-wot-vo.js");

/**
 * Starts `node-wot-vo <args>` in the repository root on a free port (NODE_WOT_VO_PORT=0), with
 * `env` over the current environment. Returns { child, out: { stdout, stderr }, exited }, where
 * `exited` resolves to { code, signal }.
 */
function launch(args, env = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_WOT_VO_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, out, exited };
}

module.exports = { ROOT, BIN, launch };
