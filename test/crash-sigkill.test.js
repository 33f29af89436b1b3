// Acknowledged ⇒ committed, under load and SIGKILL: clients write as fast as they can, the launcher
// is killed mid-stream, and every write that was answered 204 must be in the file, which must pass
// integrity_check; then the same data directory starts again. Five cycles.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const Database = require("better-sqlite3");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { ROOT, launch } = require("./helpers/launcher.js");

const FIXTURE = path.join(ROOT, "test", "fixtures", "crash-counter.js");
const CYCLES = 5;
const CLIENTS = 16;
const LOAD_MS = 1200;

test(`every acknowledged write survives SIGKILL under load (${CYCLES} cycles), and the file stays intact`, async (t) => {
  const data = tempDir();
  const acknowledged = [];
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const { child, out, exited } = launch([FIXTURE], { NODE_WOT_VO_DATA_DIR: data });
    const url = await waitFor(() => /TD at (http:\/\/\S+)/.exec(out.stdout)?.[1], {
      what: `cycle ${cycle}: the launcher to expose the counter (stderr: ${out.stderr})`,
      timeoutMs: 20000,
    });
    const href = `${url}/properties/n`;
    let stop = false;
    let next = cycle * 1_000_000;
    const client = async () => {
      while (!stop) {
        const value = next++;
        try {
          const res = await fetch(href, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: String(value),
          });
          await res.arrayBuffer();
          if (res.status === 204) acknowledged.push(value);
        } catch {
          return; // the server died under this request: not acknowledged
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    await new Promise((r) => setTimeout(r, LOAD_MS));
    child.kill("SIGKILL");
    const { signal } = await exited;
    stop = true;
    await Promise.all(clients);
    assert.equal(signal, "SIGKILL");

    const db = new Database(path.join(data, "vo.sqlite"), { readonly: true });
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok", `cycle ${cycle}: integrity_check`);
      const stored = new Set(
        db
          .prepare(
            `SELECT h.value FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id
             WHERE s.name = 'n' AND h.op = 'write' AND h.ok = 1`,
          )
          .pluck()
          .all()
          .map(Number),
      );
      const missing = acknowledged.filter((v) => !stored.has(v));
      assert.deepEqual(
        missing.slice(0, 10),
        [],
        `cycle ${cycle}: ${missing.length} acknowledged writes missing`,
      );
      assert.ok(acknowledged.length > CYCLES, "the load produced acknowledged writes");
    } finally {
      db.close();
    }
  }
  t.diagnostic(`acknowledged writes over ${CYCLES} SIGKILL cycles: ${acknowledged.length}`);
});
