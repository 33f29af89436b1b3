// Paths (issue 10, item 7): a service's or layer's path resolves inside its directory — no `..`,
// no absolute path, no symlink that leads out (real path checked) — and its digest is verified.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const {
  resolveInside,
  resolveServicePath,
  checkRelativePath,
  isInside,
} = require("../dist/service-manager/paths.js");
const { layerDigest } = require("../dist/service-manager/layers-digest.js");

function layout(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sm-paths-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const services = path.join(root, "services");
  fs.mkdirSync(path.join(services, "good", "lib"), { recursive: true });
  fs.writeFileSync(path.join(services, "good", "index.js"), "// good\n");
  fs.writeFileSync(path.join(services, "single.js"), "// single\n");
  fs.mkdirSync(path.join(root, "elsewhere"));
  fs.writeFileSync(path.join(root, "elsewhere", "index.js"), "// not a service\n");
  fs.symlinkSync(path.join(root, "elsewhere"), path.join(services, "link-out"));
  fs.symlinkSync("/etc/passwd", path.join(services, "passwd.js"));
  fs.symlinkSync("good", path.join(services, "link-in"));
  return { root, services };
}

test("'..', absolute paths, NUL and empty paths are refused before the file system is asked", (t) => {
  const { services } = layout(t);
  for (const bad of ["../elsewhere", "good/../../elsewhere", "good/..", "..\\elsewhere", "a/../good"]) {
    assert.throws(() => resolveInside(services, bad), { code: "SM_PATH", message: /contains '\.\.'/ }, bad);
  }
  for (const bad of ["/etc", "/etc/passwd", "C:\\Windows", "\\\\server\\share"]) {
    assert.throws(() => resolveInside(services, bad), { code: "SM_PATH", message: /is absolute/ }, bad);
  }
  assert.throws(() => resolveInside(services, "good\0.js"), { code: "SM_PATH", message: /NUL/ });
  assert.throws(() => resolveInside(services, ""), { code: "SM_PATH", message: /non-empty/ });
  assert.throws(() => resolveInside(services, "."), { code: "SM_PATH", message: /directory itself/ });
  assert.equal(checkRelativePath("./good//lib/"), "good/lib");
});

test("a symlink that leads outside the services directory is refused; one that stays inside is followed", (t) => {
  const { services } = layout(t);
  assert.throws(() => resolveInside(services, "link-out"), {
    code: "SM_PATH",
    message: /outside .* \(through a symlink\)/,
  });
  assert.throws(() => resolveInside(services, "link-out/index.js"), {
    code: "SM_PATH",
    message: /through a symlink/,
  });
  assert.throws(() => resolveInside(services, "passwd.js"), {
    code: "SM_PATH",
    message: /\/etc\/passwd, outside/,
  });
  assert.equal(resolveInside(services, "link-in"), fs.realpathSync(path.join(services, "good")));
  assert.equal(
    resolveInside(services, "good/index.js"),
    fs.realpathSync(path.join(services, "good", "index.js")),
  );
  assert.throws(() => resolveInside(services, "missing"), { code: "SM_PATH", message: /does not exist/ });
});

test("a services directory reached through a symlink still works (real paths on both sides)", (t) => {
  const { root, services } = layout(t);
  const alias = path.join(root, "alias");
  fs.symlinkSync(services, alias);
  assert.equal(resolveInside(alias, "good"), fs.realpathSync(path.join(services, "good")));
  assert.ok(isInside("/a/b", "/a/b/c") && !isInside("/a/b", "/a/bc") && !isInside("/a/b", "/a"));
});

test("resolveServicePath verifies a digest: tree digest for a directory, SHA-256 for a single script", async (t) => {
  const { services } = layout(t);
  const dirDigest = await layerDigest(path.join(services, "good"));
  const fileDigest = "sha256:" + createHash("sha256").update("// single\n").digest("hex");
  assert.equal(
    await resolveServicePath(services, "good", dirDigest),
    fs.realpathSync(path.join(services, "good")),
  );
  assert.equal(
    await resolveServicePath(services, "single.js", fileDigest),
    fs.realpathSync(path.join(services, "single.js")),
  );
  assert.equal(await resolveServicePath(services, "good"), fs.realpathSync(path.join(services, "good")));

  fs.appendFileSync(path.join(services, "good", "index.js"), "// changed\n");
  await assert.rejects(resolveServicePath(services, "good", dirDigest), {
    code: "SM_DIGEST_MISMATCH",
    message: /files changed since it was installed/,
  });
  await assert.rejects(resolveServicePath(services, "single.js", dirDigest), { code: "SM_DIGEST_MISMATCH" });
  await assert.rejects(resolveServicePath(services, "good", "not-a-digest"), { code: "SM_DIGEST" });
  await assert.rejects(resolveServicePath(services, "../services/good", dirDigest), { code: "SM_PATH" });
});
