// The service package: a directory with service.json (checked by a JSON schema, clear errors), or
// a single script whose file name is its id (version 1).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { readServicePackage, parseServiceDescriptor } = require("../dist/service-manager/package.js");

function services(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sm-package-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function serviceDir(root, name, descriptor, files = { "index.js": "// main\n" }) {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  if (descriptor !== undefined)
    fs.writeFileSync(
      path.join(dir, "service.json"),
      typeof descriptor === "string" ? descriptor : JSON.stringify(descriptor),
    );
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const LAYER = "sha256:" + "AB".repeat(32);

test("a directory with service.json: every field, defaults, and the services row it maps to", (t) => {
  const root = services(t);
  serviceDir(
    root,
    "thermo",
    {
      id: "thermostat",
      version: 3,
      provider: "acme",
      main: "src/run.cjs",
      description: "a thermostat",
      layers: [LAYER],
      alertRules: { inTraffic: { minTimeout: "30s", maxThreshold: 100 } },
      quotas: { stateLimit: 4096, storageLimit: 1 << 20, ulSpeed: 1000 },
    },
    { "src/run.cjs": "// run\n" },
  );
  const pkg = readServicePackage(root, "thermo");
  assert.deepEqual(pkg, {
    id: "thermostat",
    version: 3,
    provider: "acme",
    description: "a thermostat",
    kind: "directory",
    path: "thermo",
    dir: fs.realpathSync(path.join(root, "thermo")),
    main: fs.realpathSync(path.join(root, "thermo", "src", "run.cjs")),
    layers: [LAYER.toLowerCase()],
    alertRules: { inTraffic: { minTimeoutMs: 30_000, minThreshold: 100, maxThreshold: 100 } },
    quotas: { stateLimit: 4096, storageLimit: 1 << 20, ulSpeed: 1000 },
  });

  serviceDir(root, "minimal", { id: "minimal", version: 1 });
  const min = readServicePackage(root, "minimal");
  assert.equal(min.provider, "local");
  assert.equal(path.basename(min.main), "index.js");
  assert.deepEqual(min.layers, []);
  assert.deepEqual(min.alertRules, {});
});

test("a single script: id from its file name, version 1, no directory", (t) => {
  const root = services(t);
  fs.writeFileSync(path.join(root, "demo-counter.js"), "// counter\n");
  const pkg = readServicePackage(root, "demo-counter.js");
  assert.equal(pkg.id, "demo-counter");
  assert.equal(pkg.version, 1);
  assert.equal(pkg.provider, "local");
  assert.equal(pkg.kind, "script");
  assert.equal(pkg.dir, undefined, "a single script may require no file");
  assert.equal(pkg.main, fs.realpathSync(path.join(root, "demo-counter.js")));

  fs.writeFileSync(path.join(root, "notes.txt"), "");
  assert.throws(() => readServicePackage(root, "notes.txt"), {
    code: "SM_PACKAGE",
    message: /\.js or \.cjs/,
  });
  fs.writeFileSync(path.join(root, "bad id!.js"), "");
  assert.throws(() => readServicePackage(root, "bad id!.js"), {
    code: "SM_PACKAGE",
    message: /not a valid service id/,
  });
});

test("service.json errors say what is wrong and what was expected", (t) => {
  const root = services(t);
  const bad = (name, descriptor, pattern, files) => {
    serviceDir(root, name, descriptor, files);
    assert.throws(() => readServicePackage(root, name), { code: "SM_PACKAGE", message: pattern }, name);
  };
  bad("none", undefined, /has no service\.json; add one/);
  bad("notjson", "{ id: x }", /service\.json is not JSON/);
  bad("noid", { version: 1 }, /'id' is required in \(root\)/);
  bad("stringversion", { id: "a", version: "1" }, /version must be integer, got string "1"/);
  bad("zeroversion", { id: "a", version: 0 }, /version must be >= 1/);
  bad("badid", { id: "../a", version: 1 }, /id must match pattern/);
  bad("extra", { id: "a", version: 1, image: "x" }, /unknown key 'image' in \(root\)/);
  bad("badlayer", { id: "a", version: 1, layers: ["sha1:abc"] }, /layers\.0 must match pattern/);
  bad("duplayer", { id: "a", version: 1, layers: [LAYER, LAYER] }, /must NOT have duplicate items/);
  bad("badquota", { id: "a", version: 1, quotas: { stateLimit: -5 } }, /quotas\.stateLimit must be >= 0/);
  bad(
    "badrules",
    { id: "a", version: 1, alertRules: { inTraffic: {} } },
    /'maxThreshold' is required in alertRules\.inTraffic/,
  );
  bad("nomain", { id: "a", version: 1 }, /main script of 'a' 'index\.js' does not exist/, {});
  bad("escape", { id: "a", version: 1, main: "../escape/index.js" }, /contains '\.\.'/);
  bad("absmain", { id: "a", version: 1, main: "/etc/passwd" }, /is absolute/);
  bad("mjs", { id: "a", version: 1, main: "index.mjs" }, /must be a \.js or \.cjs file/, { "index.mjs": "" });
  // every problem at once, each on its own line
  assert.throws(
    () => parseServiceDescriptor({ version: "x", extra: 1 }),
    (err) => {
      assert.equal(err.message.split("\n  - ").length - 1, 3, err.message);
      assert.match(err.message, /expected e\.g\. \{"id"/);
      return true;
    },
  );
});

test("the service path itself follows the paths rules", (t) => {
  const root = services(t);
  assert.throws(() => readServicePackage(root, "../x"), { code: "SM_PATH" });
  assert.throws(() => readServicePackage(root, "/etc"), { code: "SM_PATH" });
  fs.symlinkSync(os.tmpdir(), path.join(root, "out"));
  assert.throws(() => readServicePackage(root, "out"), { code: "SM_PATH", message: /through a symlink/ });
});
