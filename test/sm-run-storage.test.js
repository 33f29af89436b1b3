// Users and state (issue 10, item 5): a storage folder per (service, users), its checksum
// (recorded at stop, compared at the next start), its size, and the stateLimit/storageLimit check.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const {
  storageFolderName,
  prepareStorageFolder,
  removeStorageFolder,
  folderBytes,
  stateChecksum,
  compareStateChecksum,
  checkLimits,
} = require("../dist/service-manager/storage.js");

function tmp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sm-storage-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("one folder per (service, users list): stable, private, and refused for unsafe ids", async (t) => {
  const root = tmp(t);
  assert.equal(storageFolderName("svc", ["alice", "bob"]), storageFolderName("svc", ["alice", "bob"]));
  assert.notEqual(storageFolderName("svc", ["alice", "bob"]), storageFolderName("svc", ["bob", "alice"]));
  assert.notEqual(storageFolderName("svc", ["alice"]), storageFolderName("other", ["alice"]));
  assert.match(storageFolderName("svc", ["alice"]), /^svc\/[0-9a-f]{16}$/);
  for (const bad of ["../x", "/abs", "a/b", ""])
    assert.throws(() => storageFolderName(bad, []), { code: "SM_PATH" }, bad);

  const dir = await prepareStorageFolder(root, "svc", ["alice"]);
  assert.equal(dir, path.join(root, storageFolderName("svc", ["alice"])));
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(await prepareStorageFolder(root, "svc", ["alice"]), dir, "prepare is idempotent");

  await assert.rejects(removeStorageFolder(root, "../outside"), { code: "SM_PATH" });
  await assert.rejects(removeStorageFolder(root, "."), { code: "SM_PATH" });
  await removeStorageFolder(root, storageFolderName("svc", ["alice"]));
  assert.equal(fs.existsSync(dir), false);
});

test("the state checksum changes when a file changes, and only then", async (t) => {
  const dir = await prepareStorageFolder(tmp(t), "svc", ["alice"]);
  fs.writeFileSync(path.join(dir, "state.json"), '{"n":1}');
  fs.mkdirSync(path.join(dir, "cache"));
  fs.writeFileSync(path.join(dir, "cache", "a.bin"), Buffer.alloc(1000, 7));
  const first = await stateChecksum(dir);
  assert.equal(first.checksum.length, 32, "32 raw bytes for the BLOB column");
  assert.equal(first.bytes, 7 + 1000);
  assert.equal(compareStateChecksum(first.checksum, (await stateChecksum(dir)).checksum), "match");

  fs.utimesSync(path.join(dir, "state.json"), new Date(0), new Date(0));
  assert.equal(
    compareStateChecksum(first.checksum, (await stateChecksum(dir)).checksum),
    "match",
    "mtime counted",
  );

  fs.writeFileSync(path.join(dir, "state.json"), '{"n":2}');
  const changed = await stateChecksum(dir);
  assert.equal(compareStateChecksum(first.checksum, changed.checksum), "mismatch");
  assert.equal(compareStateChecksum(null, changed.checksum), "none");
  assert.equal(
    compareStateChecksum(Buffer.alloc(0), changed.checksum),
    "none",
    "a new users row holds an empty BLOB",
  );
  assert.equal(compareStateChecksum(new Uint8Array(changed.checksum), changed.checksum), "match");

  // A script may leave a symlink in its folder: hashed as its text, never followed, never fatal.
  fs.symlinkSync("/etc/passwd", path.join(dir, "link"));
  assert.notEqual(Buffer.compare((await stateChecksum(dir)).checksum, changed.checksum), 0);

  // A folder deleted behind the manager's back reads as empty, so the next start sees a mismatch.
  fs.rmSync(dir, { recursive: true });
  const gone = await stateChecksum(dir);
  assert.equal(gone.bytes, 0);
  assert.equal(compareStateChecksum(changed.checksum, gone.checksum), "mismatch");
});

test("folderBytes sums the regular files below a folder without reading them", async (t) => {
  const root = tmp(t);
  assert.equal(await folderBytes(path.join(root, "missing")), 0);
  const dir = path.join(root, "f");
  fs.mkdirSync(path.join(dir, "a", "b"), { recursive: true });
  let expected = 0;
  for (let i = 0; i < 50; i++) {
    const size = i * 37;
    fs.writeFileSync(path.join(dir, i % 2 ? "a" : path.join("a", "b"), `f${i}`), Buffer.alloc(size));
    expected += size;
  }
  fs.symlinkSync("/etc/passwd", path.join(dir, "link"));
  assert.equal(await folderBytes(dir), expected);
  assert.equal((await stateChecksum(dir)).bytes, expected);
});

test("checkLimits: over stateLimit (folder) or storageLimit (history) gives the stop reason; 0 means no limit", () => {
  assert.equal(checkLimits({ stateBytes: 100, historyBytes: 100 }, {}), undefined);
  assert.equal(
    checkLimits({ stateBytes: 100 }, { stateLimit: 100 }),
    undefined,
    "equal to the limit is within it",
  );
  assert.equal(checkLimits({ stateBytes: 10_000 }, { stateLimit: 0, storageLimit: null }), undefined);
  assert.deepEqual(checkLimits({ stateBytes: 101 }, { stateLimit: 100 }), {
    limit: "stateLimit",
    used: 101,
    max: 100,
    reason: "the storage folder uses 101 bytes, over its stateLimit of 100 bytes",
  });
  const history = checkLimits({ stateBytes: 1, historyBytes: 5000 }, { stateLimit: 100, storageLimit: 4096 });
  assert.equal(history.limit, "storageLimit");
  assert.match(history.reason, /recorded history uses 5000 bytes, over its storageLimit of 4096/);
  assert.equal(
    checkLimits({}, { stateLimit: 1, storageLimit: 1 }),
    undefined,
    "nothing measured, nothing over",
  );
});
