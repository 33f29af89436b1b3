// The launcher as a process: a missing or throwing Thing script stops it (committing what was
// recorded) with one clear error; hostile requests to the vo-wot catalogue never kill it.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const Database = require("better-sqlite3");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { launch } = require("./helpers/launcher.js");

/** The exit of a child that must stop by itself; a launcher that keeps running fails the test. */
async function exitOf({ exited, out }, what) {
  let timer;
  const hung = new Promise((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`${what}: the launcher kept running (stdout: ${out.stdout} stderr: ${out.stderr})`)),
      20000,
    );
  });
  try {
    return await Promise.race([exited, hung]);
  } finally {
    clearTimeout(timer);
  }
}

function count(text, needle) {
  return text.split(needle).length - 1;
}

test("a missing script stops the launcher: exit 2, the path in one error line", async () => {
  const data = tempDir();
  const run = launch(["test/fixtures/cli-no-such-script.js"], { NODE_WOT_VO_DATA_DIR: data });
  try {
    const { code } = await exitOf(run, "missing script");
    assert.equal(code, 2);
    assert.equal(count(run.out.stderr, "not found"), 1, run.out.stderr);
    assert.match(run.out.stderr, /script '.*cli-no-such-script\.js' not found/);
  } finally {
    run.child.kill("SIGKILL");
  }
});

test("a throwing script stops the launcher: what it recorded is committed, one error with its line", async () => {
  const data = tempDir();
  const run = launch(["test/fixtures/cli-throws.js"], { NODE_WOT_VO_DATA_DIR: data });
  try {
    const { code } = await exitOf(run, "throwing script");
    assert.equal(code, 2);
    const err = run.out.stderr;
    assert.equal(count(err, "the doomed script gives up"), 1, err);
    assert.match(err, /script '.*cli-throws\.js' failed: the doomed script gives up/);
    assert.match(err, /cli-throws\.js:9:\d+/, "the script's own line, not the launcher's");
    const db = new Database(path.join(data, "vo.sqlite"), { readonly: true });
    const rows = db
      .prepare(
        `SELECT h.value FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'started'`,
      )
      .all();
    db.close();
    assert.deepEqual(rows, [{ value: '"yes"' }], "the event emitted before the throw is in the file");
  } finally {
    run.child.kill("SIGKILL");
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A raw request: the path goes on the wire exactly as written (fetch would normalise it). */
function rawGet(port, target, method = "GET") {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: target, method }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the catalogue answers malformed paths and queries with 400 and the launcher lives on", async () => {
  const dir = tempDir();
  const port = await freePort();
  const descriptor = path.join(dir, "descriptor.json");
  fs.writeFileSync(descriptor, JSON.stringify({ name: "cat-vo", catalogue: port }));
  const run = launch(["--config", descriptor, "test/fixtures/cli-thing.js"], { NODE_WOT_VO_DATA_DIR: dir });
  try {
    await waitFor(() => /exposed 'Cli Lamp'/.test(run.out.stdout), {
      what: `the thing to be exposed (stderr: ${run.out.stderr})`,
      timeoutMs: 20000,
    });
    for (const target of [
      "/%E0%A4%A",
      "/%",
      "/%zz",
      "/?expanded=%E0%A4%A",
      "/?%=1",
      "/cli-lamp?x=%ff%",
      "/%00",
      "/?expanded=maybe",
    ]) {
      const r = await rawGet(port, target);
      assert.equal(r.status, 400, `${target}: ${r.body}`);
      assert.ok(JSON.parse(r.body).error.length > 10, `${target} says why: ${r.body}`);
    }
    assert.equal((await rawGet(port, "/", "DELETE")).status, 405);
    assert.equal((await rawGet(port, "/no-such-thing")).status, 404);
    const listing = await rawGet(port, "/");
    assert.equal(listing.status, 200);
    // The launcher exposes the ServiceManager Thing beside the script's thing.
    assert.deepEqual(JSON.parse(listing.body), {
      "Cli Lamp": "/cli-lamp",
      ServiceManager: "/servicemanager",
    });
    const td = await rawGet(port, `/${encodeURIComponent("urn:test:cli-lamp")}`);
    assert.equal(JSON.parse(td.body).title, "Cli Lamp");
    assert.equal(run.child.exitCode, null, "the launcher is still running");
    run.child.kill("SIGTERM");
    const { code } = await exitOf(run, "SIGTERM");
    assert.equal(code, 0, run.out.stderr);
  } finally {
    run.child.kill("SIGKILL");
  }
});
