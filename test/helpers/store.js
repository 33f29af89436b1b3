// Test helpers for the store on a real SQLite file: open one in a temp dir, build records, and
// collect what the store logs to stderr while something runs.
"use strict";
const path = require("node:path");
const { openDatabase } = require("../../dist/store/database.js");
const { HistoryStore } = require("../../dist/store/history.js");
const { tempDir } = require("./vo.js");

/** Opens (or creates) a SQLite file with a HistoryStore on it: { db, store, file }. */
function openStore(file = path.join(tempDir(), "vo.sqlite"), limits = {}) {
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: 1000 });
  return { db, store: new HistoryStore(db, limits), file };
}

/** A property write of thing T1 (`extra` overrides any field: op, source, time, …). */
const record = (name, value, extra = {}) => ({
  thingId: "urn:t1",
  thingTitle: "T1",
  kind: "property",
  name,
  op: "write",
  ok: true,
  valueJson: JSON.stringify(value),
  source: "http",
  ...extra,
});

/** Runs `fn` and collects what the process writes to stderr meanwhile: { value, log }. */
async function captureStderr(fn) {
  const lines = [];
  const write = process.stderr.write;
  process.stderr.write = function (chunk, ...rest) {
    lines.push(String(chunk));
    return write.call(this, chunk, ...rest);
  };
  try {
    return { value: await fn(), log: lines.join("") };
  } finally {
    process.stderr.write = write;
  }
}

module.exports = { openStore, record, captureStderr };
