// CPU profiles of one phase of a benchmark (the inspector's sampling profiler, as `node --cpu-prof`
// takes them, but only around the part measured), and their top self-time functions.
// Also a command: `node bench/profile.js <file.cpuprofile> [n]` prints the top n of a profile.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const inspector = require("node:inspector");

function post(session, method, params = {}) {
  return new Promise((resolve, reject) =>
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

/** Runs `fn` under the profiler; writes `<dir>/<name>.cpuprofile`; returns fn's result. */
async function profiled(dir, name, fn) {
  const session = new inspector.Session();
  session.connect();
  await post(session, "Profiler.enable");
  await post(session, "Profiler.setSamplingInterval", { interval: 200 });
  await post(session, "Profiler.start");
  try {
    return await fn();
  } finally {
    const { profile } = await post(session, "Profiler.stop");
    session.disconnect();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

/** Top `n` functions by self time: [{ share (%), fn, where }]. */
function topSelf(profile, n = 15) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url ? `${url.split("/").slice(-2).join("/")}:${lineNumber + 1}` : "";
    const key = `${functionName || "(anonymous)"}\u0000${where}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length;
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, count]) => {
      const [fn, where] = key.split("\u0000");
      return { share: Number(((100 * count) / total).toFixed(1)), fn, where };
    });
}

module.exports = { profiled, topSelf };

if (require.main === module) {
  const [file, n = "20"] = process.argv.slice(2);
  for (const row of topSelf(JSON.parse(fs.readFileSync(file, "utf8")), Number(n))) {
    console.log(`${String(row.share).padStart(5)} %  ${row.fn}  ${row.where}`);
  }
}
