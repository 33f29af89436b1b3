// Test helper: the real launcher with the service manager, and a TD client that follows only the
// ServiceManager Thing's forms.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { launch, ROOT } = require("./launcher.js");
const { waitFor } = require("./vo.js");

const DEMO_SCRIPT = path.join(ROOT, "things", "demo-vo.js");

/** Writes a config into `dir` (dataDir = dir/data) and returns its path. */
function writeConfig(dir, extra = {}) {
  const config = {
    dataDir: path.join(dir, "data"),
    http: { port: 0, address: "127.0.0.1" },
    scripts: [DEMO_SCRIPT],
    dashboard: { enabled: false },
    ...extra,
    serviceManager: { persistIntervalMs: 200, checkIntervalMs: 200, ...extra.serviceManager },
  };
  const file = path.join(dir, "vo.json");
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Starts the launcher on a config; resolves { base, child, out, exited, stop(signal) }. */
async function start(configFile) {
  const l = launch(["--config", configFile]);
  const base = await waitFor(() => /servient on (http:\/\/127\.0\.0\.1:\d+)/.exec(l.out.stdout)?.[1], {
    what: `the launcher to print its URL (${configFile})`,
    timeoutMs: 20000,
  }).catch((err) => {
    l.child.kill("SIGKILL");
    err.message += ` (pid ${l.child.pid}, exit ${l.child.exitCode}, stdout: ${l.out.stdout} stderr: ${l.out.stderr})`;
    throw err;
  });
  const stop = async (signal = "SIGTERM") => {
    if (l.child.exitCode === null && l.child.signalCode === null) l.child.kill(signal);
    return l.exited;
  };
  return { base, ...l, stop };
}

/** The form of an affordance for JSON (the first), with its method. */
function form(affordance) {
  const f = affordance.forms.find((x) => (x.contentType ?? "application/json") === "application/json");
  return { href: f.href, method: f["htv:methodName"] };
}

/** Expands `{?a,b}` URI templates (RFC 6570 form-style query) with `vars`. */
function expand(href, vars = {}) {
  return href.replace(/\{\?([^}]+)\}/, (_, names) => {
    const parts = names
      .split(",")
      .filter((n) => vars[n] !== undefined)
      .map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(vars[n])}`);
    return parts.length ? `?${parts.join("&")}` : "";
  });
}

async function answer(r) {
  const text = await r.text();
  let body = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: r.status, body, text, headers: r.headers };
}

/** A TD client of the ServiceManager Thing: reads and invokes through its TD's forms only. */
async function smClient(base, headers = {}) {
  const list = await (await fetch(`${base}/`)).json();
  const url = list.find((u) => u.endsWith("/servicemanager"));
  if (!url) throw new Error(`no ServiceManager in ${JSON.stringify(list)}`);
  const td = await (await fetch(url)).json();
  return {
    td,
    read: async (name, vars) =>
      answer(await fetch(expand(form(td.properties[name]).href, vars), { headers })),
    invoke: async (name, input, extraHeaders = {}) => {
      const { href, method } = form(td.actions[name]);
      return answer(
        await fetch(expand(href), {
          method: method ?? "POST",
          headers: { "Content-Type": "application/json", ...headers, ...extraHeaders },
          body: JSON.stringify(input),
        }),
      );
    },
  };
}

module.exports = { DEMO_SCRIPT, writeConfig, start, smClient, answer, form, expand };
