// The real launcher with its data directory on a 4 MiB tmpfs that the test fills up: writes are
// answered 5xx (never acknowledged) while the disk is full, nothing committed is lost or
// corrupted, the log says what happened once per episode (and when it recovers), and recording
// resumes by itself once there is space again. Needs root (mount); CI runs the tests as root.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn, execFileSync } = require("node:child_process");
const Database = require("better-sqlite3");
const { tempDir, waitFor } = require("./helpers/vo.js");

const ROOT = path.join(__dirname, "..");
const BIN = path.join(ROOT, "bin", "node-wot-vo.js");
const THING = path.join(__dirname, "fixtures", "store-disk-full-thing.js");

/** Fills the file system of `dir` with `file` until ENOSPC. */
function fill(file) {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const fd = fs.openSync(file, "w");
  try {
    for (let size = chunk.length; size >= 1; size = Math.floor(size / 2)) {
      for (;;) {
        try {
          fs.writeSync(fd, chunk, 0, size);
        } catch (err) {
          if (err.code !== "ENOSPC") throw err;
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

test("disk full: writes answer 5xx, committed data survives intact, one log line per episode, recording resumes", async (t) => {
  assert.equal(
    process.getuid?.(),
    0,
    "this test mounts a small tmpfs to fill the disk and must run as root: run the tests as root (as CI does)",
  );
  const work = tempDir();
  const data = path.join(work, "data");
  fs.mkdirSync(data);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", data]);
  t.after(() => execFileSync("umount", ["-l", data]));
  const config = path.join(work, "vo.json");
  fs.writeFileSync(
    config,
    JSON.stringify({ dataDir: data, http: { port: 0, address: "127.0.0.1" }, scripts: [THING] }),
  );
  const child = spawn(process.execPath, [BIN, "--config", config], {
    cwd: ROOT,
    env: { ...process.env, NODE_WOT_VO_PORT: "0", DEBUG: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });

  const base = await waitFor(() => /servient on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout)?.[1], {
    what: `the launcher to print its URL (stdout: ${out.stdout} stderr: ${out.stderr})`,
    timeoutMs: 20000,
  });
  const url = `${base}/disk/properties/reading`;
  await waitFor(async () => (await fetch(url)).ok, { what: "the thing to be exposed" });
  let n = 0;
  const put = async () => {
    const value = `v${++n}-${"x".repeat(200)}`;
    const res = await fetch(url, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(value),
    });
    await res.arrayBuffer();
    return { value, status: res.status };
  };
  const acknowledged = [];
  const refused = [];
  const note = (r) => (r.status < 300 ? acknowledged : refused).push(r);

  for (let i = 0; i < 50; i++) {
    const r = await put();
    assert.equal(r.status, 204, "writes succeed while there is space");
    note(r);
  }

  const filler = path.join(data, "filler");
  fill(filler);
  // The WAL may still have room it already owns: write until the first write is refused.
  for (let i = 0; i < 5000 && refused.length === 0; i++) note(await put());
  assert.ok(refused.length > 0, `a write was refused once the disk was full (after ${n} writes)`);
  for (let i = 0; i < 20; i++) note(await put());
  const episode = refused.length;
  for (const r of refused)
    assert.ok(r.status >= 500 && r.status < 600, `a refused write answers 5xx, got ${r.status}`);
  assert.ok(episode >= 20, "while the disk stays full, writes stay refused");
  assert.equal(child.exitCode, null, `the launcher keeps running (stderr: ${out.stderr})`);

  fs.rmSync(filler);
  const after = await put();
  note(after);
  assert.equal(after.status, 204, `recording resumed by itself once there was space (stderr: ${out.stderr})`);
  for (let i = 0; i < 10; i++) {
    const r = await put();
    assert.equal(r.status, 204);
    note(r);
  }

  child.kill("SIGTERM");
  const { code } = await exited;
  assert.equal(code, 0, out.stderr);
  assert.equal(
    out.stderr.match(/could not commit/g)?.length,
    1,
    `one error line for the episode:\n${out.stderr}`,
  );
  assert.match(out.stderr, /database or disk is full/);
  assert.equal(
    out.stderr.match(/recording resumed/g)?.length,
    1,
    `one line when it recovered:\n${out.stderr}`,
  );

  const db = new Database(path.join(data, "vo.sqlite"), { readonly: true });
  try {
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    const stored = new Set(
      db
        .prepare(
          "SELECT h.value FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'reading'",
        )
        .all()
        .map((r) => JSON.parse(r.value)),
    );
    for (const r of acknowledged)
      assert.ok(stored.has(r.value), `acknowledged write ${r.value.slice(0, 8)} is stored`);
    for (const r of refused)
      assert.ok(!stored.has(r.value), `refused write ${r.value.slice(0, 8)} is not stored`);
    assert.equal(stored.size, acknowledged.length);
  } finally {
    db.close();
  }
});
