// `node-wot-vo history` as a user runs it: read-only (never migrates or changes the file), clear
// errors for unknown kinds, things and names, time bounds and order; and the start-up hints of
// the launcher are commands that work when pasted.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawn, spawnSync } = require("node:child_process");
const Database = require("better-sqlite3");
const { tempDir, startTestVo, waitFor } = require("./helpers/vo.js");
const { MIGRATIONS } = require("../dist/store/migrations.js");

const ROOT = path.join(__dirname, "..");
const BIN = path.join(ROOT, "bin", "node-wot-vo.js");

/** The environment without the launcher's own variables, as in a fresh shell. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("NODE_WOT_VO_")) delete env[k];
  return { ...env, ...extra };
}

function history(args, opts = {}) {
  return spawnSync(process.execPath, [BIN, "history", ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: "utf8",
    env: cleanEnv(opts.env),
  });
}

function lines(stdout) {
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** A data directory with a few recorded writes of one thing, at known times. */
async function recordedDir() {
  const vo = await startTestVo({}, [path.join(__dirname, "fixtures", "cli-thing.js")]);
  const times = [];
  try {
    for (const v of [1, 2, 3]) {
      times.push(Date.now());
      const r = await fetch(`${vo.baseUrl}/cli-lamp/properties/level`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: String(v),
      });
      assert.equal(r.status, 204);
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct milliseconds
    }
  } finally {
    await vo.stop();
  }
  return { dir: vo.dir, file: vo.file, times };
}

let fixture;
test.before(async () => {
  fixture = await recordedDir();
});

test("history reads the rows; --order asc, --from / --to (ms or ISO 8601) bound them", () => {
  const all = history(["--data-dir", fixture.dir, "--name", "level"]);
  assert.equal(all.status, 0, all.stderr);
  assert.deepEqual(
    lines(all.stdout).map((r) => r.value),
    [3, 2, 1],
  );
  const asc = history(["--data-dir", fixture.dir, "--name", "level", "--order", "asc", "--limit", "2"]);
  assert.equal(asc.status, 0, asc.stderr);
  assert.deepEqual(
    lines(asc.stdout).map((r) => r.value),
    [1, 2],
  );
  const rows = lines(all.stdout);
  const second = Date.parse(rows[1].time);
  const fromIso = history(["--data-dir", fixture.dir, "--from", new Date(second).toISOString()]);
  assert.equal(fromIso.status, 0, fromIso.stderr);
  assert.deepEqual(
    lines(fromIso.stdout).map((r) => r.value),
    [3, 2],
  );
  const toMs = history(["--data-dir", fixture.dir, "--to", String(second), "--thing", "Cli Lamp"]);
  assert.equal(toMs.status, 0, toMs.stderr);
  assert.deepEqual(
    lines(toMs.stdout).map((r) => r.value),
    [2, 1],
  );
  const bad = history(["--data-dir", fixture.dir, "--from", "yesterday"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--from must be milliseconds since the epoch or an ISO 8601 date/);
  const reversed = history(["--data-dir", fixture.dir, "--from", "2000", "--to", "1000"]);
  assert.equal(reversed.status, 2);
  assert.match(reversed.stderr, /'from' \(2000\) is after 'to' \(1000\)/);
  const order = history(["--data-dir", fixture.dir, "--order", "up"]);
  assert.equal(order.status, 2);
  assert.match(order.stderr, /--order must be asc or desc/);
});

test("history refuses an unknown --kind, --thing or --name and lists what exists (exit 2)", () => {
  const kind = history(["--data-dir", fixture.dir, "--kind", "propery"]);
  assert.equal(kind.status, 2);
  assert.match(kind.stderr, /--kind must be one of property, action, event, got 'propery'/);
  assert.equal(kind.stdout, "");

  const thing = history(["--data-dir", fixture.dir, "--thing", "Cli Lammp"]);
  assert.equal(thing.status, 2);
  assert.match(
    thing.stderr,
    /no thing 'Cli Lammp' in the history; known things: 'Cli Lamp' \(urn:test:cli-lamp\)/,
  );

  const name = history(["--data-dir", fixture.dir, "--thing", "urn:test:cli-lamp", "--name", "levl"]);
  assert.equal(name.status, 2);
  assert.match(name.stderr, /'Cli Lamp' has no recorded affordance named 'levl'; recorded names: level/);

  const kindName = history(["--data-dir", fixture.dir, "--kind", "action", "--name", "level"]);
  assert.equal(kindName.status, 2);
  assert.match(kindName.stderr, /no recorded action named 'level'/);
});

test("history opens the file read-only: an older schema is reported, never migrated", () => {
  const dir = tempDir();
  const file = path.join(dir, "vo.sqlite");
  const old = MIGRATIONS.length - 1;
  const db = new Database(file);
  for (let v = 1; v <= old; v++) db.exec(MIGRATIONS[v - 1]);
  db.pragma(`user_version = ${old}`);
  db.close();
  const before = fs.readFileSync(file);

  const r = history(["--data-dir", dir]);
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    new RegExp(`has schema version ${old}; this node-wot-vo reads version ${MIGRATIONS.length}`),
  );
  assert.match(r.stderr, /start the VO .* once on it to migrate it/);

  const after = new Database(file, { readonly: true });
  assert.equal(after.pragma("user_version", { simple: true }), old, "not migrated");
  assert.equal(after.pragma("journal_mode", { simple: true }), "delete", "not switched to WAL");
  after.close();
  assert.ok(before.equals(fs.readFileSync(file)), "the file is byte for byte unchanged");

  const missing = history(["--data-dir", path.join(dir, "typo")]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no history at .*typo.*vo\.sqlite: the file does not exist/);
  assert.equal(fs.existsSync(path.join(dir, "typo")), false, "no directory created by a typo");
});

