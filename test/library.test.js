// node-wot-vo used as a library (README "Use it in your own servient"): a servient built by hand,
// not by the launcher. Its TDs advertise the address it serves, its self-check finds it up, and
// the published typings compile in a strict consumer without skipLibCheck.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { attach } = require("../dist/index.js"); // first: it quiets node-wot's load-time warnings
const { Servient, Helpers } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { tempDir, waitFor } = require("./helpers/vo.js");

const ROOT = path.join(__dirname, "..");

/** The README's servient: an HttpServer bound to 127.0.0.1, the plugin attached, then start(). */
async function librarySevient(serverConfig, options = {}) {
  const servient = new Servient();
  const server = new HttpServer({ port: 0, address: "127.0.0.1", ...serverConfig });
  servient.addServer(server);
  attach(servient, {
    dataDir: tempDir(),
    vo: { selfCheck: { enabled: true, periodMs: 200, timeoutMs: 1000 } },
    ...options,
  });
  const wot = await servient.start();
  return { servient, server, wot, base: `http://127.0.0.1:${server.getPort()}` };
}

function hrefsOf(td) {
  return JSON.stringify(td)
    .match(/"href":"[^"]+"/g)
    .map((h) => h.slice(8, -1));
}

test("a library servient bound to 127.0.0.1 advertises 127.0.0.1 and its self-check finds the VO up", async (t) => {
  assert.equal(Helpers.getAddresses().includes("127.0.0.1"), false, "node-wot alone would not advertise it");
  const { servient, wot, base } = await librarySevient();
  t.after(() => servient.shutdown());
  const thing = await wot.produce({ title: "Lamp", properties: { on: { type: "boolean" } } });
  thing.setPropertyReadHandler("on", async () => true);
  await thing.expose();

  const td = await (await fetch(`${base}/lamp`)).json();
  const hrefs = hrefsOf(td);
  assert.ok(hrefs.length > 5);
  for (const h of hrefs) assert.ok(h.startsWith(`${base}/`), h);
  assert.equal(await (await fetch(td.properties.on.forms[0].href)).json(), true, "the href answers");

  await waitFor(() => servient.sqlite_db.voStatusHistory(10).length >= 1, { what: "a self-check row" });
  const status = await (await fetch(`${base}/lamp/properties/voStatus`)).json();
  assert.equal(status.vo.online, true, JSON.stringify(status));
  assert.ok(servient.sqlite_db.voStatusHistory(10).every((r) => r.status === 1));
});

test("attach() keeps a static address or baseUri the user chose, and node-wot's behaviour on wildcards", async (t) => {
  // baseUri: the user's, untouched.
  const proxied = await librarySevient(
    { baseUri: "http://vo.example:9999" },
    { vo: { selfCheck: { enabled: false } } },
  );
  t.after(() => proxied.servient.shutdown());
  const a = await proxied.wot.produce({ title: "Proxied", properties: { x: { type: "number" } } });
  await a.expose();
  const tdA = await (await fetch(`${proxied.base}/proxied`)).json();
  for (const h of hrefsOf(tdA)) assert.ok(h.startsWith("http://vo.example:9999/"), h);

  // A static address set with node-wot's API wins, even when set after start().
  Helpers.setStaticAddress("vo.internal");
  t.after(() => Helpers.setStaticAddress(undefined));
  const b = await proxied.wot.produce({ title: "Static", properties: { x: { type: "number" } } });
  await b.expose();
  const tdB = await (await fetch(`${proxied.base}/static`)).json();
  const bound = await librarySevient({}, { vo: { selfCheck: { enabled: false } } });
  t.after(() => bound.servient.shutdown());
  const c = await bound.wot.produce({ title: "Bound", properties: { x: { type: "number" } } });
  await c.expose();
  const tdC = await (await fetch(`${bound.base}/bound`)).json();
  for (const h of hrefsOf(tdB)) assert.ok(h.startsWith("http://vo.example:9999/"), `baseUri first: ${h}`);
  for (const h of hrefsOf(tdC)) assert.match(h, /^http:\/\/vo\.internal:\d+\//);
  Helpers.setStaticAddress(undefined);

  // A wildcard bind: node-wot lists the interfaces, as without the plugin.
  const wild = await librarySevient({ address: "0.0.0.0" }, { vo: { selfCheck: { enabled: false } } });
  t.after(() => wild.servient.shutdown());
  const d = await wild.wot.produce({ title: "Wild", properties: { x: { type: "number" } } });
  await d.expose();
  const tdD = await (await fetch(`${wild.base}/wild`)).json();
  const expected = Helpers.getAddresses().map((a) => `http://${a}:${wild.server.getPort()}/`);
  for (const h of hrefsOf(tdD))
    assert.ok(
      expected.some((e) => h.startsWith(e)),
      h,
    );
});

test("the published typings compile in a strict consumer with skipLibCheck false", () => {
  const dir = tempDir("nwv-consumer-");
  const tdTypes = path.dirname(
    require.resolve("wot-thing-description-types/package.json", {
      paths: [path.dirname(require.resolve("wot-typescript-definitions/package.json"))],
    }),
  );
  fs.writeFileSync(
    path.join(dir, "consumer.ts"),
    `import { Servient } from "@node-wot/core";
import { HttpServer } from "@node-wot/binding-http";
import { attach, type VoServient, type HistoryRow } from "node-wot-vo";

export async function main(): Promise<void> {
  const servient = new Servient();
  servient.addServer(new HttpServer({ port: 8080, address: "127.0.0.1" }));
  const vo: VoServient = attach(servient, { dataDir: "./data" });
  const wot = await servient.start();
  const thing = await wot.produce({ title: "Lamp", properties: { on: { type: "boolean" } } });
  const observers: string[] = servient.sqlite_db.listObservers();
  const viaThing: string[] = thing.servient.sqlite_db.listObservers();
  const rows: HistoryRow[] = vo.vo.history.query({ thingId: thing.getThingDescription().id, limit: 10 });
  const influx: boolean = wot.influxdb.status().configured;
  const sameServient: VoServient = wot.servient;
  console.log(observers, viaThing, rows, influx, sameServient === vo);
  await servient.shutdown();
}

// A node-wot script sees the global WoT.
export async function script(): Promise<string[]> {
  const thing = await WoT.produce({ title: "Script" });
  WoT.sqlite_db.executeQuery("SELECT 1");
  return thing.servient.sqlite_db.listObservers();
}
`,
  );
  // @node-wot/binding-http 0.9.2's typings import node-fetch v2, which has no types of its own
  // (nor a dependency on @types/node-fetch): strict consumers of HttpServer need this line
  // (README "Use it in your own servient"). node-wot-vo's own typings do not import binding-http.
  fs.writeFileSync(path.join(dir, "node-fetch.d.ts"), 'declare module "node-fetch";\n');
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "commonjs",
        moduleResolution: "node",
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ["node"],
        typeRoots: [path.join(ROOT, "node_modules", "@types")],
        baseUrl: ROOT,
        paths: {
          "node-wot-vo": [path.join(ROOT, "dist", "index.d.ts")],
          // npm ranks node-wot's "^1.1.0-12-March-2025" below the older "1.1.0-27-September-2021"
          // (prerelease tags compare as text) and may hoist the old one; node-wot's own typings need
          // the 2025 types. Point at the copy node-wot's typings were built with.
          "wot-thing-description-types": [tdTypes],
          "*": [path.join(ROOT, "node_modules", "*")],
        },
      },
      files: ["consumer.ts", "node-fetch.d.ts"],
    }),
  );
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", dir, "--noEmit", "--skipLibCheck", "false", "--strict"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
