// Runs the device + VO pair: things/device-thermostat.js (a plain node-wot servient on :8081) and
// node-wot-vo with things/mirror-vo.config.json (the VO on :8080 mirroring the device).
//
//   npm run build && node things/mirror-pair.js
//
// Ctrl-C stops both. Stop only the device (kill the pid printed) to watch the VO report the outage
// and answer reads from its history; start it again with `node things/device-thermostat.js`.
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");

const root = path.join(__dirname, "..");
const children = [];

function run(name, args) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  const prefix = (line) => `[${name}] ${line}`;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream.on("data", (chunk) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop();
      for (const line of lines) if (!line.startsWith("unknown format")) console.log(prefix(line));
    });
  }
  child.on("exit", (code, signal) => console.log(prefix(`exited (${signal ?? code})`)));
  children.push(child);
  console.log(prefix(`pid ${child.pid}`));
  return child;
}

run("device", [path.join(__dirname, "device-thermostat.js")]);
run("vo", [
  path.join(root, "bin", "node-wot-vo.js"),
  "--config",
  path.join(__dirname, "mirror-vo.config.json"),
]);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on("exit", r)) : null))).then(
      () => process.exit(0),
    );
  });
}
