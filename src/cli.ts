/**
 * `node-wot-vo`: runs Thing scripts on a node-wot servient with the plugin attached.
 *
 *   node-wot-vo [--config file.json|descriptor.yaml] [--port N] [--data-dir DIR] [script.js ...]
 *   node-wot-vo history [--config file] [--data-dir DIR] [--thing T] [--name N] [--limit N]
 */
import "./quirks";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import Module from "node:module";
import { Servient, Helpers, type ExposedThing } from "@node-wot/core";
import { HttpServer, HttpClientFactory } from "@node-wot/binding-http";
import { attach, type VoServient } from "./servient";
import { applyEnvironment, loadConfigFile, resolveOptions, type VoOptions } from "./config";
import { openDatabase } from "./store/database";
import { HistoryStore } from "./store/history";
import { VoError, errorMessage } from "./errors";

export const HELP = `node-wot-vo — run WoT Thing scripts on a node-wot servient that remembers every interaction

Usage
  node-wot-vo [options] [script.js ...]     run Thing scripts (node-wot style, global WoT)
  node-wot-vo history [options]             print recorded interactions (newest first) as JSON lines

Options
  -c, --config <file>     JSON config (docs/configuration.md), or a vo-wot YAML descriptor
  -p, --port <n>          HTTP port (default 8080; env NODE_WOT_VO_PORT)
  -d, --data-dir <dir>    directory of the SQLite file (default ./data; env NODE_WOT_VO_DATA_DIR)
      --address <ip>      address to bind (default 127.0.0.1; env NODE_WOT_VO_ADDRESS)
  -h, --help              this help
  -v, --version           the version

history options
  --thing <title|id>  --name <affordance>  --kind property|action|event  --limit <n> (default 20)

Scripts
  Scripts run as CommonJS modules with a global \`WoT\` (as node-wot's CLI gives them), so
  node-wot scripts run unchanged. The plugin's helpers are \`WoT.sqlite_db\`, \`WoT.influxdb\`,
  and \`thing.servient.sqlite_db\` on every produced thing. A script may also export an async
  function; it is called with { WoT, servient } and awaited. Script paths in a config file are
  relative to that file; on the command line, relative to the current directory.

Shutdown
  SIGINT / SIGTERM: stop accepting requests, commit every pending record, close the file, exit 0.

Environment overrides: see docs/configuration.md. Logs: DEBUG=node-wot-vo* (or node-wot*).`;

interface Args {
  command: "run" | "history" | "help" | "version";
  config?: string;
  overrides: Record<string, unknown>;
  scripts: string[];
  history: { thing?: string; name?: string; kind?: string; limit: number };
}

export function parseArgs(argv: string[]): Args {
  const args: Args = { command: "run", overrides: {}, scripts: [], history: { limit: 20 } };
  const rest = [...argv];
  if (rest[0] === "history") {
    args.command = "history";
    rest.shift();
  }
  const value = (flag: string): string => {
    const v = rest.shift();
    if (v === undefined || v.startsWith("-"))
      throw new VoError(`${flag} needs a value; see --help`, "VO_USAGE");
    return v;
  };
  const integer = (flag: string): number => {
    const v = value(flag);
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new VoError(`${flag} must be a non-negative integer, got '${v}'`, "VO_USAGE");
    return n;
  };
  while (rest.length > 0) {
    const arg = rest.shift()!;
    switch (arg) {
      case "-h":
      case "--help":
        args.command = "help";
        break;
      case "-v":
      case "--version":
        args.command = "version";
        break;
      case "-c":
      case "--config":
        args.config = value(arg);
        break;
      case "-p":
      case "--port":
        setIn(args.overrides, ["http", "port"], integer(arg));
        break;
      case "-d":
      case "--data-dir":
        args.overrides.dataDir = value(arg);
        break;
      case "--address":
        setIn(args.overrides, ["http", "address"], value(arg));
        break;
      case "--thing":
        args.history.thing = value(arg);
        break;
      case "--name":
        args.history.name = value(arg);
        break;
      case "--kind":
        args.history.kind = value(arg);
        break;
      case "--limit":
        args.history.limit = integer(arg);
        break;
      default:
        if (arg.startsWith("-")) throw new VoError(`unknown option '${arg}'; see --help`, "VO_USAGE");
        args.scripts.push(arg);
    }
  }
  return args;
}

