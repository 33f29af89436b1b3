// Documentation that must not drift: every option documented, the README's two commands true.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const ROOT = path.join(__dirname, "..");

test("docs/configuration.md documents every option and is generated from the schema", () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, "tools", "config-doc.js"), "--check"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
});

test("the README shows the install+start command and the exact test command CI runs", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const ci = fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8");
  assert.match(readme, /^npm install && npm start/m);
  const testLine = ci
    .split("\n")
    .filter((l) => /^\s*(npm|node|npx|bash)\b.*test/.test(l))
    .pop()
    .trim();
  assert.equal(testLine, "npm test");
  assert.ok(readme.includes(testLine));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  assert.match(pkg.scripts.start, /things\/demo\.config\.json/);
  assert.equal(pkg.bin["node-wot-vo"], "bin/node-wot-vo.js");
});