test("the start-up hints name the data directory and credentials in effect, and work when pasted", async () => {
  const data = tempDir();
  const config = path.join(data, "vo.json");
  fs.writeFileSync(
    config,
    JSON.stringify({
      http: { port: 0, address: "127.0.0.1", security: [{ scheme: "basic" }] },
      credentials: { "urn:test:cli-lamp": { username: "u", password: "p" } },
      scripts: [path.join(__dirname, "fixtures", "cli-thing.js")],
    }),
  );
  // The data directory comes from the environment: a pasted hint must not depend on it.
  const child = spawn(process.execPath, [BIN, "--config", config], {
    cwd: ROOT,
    env: cleanEnv({ NODE_WOT_VO_DATA_DIR: data }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  try {
    // Both hint lines, each whole (a chunk may end mid-line; the two lines may come in two chunks).
    const [hint, curl] = await waitFor(
      () => {
        const cli = /see the recorded history: (.*)\n/.exec(out.stdout)?.[1];
        const http = /or over HTTP: (.*)\n/.exec(out.stdout)?.[1];
        return cli !== undefined && http !== undefined && [cli, http];
      },
      { what: `the history hints (stdout: ${out.stdout} stderr: ${out.stderr})`, timeoutMs: 20000 },
    );
    assert.ok(hint.includes(`--data-dir ${data}`), hint);
    assert.match(
      curl,
      /^curl -s -u USER:PASSWORD 'http:\/\/127\.0\.0\.1:\d+\/cli-lamp\/properties\/history\?limit=10'/,
    );
    const base = /'(http:\/\/[^']+)'/.exec(curl)[1];
    assert.equal((await fetch(base)).status, 401, "the credentials hint is needed");
    const ok = await fetch(base, {
      headers: { authorization: `Basic ${Buffer.from("u:p").toString("base64")}` },
    });
    assert.equal(ok.status, 200);

    // Paste the history hint in a fresh shell (no NODE_WOT_VO_* variables) while the VO runs.
    const [node, script, ...rest] = hint.split(" ");
    assert.equal(node, "node");
    const pasted = spawnSync(process.execPath, [script, ...rest], {
      cwd: ROOT,
      encoding: "utf8",
      env: cleanEnv(),
    });
    assert.equal(pasted.status, 0, pasted.stderr);
  } finally {
    child.kill("SIGKILL");
  }
});
