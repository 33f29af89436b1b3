// Layers (issue 10, item 4): identified by the SHA-256 tree digest of docs/service-manager.md —
// independent of file order and timestamps, changed by any byte, name, execute bit or directory;
// symlinks refused; a changed or missing layer refused with a clear status.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { createHash, randomBytes } = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const {
  treeDigest,
  treeEntries,
  layerDigest,
  verifyLayer,
  installLayer,
  resolveLayers,
  parseDigest,
  layerDirName,
} = require("../dist/service-manager/layers-digest.js");

function tmp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sm-layers-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` ({ "a/b.js": "text" }) below dir, in the order given. */
function write(dir, files) {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

const FILES = {
  "greeting.js": "module.exports = () => 'hi';\n",
  "units/package.json": '{ "main": "lib.js" }\n',
  "units/lib.js": "exports.k = 273.15;\n",
  "ü-nicode/ß.txt": "strasse\n",
  "empty.txt": "",
};

test("the digest follows the documented manifest rule exactly", async (t) => {
  const dir = write(path.join(tmp(t), "l"), { "b.txt": "B", "a/x.js": "X" });
  const h = (s) => createHash("sha256").update(s).digest("hex");
  const manifest =
    "nwvo-tree-v1\n" + `a\0d\x000\0\n` + `a/x.js\0f\x001\0${h("X")}\n` + `b.txt\0f\x001\0${h("B")}\n`;
  const expected = `sha256:${h(manifest)}`;
  const got = await treeDigest(dir, { symlinks: "refuse" });
  assert.equal(got.digest, expected);
  assert.equal(got.raw.toString("hex"), expected.slice(7));
  assert.equal(got.entries, 3);
  assert.equal(got.bytes, 2);
});

test("the digest does not depend on creation order or timestamps", async (t) => {
  const root = tmp(t);
  const a = write(path.join(root, "a"), FILES);
  const reversed = Object.fromEntries(Object.entries(FILES).reverse());
  const b = write(path.join(root, "b"), reversed);
  const past = new Date("2001-02-03T04:05:06Z");
  for (const rel of Object.keys(FILES)) fs.utimesSync(path.join(b, rel), past, past);
  const da = await layerDigest(a);
  assert.equal(await layerDigest(b), da, "creation order or mtimes changed the digest");
  // touch: only times change
  for (const rel of Object.keys(FILES)) fs.utimesSync(path.join(a, rel), new Date(), new Date());
  assert.equal(await layerDigest(a), da, "touching files changed the digest");
  // permission bits other than execute do not count
  fs.chmodSync(path.join(a, "greeting.js"), 0o600);
  assert.equal(await layerDigest(a), da);
});

test("the digest changes with a byte, a name, an execute bit, an added file or directory", async (t) => {
  const root = tmp(t);
  const base = await layerDigest(write(path.join(root, "base"), FILES));
  const variant = async (name, change) => {
    const dir = write(path.join(root, name), FILES);
    change(dir);
    const d = await layerDigest(dir);
    assert.notEqual(d, base, `${name} did not change the digest`);
    return d;
  };
  const seen = new Set([
    await variant("byte", (d) => fs.writeFileSync(path.join(d, "units/lib.js"), "exports.k = 273.16;\n")),
    await variant("rename", (d) => fs.renameSync(path.join(d, "greeting.js"), path.join(d, "greetings.js"))),
    await variant("exec", (d) => fs.chmodSync(path.join(d, "greeting.js"), 0o755)),
    await variant("added", (d) => fs.writeFileSync(path.join(d, "new.txt"), "")),
    await variant("emptydir", (d) => fs.mkdirSync(path.join(d, "nothing-here"))),
    await variant("moved", (d) => {
      fs.mkdirSync(path.join(d, "sub"));
      fs.renameSync(path.join(d, "empty.txt"), path.join(d, "sub", "empty.txt"));
    }),
  ]);
  assert.equal(seen.size, 6, "two different changes gave the same digest");
});

test("layers refuse symlinks (even ones that stay inside) and special files; storage hashes links as text", async (t) => {
  const root = tmp(t);
  const dir = write(path.join(root, "l"), FILES);
  fs.symlinkSync("greeting.js", path.join(dir, "alias.js"));
  await assert.rejects(layerDigest(dir), { code: "SM_LAYER_INVALID", message: /symlink at 'alias\.js'/ });

  // The "hash-target" rule hashes the link text and never follows it.
  const d1 = (await treeDigest(dir, { symlinks: "hash-target" })).digest;
  fs.writeFileSync(path.join(dir, "greeting.js"), "changed\n");
  const d2 = (await treeDigest(dir, { symlinks: "hash-target" })).digest;
  assert.notEqual(d1, d2, "the file itself changed");
  const entries = await treeEntries(dir, { symlinks: "hash-target" });
  const link = entries.find((e) => e.path === "alias.js");
  assert.deepEqual(link, {
    path: "alias.js",
    type: "l",
    size: "greeting.js".length,
    hash: createHash("sha256").update("greeting.js").digest("hex"),
  });
  fs.unlinkSync(path.join(dir, "alias.js"));
  fs.symlinkSync("/etc/passwd", path.join(dir, "alias.js"));
  assert.notEqual((await treeDigest(dir, { symlinks: "hash-target" })).digest, d2, "the link text changed");
});

test("verifyLayer: intact passes; a changed, extended or missing layer is refused with its status", async (t) => {
  const root = tmp(t);
  const dir = write(path.join(root, "l"), FILES);
  const digest = await layerDigest(dir);
  await verifyLayer(dir, digest);
  await verifyLayer(dir, digest.toUpperCase().replace("SHA256", "sha256")); // hex case does not matter

  fs.appendFileSync(path.join(dir, "greeting.js"), "// one more line\n");
  await assert.rejects(verifyLayer(dir, digest), {
    code: "SM_LAYER_MISMATCH",
    message: /no longer matches its digest.*install the layer again/,
  });
  await assert.rejects(verifyLayer(path.join(root, "gone"), digest), { code: "SM_LAYER_MISSING" });
  await assert.rejects(verifyLayer(dir, "md5:abc"), { code: "SM_DIGEST", message: /sha256:/ });
  assert.throws(() => parseDigest("sha256:" + "0".repeat(63)), { code: "SM_DIGEST" });
});

test("installLayer verifies before and after copying, is idempotent, and repairs a damaged copy", async (t) => {
  const root = tmp(t);
  const source = write(path.join(root, "src"), FILES);
  const layers = path.join(root, "layers");
  const digest = await layerDigest(source);

  const wrong = "sha256:" + "ab".repeat(32);
  await assert.rejects(installLayer(source, wrong, layers), {
    code: "SM_LAYER_MISMATCH",
    message: /refusing/,
  });
  assert.deepEqual(fs.existsSync(layers) ? fs.readdirSync(layers) : [], []);

  const dest = await installLayer(source, digest, layers);
  assert.equal(dest, path.join(layers, layerDirName(digest)));
  assert.match(path.basename(dest), /^sha256-[0-9a-f]{64}$/);
  assert.equal(await layerDigest(dest), digest);
  assert.equal(await installLayer(source, digest, layers), dest, "a second install is a no-op");

  fs.writeFileSync(path.join(dest, "greeting.js"), "tampered\n");
  assert.equal(await installLayer(source, digest, layers), dest);
  assert.equal(await layerDigest(dest), digest, "the damaged copy was not replaced");
  assert.deepEqual(fs.readdirSync(layers), [path.basename(dest)], "a temporary directory was left behind");

  const linked = write(path.join(root, "linked"), FILES);
  fs.symlinkSync("/etc", path.join(linked, "etc"));
  await assert.rejects(installLayer(linked, digest, layers), { code: "SM_LAYER_INVALID" });
});

test("resolveLayers: a service starts only with every layer installed and intact", async (t) => {
  const root = tmp(t);
  const layers = path.join(root, "layers");
  const a = await installLayer(
    write(path.join(root, "a"), FILES),
    await layerDigest(path.join(root, "a")),
    layers,
  );
  const b = await installLayer(
    write(path.join(root, "b"), { "x.js": "1" }),
    await layerDigest(path.join(root, "b")),
    layers,
  );
  const installed = new Map([
    [await layerDigest(a), a],
    [await layerDigest(b), b],
  ]);
  const [da, db] = installed.keys();
  assert.deepEqual(await resolveLayers([db, da], (d) => installed.get(d)), [b, a]);

  const unknown = "sha256:" + "cd".repeat(32);
  await assert.rejects(
    resolveLayers([da, unknown], (d) => installed.get(d)),
    {
      code: "SM_LAYER_MISSING",
      message: new RegExp(`layer ${unknown} is not installed`),
    },
  );
  fs.writeFileSync(path.join(b, "x.js"), "2");
  await assert.rejects(
    resolveLayers([da, db], (d) => installed.get(d)),
    { code: "SM_LAYER_MISMATCH" },
  );
  fs.rmSync(a, { recursive: true });
  await assert.rejects(
    resolveLayers([da], (d) => installed.get(d)),
    { code: "SM_LAYER_MISSING" },
  );
});

test("a large file is streamed and hashed like a small one", async (t) => {
  const dir = path.join(tmp(t), "big");
  fs.mkdirSync(dir);
  const big = randomBytes(3 * 1024 * 1024 + 7);
  fs.writeFileSync(path.join(dir, "blob.bin"), big);
  const [entry] = await treeEntries(dir, { symlinks: "refuse" });
  assert.equal(entry.size, big.length);
  assert.equal(entry.hash, createHash("sha256").update(big).digest("hex"));
});
