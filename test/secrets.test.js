// Tokens and passwords never appear in logs, status or error messages.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { resolveOptions } = require("../dist/index.js");

test("InfluxDB secrets stay out of logs (DEBUG=*), status() and errors while everything fails", () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, "fixtures", "secrets-child.js")], {
    encoding: "utf8",
    env: { ...process.env, DEBUG: "*" },
    timeout: 60_000,
  });
  const all = r.stdout + r.stderr;
  assert.equal(r.status, 0, all.slice(-2000));
  assert.match(r.stdout, /status: /, "the fixture ran");
  assert.match(r.stdout, /error: /, "the queries failed");
  assert.ok(all.length > 1000, "debug logging was on");
  for (const secret of ["tok-SECRET-2", "pw-SECRET-1"])
    assert.equal(all.includes(secret), false, `${secret} leaked`);
});

test("config errors do not echo a secret given with the wrong type", () => {
  for (const input of [{ influxdb: { token: 987654321 } }, { influxdb: { password: 987654321 } }]) {
    assert.throws(
      () => resolveOptions(input),
      (err) => !err.message.includes("987654321") && /must be string/.test(err.message),
    );
  }
});
