// The launcher as a user runs it: a child process, the demo VO, GET /, and a clean SIGTERM that
// commits everything pending.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const Database = require("better-sqlite3");
const { tempDir, waitFor } = require("./helpers/vo.js");
const { ROOT, BIN, launch } = require("./helpers/launcher.js");

test("--help explains the launcher; a broken config exits 2 with the reason", () => {
  const help = spawnSync(process.execPath, [BIN, "--help"], { encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage/);
  assert.match(help.stdout, /--config/);
  assert.match(help.stdout, /SIGINT \/ SIGTERM/);
  const bad = spawnSync(process.execPath, [BIN, "--config", "/nonexistent/vo.json"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /cannot read config file '\/nonexistent\/vo.json'/);
  const noScript = spawnSync(process.execPath, [BIN], {
    encoding: "utf8",
    env: { ...process.env, NODE_WOT_VO_DATA_DIR: tempDir() },
  });
  assert.equal(noScript.status, 2);
  assert.match(noScript.stderr, /no Thing script to run/);
});

test("the demo VO starts, GET / lists it, the TD points at the served address, SIGTERM exits 0", async () => {
  const data = tempDir();
  const { child, out, exited } = launch(["--config", "things/demo.config.json"], {
    NODE_WOT_VO_DATA_DIR: data,
  });
  try {
    const base = await waitFor(() => /servient on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout)?.[1], {
      what: `the launcher to print its URL (stdout: ${out.stdout} stderr: ${out.stderr})`,
      timeoutMs: 20000,
    });
    const list = await waitFor(
      async () => {
        const l = await (await fetch(`${base}/`)).json();
        return l.includes(`${base}/demo-thermostat`) && l;
      },
      { what: "GET / to list the demo thing" },
    );
    // The launcher exposes the ServiceManager Thing beside the demo thermostat.
    assert.deepEqual(list, [`${base}/servicemanager`, `${base}/demo-thermostat`]);
    const td = await (await fetch(`${base}/demo-thermostat`)).json();
    assert.equal(td.title, "Demo Thermostat");
    const hrefs = JSON.stringify(td).match(/"href":"[^"]+"/g);
    assert.ok(hrefs.length > 0);
    for (const h of hrefs) assert.ok(h.startsWith(`"href":"${base}/`), h);
    assert.match(out.stdout, /TD at http:\/\/127\.0\.0\.1:\d+\/demo-thermostat/);
    const put = await fetch(`${base}/demo-thermostat/properties/targetTemperature`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "22.5",
    });
    assert.equal(put.status, 204);
    child.kill("SIGTERM");
    const { code } = await exited;
    assert.equal(code, 0, out.stderr);
    const db = new Database(path.join(data, "vo.sqlite"), { readonly: true });
    const row = db
      .prepare(
        `SELECT h.value FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'targetTemperature'`,
      )
      .get();
    db.close();
    assert.equal(row.value, "22.5");
  } finally {
    child.kill("SIGKILL");
  }
});

test("SIGTERM while a script emits events: every emitted event is committed", async () => {
  const data = tempDir();
  const { child, out, exited } = launch([path.join("test", "fixtures", "launcher-burst.js")], {
    NODE_WOT_VO_DATA_DIR: data,
  });
  try {
    await waitFor(() => /exposed 'Burst'/.test(out.stdout), { what: "the burst thing", timeoutMs: 20000 });
    await new Promise((r) => setTimeout(r, 300)); // let it emit a good number of events
    child.kill("SIGTERM");
    const { code } = await exited;
    assert.equal(code, 0, out.stderr);
    const beats = Number(/BEATS=(\d+)/.exec(out.stdout)?.[1]);
    assert.ok(beats > 0, out.stdout);
    const db = new Database(path.join(data, "vo.sqlite"), { readonly: true });
    const { n, maxv } = db
      .prepare(
        `SELECT COUNT(*) AS n, MAX(CAST(h.value AS INTEGER)) AS maxv FROM wotvo_history h
         JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'beat'`,
      )
      .get();
    db.close();
    assert.equal(n, beats, "every emitted event is in the file");
    assert.equal(maxv, beats - 1);
  } finally {
    child.kill("SIGKILL");
  }
});

test("PORT / WOT_PORT in the environment do not move the VO off its configured port", async () => {
  const { startTestVo } = require("./helpers/vo.js");
  const saved = { PORT: process.env.PORT, WOT_PORT: process.env.WOT_PORT };
  process.env.PORT = "9";
  process.env.WOT_PORT = "19";
  try {
    const vo = await startTestVo();
    try {
      assert.notEqual(vo.running.port, 9);
      assert.notEqual(vo.running.port, 19);
      assert.ok(vo.running.port > 1024);
      assert.equal(process.env.PORT, "9", "the environment is restored");
    } finally {
      await vo.stop();
    }
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("loading the plugin prints nothing (node-wot's ajv format warnings are filtered)", () => {
  const r = spawnSync(process.execPath, ["-e", 'require("./dist/index.js")'], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "");
});

test("a TypeScript script runs (transpiled on require) and gets { WoT, servient }", async () => {
  const { startTestVo } = require("./helpers/vo.js");
  const vo = await startTestVo({}, [path.join(__dirname, "fixtures", "launcher-typed.ts")]);
  try {
    const res = await fetch(`${vo.baseUrl}/typed/properties/celsius`);
    assert.equal(await res.json(), 19.5);
  } finally {
    await vo.stop();
  }
});
