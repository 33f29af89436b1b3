// Test helpers: a real VO servient on a free loopback port with its SQLite file in a temp dir.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startVo } = require("../../dist/cli.js");
const { resolveOptions } = require("../../dist/index.js");

/** A fresh temporary directory, removed by the returned cleanup. */
function tempDir(prefix = "nwv-") {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts a servient with the plugin attached: HTTP on 127.0.0.1, port 0 (free), data in a temp
 * dir. `options` are merged over those defaults. Returns { running, wot, servient, baseUrl, dir, file, stop }.
 */
async function startTestVo(options = {}, scripts = []) {
  const dir = options.dataDir ?? tempDir();
  const resolved = resolveOptions({
    ...options,
    dataDir: dir,
    http: { port: 0, address: "127.0.0.1", ...(options.http ?? {}) },
    vo: { selfCheck: { enabled: false }, ...(options.vo ?? {}) },
  });
  const running = await startVo(resolved, scripts);
  return {
    running,
    wot: running.wot,
    servient: running.servient,
    baseUrl: running.baseUrl,
    dir,
    file: running.servient.vo.file,
    stop: () => running.stop(),
  };
}

/** Produces and exposes a thing; `setup(thing)` sets handlers before expose. */
async function exposeThing(wot, td, setup = () => undefined) {
  const thing = await wot.produce(td);
  await setup(thing);
  await thing.expose();
  return thing;
}

/** Waits until `check()` returns truthy (polling), or throws after `timeoutMs`. */
async function waitFor(check, { timeoutMs = 10000, intervalMs = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

module.exports = { tempDir, startTestVo, exposeThing, waitFor };