function setIn(root: Record<string, unknown>, keys: string[], v: unknown): void {
  let node = root;
  for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
  node[keys[keys.length - 1]] = v;
}

/** Config file (or none) + environment + command-line flags, validated once. */
export function buildOptions(
  args: Args,
  env: NodeJS.ProcessEnv = process.env,
): { options: VoOptions; baseDir: string; ignored: string[] } {
  let base: Record<string, unknown> = {};
  let baseDir = process.cwd();
  let ignored: string[] = [];
  if (args.config) {
    const loaded = loadConfigFile(args.config, env);
    base = loaded.options as unknown as Record<string, unknown>;
    baseDir = loaded.baseDir;
    ignored = loaded.ignored;
  } else {
    base = applyEnvironment({}, env);
  }
  const merged = deepMerge(base, args.overrides);
  return {
    options: resolveOptions(merged, args.config ? `config file '${args.config}'` : "options"),
    baseDir,
    ignored,
  };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      prev &&
      typeof prev === "object" &&
      !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** A running VO: the servient, its HTTP server, and a stop function. */
export interface RunningVo {
  servient: VoServient;
  wot: typeof WoT;
  port: number;
  baseUrl: string;
  /** URLs of the exposed things' TDs. */
  thingUrls(): string[];
  stop(): Promise<void>;
}

/**
 * Starts a servient from options: HTTP server, static address, plugin, `GET /` listing, optional
 * vo-wot catalogue; then runs the scripts. Used by the CLI and by tests.
 */
export async function startVo(
  options: VoOptions,
  scripts: string[] = [],
  say: (line: string) => void = () => undefined,
): Promise<RunningVo> {
  const wildcard = ["0.0.0.0", "::"].includes(options.http.address);
  const advertised = options.http.staticAddress ?? (wildcard ? undefined : options.http.address);
  if (advertised !== undefined) Helpers.setStaticAddress(advertised);

  const listThings = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    next: () => void,
  ): Promise<void> => {
    // node-wot 0.9.2 answers GET / with [] (issue #1171): list the things' TD URLs instead.
    const url = req.url ?? "/";
    if (req.method === "GET" && (url === "/" || url.startsWith("/?"))) {
      res.setHeader("Content-Type", "application/json");
      res.writeHead(200);
      res.end(JSON.stringify(thingUrls()));
      return;
    }
    next();
  };
  const httpServer = withoutPortEnvironment(
    () =>
      new HttpServer({
        port: options.http.port,
        address: options.http.address,
        baseUri: options.http.baseUri,
        security: options.http.security as never,
        middleware: listThings,
      }),
  );
  // node-wot 0.9.2 starts supportedSecuritySchemes as ["nosec"] even when `security` is given, so
  // things kept advertising nosec. Make "basic" the scheme things get when it is configured.
  // Not "bearer": 0.9.2's server compares it with "Bearer" and would refuse every request; with
  // bearer the plugin still guards its own state-changing actions (docs/node-wot-quirks.md).
  if (options.http.security?.some((s) => s.scheme === "basic")) {
    (httpServer as unknown as { supportedSecuritySchemes: string[] }).supportedSecuritySchemes = ["basic"];
  }
  const servient = new Servient();
  servient.addServer(httpServer);
  // The VO consumes its device (and scripts may consume other things) over HTTP.
  servient.addClientFactory(new HttpClientFactory());
  if (Object.keys(options.credentials).length > 0) servient.addCredentials(options.credentials);
  const vo = attach(servient, options);
  const wot = await servient.start();
  const port = httpServer.getPort();
  const host = advertised ?? "127.0.0.1";
  const baseUrl = options.http.baseUri ?? `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  function thingUrls(): string[] {
    // HttpServer keeps things by URL path (title slug and id) in a private map; read it here only.
    const byPath = (httpServer as unknown as { things?: Map<string, ExposedThing> }).things;
    if (!(byPath instanceof Map)) return [];
    const first = new Map<ExposedThing, string>();
    for (const [p, thing] of byPath) if (!first.has(thing)) first.set(thing, p);
    return [...first.values()].map((p) => `${baseUrl}/${encodeURIComponent(p)}`);
  }

  const expose = servient.expose.bind(servient);
  servient.expose = async (thing: ExposedThing) => {
    await expose(thing);
    const url = thingUrls().find((u) =>
      u.endsWith("/" + encodeURIComponent(slugOf(httpServer, thing) ?? "")),
    );
    say(`exposed '${thing.title}' — TD at ${url ?? baseUrl}`);
  };

  let catalogue: http.Server | undefined;
  if (options.catalogue > 0)
    catalogue = await startCatalogue(servient, options.catalogue, options.http.address, () => thingUrls());

  const g = globalThis as { WoT?: unknown };
  g.WoT = wot;
  for (const script of scripts) await runScript(script, wot, vo);

  let stopping: Promise<void> | undefined;
  return {
    servient: vo,
    wot,
    port,
    baseUrl,
    thingUrls,
    stop: () =>
      (stopping ??= (async () => {
        if (catalogue) await new Promise((resolve) => catalogue!.close(resolve));
        await servient.shutdown();
      })()),
  };
}

function slugOf(server: HttpServer, thing: ExposedThing): string | undefined {
  const byPath = (server as unknown as { things?: Map<string, ExposedThing> }).things;
  if (!(byPath instanceof Map)) return undefined;
  for (const [p, t] of byPath) if (t === thing) return p;
  return undefined;
}

/**
 * node-wot's HttpServer takes WOT_PORT / PORT from the environment over its config. Our launcher
 * already folded NODE_WOT_VO_PORT and the config into one port, so hide those two while it is built.
 */
function withoutPortEnvironment<T>(build: () => T): T {
  const saved = { WOT_PORT: process.env.WOT_PORT, PORT: process.env.PORT };
  delete process.env.WOT_PORT;
  delete process.env.PORT;
  try {
    return build();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}

async function runScript(file: string, wot: typeof WoT, servient: VoServient): Promise<void> {
  const resolved = path.resolve(file);
  if (!fs.existsSync(resolved))
    throw new VoError(`script '${file}' not found (resolved to ${resolved})`, "VO_SCRIPT");
  if (resolved.endsWith(".ts")) registerTypeScript();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- user scripts are CommonJS by design
  const exported = require(resolved);
  const fn =
    typeof exported === "function"
      ? exported
      : typeof exported?.default === "function"
        ? exported.default
        : undefined;
  if (fn) await fn({ WoT: wot, servient });
}

/** `.ts` scripts: transpile on require with the TypeScript compiler when it is installed. */
function registerTypeScript(): void {
  const extensions = (Module as unknown as { _extensions: Record<string, unknown> })._extensions;
  if (extensions[".ts"]) return;
  let ts: typeof import("typescript");
  try {
    ts = require("typescript");
  } catch {
    throw new VoError(
      "TypeScript scripts need the 'typescript' package: npm install typescript (or compile to .js)",
      "VO_SCRIPT",
    );
  }
  extensions[".ts"] = (module: { _compile(code: string, file: string): void }, filename: string) => {
    const source = fs.readFileSync(filename, "utf8");
    const out = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
      fileName: filename,
    });
    module._compile(out.outputText, filename);
  };
}

/** vo-wot's catalogue: `GET /` → `{ "<title>": "/<path>" }`, `GET /<path>` → the TD. */
async function startCatalogue(
  servient: Servient,
  port: number,
  address: string,
  urls: () => string[],
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const tds = Object.values(servient.getThings()) as { title: string; id: string }[];
    const entries = urls().map((u) => decodeURIComponent(new URL(u).pathname.slice(1)));
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/") {
      const listing: Record<string, string> = {};
      for (const td of tds) {
        const p = entries.find((e) => e === slugify(td.title)) ?? entries.find((e) => e === td.id);
        if (p) listing[td.title] = `/${encodeURIComponent(p)}`;
      }
      return send(200, url.searchParams.get("expanded") === "true" ? tds : listing);
    }
    const wanted = decodeURIComponent(url.pathname.slice(1));
    const td = tds.find((t) => slugify(t.title) === wanted || t.id === wanted);
    return td ? send(200, td) : send(404, { error: `no thing at ${url.pathname}` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, resolve);
  });
  return server;
}

function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

function printHistory(options: VoOptions, h: Args["history"]): void {
  const file = options.sqlite.file ?? path.join(options.dataDir, "vo.sqlite");
  if (!fs.existsSync(file)) throw new VoError(`no history yet: ${file} does not exist`, "VO_NO_DATA");
  const db = openDatabase({ file, synchronous: "normal", busyTimeoutMs: options.sqlite.busyTimeoutMs });
  try {
    const store = new HistoryStore(db, { maxLimit: 1_000_000 });
    const byTitle = h.thing !== undefined && store.series({ thingTitle: h.thing }).length > 0;
    const rows = store.query({
      thingId: h.thing !== undefined && !byTitle ? h.thing : undefined,
      thingTitle: byTitle ? h.thing : undefined,
      kind: h.kind as never,
      name: h.name,
      limit: h.limit,
    });
    for (const row of rows)
      process.stdout.write(
        JSON.stringify({ ...row, seriesId: undefined, time: new Date(row.time).toISOString() }) + "\n",
      );
  } finally {
    db.close();
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(argv);
    if (args.command === "help") return void console.log(HELP);
    if (args.command === "version") return void console.log(require("../package.json").version);
    const { options, baseDir, ignored } = buildOptions(args);
    if (ignored.length) console.warn(`node-wot-vo: descriptor keys not used here: ${ignored.join(", ")}`);
    if (args.command === "history") return printHistory(options, args.history);
    const scripts = [
      ...options.scripts.map((s) => path.resolve(baseDir, s)),
      ...args.scripts.map((s) => path.resolve(s)),
    ];
    if (scripts.length === 0 && !options.vo.device?.tdUrl)
      throw new VoError(
        'no Thing script to run: give script files, "scripts" in the config, or a device to mirror ' +
          "(vo.device.tdUrl); see --help",
        "VO_USAGE",
      );
    const say = (line: string) => console.log(`node-wot-vo: ${line}`);
    const running = await startVo(options, scripts, say);
    say(
      `servient on ${running.baseUrl} — things listed at ${running.baseUrl}/ ; history in ${running.servient.vo.file}`,
    );
    // Inside an installed package `npx node-wot-vo` finds the bin; in a checkout of this repo it
    // would look in the registry, so name the script that is running.
    const bin = __dirname.includes(`${path.sep}node_modules${path.sep}`)
      ? "npx node-wot-vo"
      : `node ${path.relative(process.cwd(), process.argv[1]) || process.argv[1]}`;
    say(
      `see the recorded history: ${bin} history${args.config ? ` --config ${args.config}` : ""} --limit 10`,
    );
    const history = running.thingUrls()[0];
    if (history && options.td.historyAffordances) {
      say(`or over HTTP: curl -s '${history}/properties/history?limit=10'`);
    }
    let signals = 0;
    const onSignal = (signal: string) => {
      if (++signals > 1) process.exit(1);
      say(`${signal}: committing pending records and shutting down`);
      running.stop().then(
        () => process.exit(0),
        (err) => {
          console.error(`node-wot-vo: shutdown failed: ${errorMessage(err)}`);
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));
  } catch (err) {
    console.error(`node-wot-vo: ${errorMessage(err)}`);
    process.exitCode = 2;
  }
}
