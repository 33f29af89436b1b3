/**
 * `node-wot-vo`: runs Thing scripts on a node-wot servient with the plugin attached.
 *
 *   node-wot-vo [--config file.json|descriptor.yaml] [--port N] [--data-dir DIR] [script.js ...]
 *   node-wot-vo history [--config file] [--data-dir DIR] [--thing T] [--kind K] [--name N]
 *                       [--from T] [--to T] [--order asc|desc] [--limit N]
 */
import "./node-wot/load-quietly";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import Module from "node:module";
import Database from "better-sqlite3";
import type { ExposedThing, Servient } from "@node-wot/core";
import { attach, type VoServient } from "./servient";
import { applyEnvironment, loadConfigFile, resolveOptions, type VoOptions } from "./config";
import { MIGRATIONS } from "./store/migrations";
import { HistoryStore, type SeriesInfo } from "./store/history";
import { setStaticAddress, uriHost } from "./node-wot/address";
import { createHttpServient } from "./node-wot/http-servient";
import { pathOfThing, thingsServedBy } from "./node-wot/http-server";
import { afterExpose } from "./node-wot/servient-hooks";
import { mountDashboard } from "./dashboard";
import { runAsScript } from "./service-manager";
import { VoError, VoInputError, errorMessage } from "./errors";
import type { AffordanceKind } from "./types";

export const HELP = `node-wot-vo — run WoT Thing scripts on a node-wot servient that remembers every interaction

Usage
  node-wot-vo [options] [script.js ...]     run Thing scripts (node-wot style, global WoT)
  node-wot-vo history [options]             print recorded interactions as JSON lines (read-only;
                                            safe while the VO runs)

Options
  -c, --config <file>     JSON config (docs/configuration.md), or a vo-wot YAML descriptor
  -p, --port <n>          HTTP port (default 8080; env NODE_WOT_VO_PORT)
  -d, --data-dir <dir>    directory of the SQLite file (default ./data; env NODE_WOT_VO_DATA_DIR)
      --address <ip>      address to bind (default 127.0.0.1; env NODE_WOT_VO_ADDRESS)
  -h, --help              this help
  -v, --version           the version

history options (the file is found from --config / --data-dir as above)
  --thing <title|id>              one thing (unknown: the known things are listed)
  --kind property|action|event    one kind of affordance
  --name <affordance>             one affordance (unknown: the thing's recorded names are listed)
  --from <time>  --to <time>      inclusive bounds: ms since the epoch or ISO 8601
                                  (2025-01-31T12:00:00Z)
  --order desc|asc                newest first (default) or oldest first
  --limit <n>                     at most n rows (default 20)

Scripts
  Scripts run as CommonJS modules with a global \`WoT\` (as node-wot's CLI gives them), so
  node-wot scripts run unchanged. The plugin's helpers are \`WoT.sqlite_db\`, \`WoT.influxdb\`,
  and \`thing.servient.sqlite_db\` on every produced thing. A script may also export an async
  function; it is called with { WoT, servient } and awaited. Script paths in a config file are
  relative to that file; on the command line, relative to the current directory.
  A script that is missing or throws (at load, or from its exported function) stops the
  launcher: the error is printed, what was recorded is committed, and it exits with code 2.

Shutdown
  SIGINT / SIGTERM: stop accepting requests, commit every pending record, close the file, exit 0.

Environment overrides: see docs/configuration.md. Logs: DEBUG=node-wot-vo* (or node-wot*).`;

interface Args {
  command: "run" | "history" | "help" | "version";
  config?: string;
  overrides: Record<string, unknown>;
  scripts: string[];
  history: HistoryArgs;
}

interface HistoryArgs {
  thing?: string;
  name?: string;
  kind?: string;
  from?: number;
  to?: number;
  order?: "asc" | "desc";
  limit: number;
}

const KINDS: readonly AffordanceKind[] = ["property", "action", "event"];

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
  const integer = (flag: string, min = 0): number => {
    const v = value(flag);
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min)
      throw new VoError(
        `${flag} must be an integer${min > 0 ? ` of at least ${min}` : " (0 or more)"}, got '${v}'`,
        "VO_USAGE",
      );
    return n;
  };
  const time = (flag: string): number => {
    const v = value(flag);
    const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new VoError(
        `${flag} must be milliseconds since the epoch or an ISO 8601 date (2025-01-31T12:00:00Z), got '${v}'`,
        "VO_USAGE",
      );
    return n;
  };
  const historyFlags: string[] = [];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (["--thing", "--name", "--kind", "--limit", "--from", "--to", "--order"].includes(arg))
      historyFlags.push(arg);
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
        args.history.limit = integer(arg, 1);
        break;
      case "--from":
        args.history.from = time(arg);
        break;
      case "--to":
        args.history.to = time(arg);
        break;
      case "--order": {
        const order = value(arg);
        if (order !== "asc" && order !== "desc")
          throw new VoError(`--order must be asc or desc, got '${order}'`, "VO_USAGE");
        args.history.order = order;
        break;
      }
      default:
        if (arg.startsWith("-")) throw new VoError(`unknown option '${arg}'; see --help`, "VO_USAGE");
        args.scripts.push(arg);
    }
  }
  if (args.command === "run" && historyFlags.length > 0)
    throw new VoError(
      `${historyFlags[0]} is an option of the history command: node-wot-vo history ${historyFlags[0]} …`,
      "VO_USAGE",
    );
  if (args.command === "history" && args.scripts.length > 0)
    throw new VoError(`history takes no script (got '${args.scripts[0]}'); see --help`, "VO_USAGE");
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
  // The launcher runs the service manager unless the config turns it off.
  const sm = (merged.serviceManager ?? {}) as Record<string, unknown>;
  if (sm.enabled === undefined) merged.serviceManager = { ...sm, enabled: true };
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
  // The configured static address is process-wide in node-wot; set it (or clear one a previous
  // startVo in this process left). The bound address itself is advertised by attach().
  setStaticAddress(options.http.staticAddress);

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
  const { servient, httpServer } = createHttpServient({
    port: options.http.port,
    address: options.http.address,
    baseUri: options.http.baseUri,
    security: options.http.security,
    middleware: listThings,
  });
  if (Object.keys(options.credentials).length > 0) servient.addCredentials(options.credentials);
  const vo = attach(servient, options);
  if (options.dashboard.enabled)
    mountDashboard(servient, vo.vo, {
      metrics: options.dashboard.metrics,
      // One count per request: the service manager's traffic monitor when it runs.
      traffic: vo.vo.serviceManager?.traffic,
    });
  // Known once the server listens; services the service manager restores during start() may be
  // listed before (GET /), so thingUrls() must not meet an uninitialised binding.
  let baseUrl = options.http.baseUri ?? "";
  const wot = await servient.start();
  const port = httpServer.getPort();
  baseUrl = options.http.baseUri ?? `http://${uriHost(advertised ?? "127.0.0.1")}:${port}`;

  function thingUrls(): string[] {
    const byPath = thingsServedBy(httpServer);
    if (byPath === undefined) return [];
    const first = new Map<ExposedThing, string>();
    for (const [p, thing] of byPath) if (!first.has(thing)) first.set(thing, p);
    return [...first.values()].map((p) => `${baseUrl}/${encodeURIComponent(p)}`);
  }

  afterExpose(servient, (thing) => {
    const url = thingUrls().find((u) =>
      u.endsWith("/" + encodeURIComponent(pathOfThing(httpServer, thing) ?? "")),
    );
    say(`exposed '${thing.title}' — TD at ${url ?? baseUrl}`);
  });

  let catalogue: http.Server | undefined;
  if (options.catalogue > 0)
    catalogue = await startCatalogue(servient, options.catalogue, options.http.address, () => thingUrls());

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (catalogue) await new Promise((resolve) => catalogue!.close(resolve));
      // Services stop (their checksums recorded) while the servient still has its things.
      await vo.vo.serviceManager?.stopAll();
      await servient.shutdown();
    })());

  const g = globalThis as { WoT?: unknown };
  g.WoT = wot;
  try {
    for (const script of scripts) await runScript(script, wot, vo);
  } catch (err) {
    // A VO without its script is not the VO that was asked for: commit what the scripts that did
    // run recorded, close the file, and let the caller exit.
    await stop().catch((e) => say(`shutdown after the script error failed too: ${errorMessage(e)}`));
    throw err;
  }
  return { servient: vo, wot, port, baseUrl, thingUrls, stop };
}

async function runScript(file: string, wot: typeof WoT, servient: VoServient): Promise<void> {
  const resolved = path.resolve(file);
  if (!fs.existsSync(resolved))
    throw new VoError(
      `script '${file}' not found (resolved to ${resolved}); give a path relative to the current ` +
        'directory (on the command line) or to the config file (in its "scripts")',
      "VO_SCRIPT",
    );
  if (resolved.endsWith(".ts")) registerTypeScript();
  try {
    // The things the script exposes are registered as services with path = the script.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- user scripts are CommonJS by design
    const exported = runAsScript(resolved, () => require(resolved));
    const fn =
      typeof exported === "function"
        ? exported
        : typeof exported?.default === "function"
          ? exported.default
          : undefined;
    if (fn) await runAsScript(resolved, () => fn({ WoT: wot, servient }));
  } catch (err) {
    const at = whereInScript(err, resolved);
    throw new VoError(`script '${file}' failed: ${errorMessage(err)}${at ? ` (${at})` : ""}`, "VO_SCRIPT");
  }
}

/**
 * The stack line a script author needs: the first frame in the script itself, else the first
 * frame outside node's internals, node_modules and this launcher. A SyntaxError from `require`
 * carries its location as the stack's first line instead.
 */
export function whereInScript(err: unknown, script: string): string | undefined {
  const stack = err instanceof Error && typeof err.stack === "string" ? err.stack : "";
  const lines = stack.split("\n");
  if (err instanceof SyntaxError && lines[0]?.startsWith(script + ":")) return `at ${lines[0]}`;
  const frames = lines.map((l) => l.trim()).filter((l) => l.startsWith("at "));
  return (
    frames.find((f) => f.includes(script)) ??
    frames.find((f) => !/\(node:|at node:|[\\/]node_modules[\\/]/.test(f) && !f.includes(__filename))
  );
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
    const send = (status: number, body: unknown) => {
      if (res.headersSent) return void res.end();
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    // Anything a client sends is answered; a handler that threw would take the whole VO down.
    try {
      const request = parseCatalogueRequest(req);
      if ("error" in request) return send(request.status, { error: request.error });
      const tds = Object.values(servient.getThings()) as { title: string; id: string }[];
      if (request.path === "") {
        if (request.expanded) return send(200, tds);
        const entries = urls().map((u) => decodeURIComponent(new URL(u).pathname.slice(1)));
        const listing: Record<string, string> = {};
        for (const td of tds) {
          const p = entries.find((e) => e === slugify(td.title)) ?? entries.find((e) => e === td.id);
          if (p) listing[td.title] = `/${encodeURIComponent(p)}`;
        }
        return send(200, listing);
      }
      const td = tds.find((t) => slugify(t.title) === request.path || t.id === request.path);
      return td
        ? send(200, td)
        : send(404, { error: `no thing at /${request.path}; GET / lists the things (title → path)` });
    } catch (err) {
      return send(500, { error: `catalogue failed: ${errorMessage(err)}` });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, resolve);
  });
  return server;
}

type CatalogueRequest = { path: string; expanded: boolean } | { status: number; error: string };

/** Method, path and query of a catalogue request, checked: bad ones become a 4xx with a reason. */
export function parseCatalogueRequest(req: { method?: string; url?: string }): CatalogueRequest {
  if (req.method !== "GET" && req.method !== "HEAD")
    return { status: 405, error: `the catalogue only answers GET, got ${req.method}` };
  const raw = req.url ?? "/";
  if (!raw.startsWith("/"))
    return { status: 400, error: "the request target must be a path starting with /" };
  const q = raw.indexOf("?");
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  let path: string;
  let query: URLSearchParams;
  try {
    path = decodeURIComponent(rawPath.slice(1));
    // URLSearchParams keeps malformed escapes as they are; decode each part to refuse them.
    const rawQuery = q < 0 ? "" : raw.slice(q + 1);
    for (const part of rawQuery.split(/[&=]/)) decodeURIComponent(part.replace(/\+/g, " "));
    query = new URLSearchParams(rawQuery);
  } catch {
    return {
      status: 400,
      error: "malformed percent-encoding in the path or query; encode paths with encodeURIComponent",
    };
  }
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(path))
    return { status: 400, error: "control characters in the path; GET / lists the thing paths" };
  const expanded = query.get("expanded");
  if (expanded !== null && expanded !== "true" && expanded !== "false")
    return { status: 400, error: `'expanded' must be true or false, got '${expanded.slice(0, 40)}'` };
  if (expanded !== null && path !== "") return { status: 400, error: "'expanded' applies to GET / only" };
  return { path, expanded: expanded === "true" };
}

function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/**
 * `node-wot-vo history`: reads the file read-only, so it is safe next to a running VO and never
 * changes a file (no migration, no WAL switch, no file created by a typo in --data-dir).
 */
function printHistory(options: VoOptions, h: HistoryArgs): void {
  const file = options.sqlite.file ?? path.join(options.dataDir, "vo.sqlite");
  if (!fs.existsSync(file))
    throw new VoError(
      `no history at ${file}: the file does not exist. Give the --config / --data-dir the VO runs ` +
        "with (the launcher prints this command with the right options when it starts)",
      "VO_NO_DATA",
    );
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: options.sqlite.busyTimeoutMs });
  } catch (err) {
    throw new VoError(`cannot open ${file} read-only: ${errorMessage(err)}`, "VO_SQLITE_OPEN");
  }
  try {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version < MIGRATIONS.length)
      throw new VoError(
        `${file} has schema version ${version}; this node-wot-vo reads version ${MIGRATIONS.length}. ` +
          "history never changes the file: start the VO (the launcher or attach()) once on it to " +
          "migrate it, then run history again",
        "VO_SCHEMA_OLDER",
      );
    if (version > MIGRATIONS.length)
      throw new VoError(
        `${file} has schema version ${version}, newer than this node-wot-vo knows ` +
          `(${MIGRATIONS.length}): run the history command of the node-wot-vo that wrote it`,
        "VO_SCHEMA_NEWER",
      );
    const store = new HistoryStore(db, { maxLimit: Number.MAX_SAFE_INTEGER });
    const kind = checkKind(h.kind);
    const things = thingsOf(store.series());
    const thing = h.thing === undefined ? undefined : findThing(things, h.thing);
    if (h.name !== undefined) checkName(store, thing, kind, h.name);
    const rows = store.query({
      ...thing?.filter,
      kind,
      name: h.name,
      from: h.from,
      to: h.to,
      order: h.order,
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

function checkKind(kind: string | undefined): AffordanceKind | undefined {
  if (kind === undefined || (KINDS as readonly string[]).includes(kind)) return kind as AffordanceKind;
  throw new VoInputError(`--kind must be one of ${KINDS.join(", ")}, got '${kind}'`);
}

/** One entry per recorded thing (id), with its latest title. */
function thingsOf(series: SeriesInfo[]): SeriesInfo[] {
  const byId = new Map<string, SeriesInfo>();
  for (const s of series) byId.set(s.thingId, s);
  return [...byId.values()];
}

interface ThingChoice {
  title: string;
  filter: { thingTitle: string } | { thingId: string };
}

/** --thing is a title (every thing with that title) or an id. */
function findThing(things: SeriesInfo[], wanted: string): ThingChoice {
  if (things.some((t) => t.thingTitle === wanted)) return { title: wanted, filter: { thingTitle: wanted } };
  const byId = things.find((t) => t.thingId === wanted);
  if (byId) return { title: byId.thingTitle, filter: { thingId: wanted } };
  const known = things.map((t) => `'${t.thingTitle}' (${t.thingId})`);
  throw new VoInputError(
    `no thing '${wanted}' in the history; known things: ${known.length ? known.join(", ") : "(none yet)"}. ` +
      "Give --thing a title or an id",
  );
}

function checkName(
  store: HistoryStore,
  thing: ThingChoice | undefined,
  kind: AffordanceKind | undefined,
  name: string,
): void {
  const scope = { ...thing?.filter, kind };
  if (store.series({ ...scope, name }).length > 0) return;
  const names = [...new Set(store.series(scope).map((s) => s.name))];
  const what = `${kind ?? "affordance"} named '${name}'`;
  throw new VoInputError(
    `${thing ? `'${thing.title}' has no recorded ${what}` : `no recorded ${what}`}; ` +
      `recorded names${thing ? "" : " (all things)"}: ${names.length ? names.join(", ") : "(none)"}`,
  );
}

/** The `history` command line that reads the file this VO writes, whatever set its location. */
function historyHint(bin: string, args: Args, options: VoOptions): string {
  const parts = [bin, "history"];
  if (args.config) parts.push("--config", shellQuote(args.config));
  // What the pasted command would get without this shell's environment and flags.
  let plain: VoOptions | undefined;
  try {
    plain = buildOptions({ ...args, overrides: {} }, {}).options;
  } catch {
    plain = undefined;
  }
  let prefix = "";
  if (options.sqlite.file !== undefined) {
    if (plain?.sqlite.file !== options.sqlite.file)
      prefix = `NODE_WOT_VO_SQLITE_FILE=${shellQuote(options.sqlite.file)} `;
  } else if (plain?.dataDir !== options.dataDir || plain?.sqlite.file !== undefined) {
    parts.push("--data-dir", shellQuote(options.dataDir));
  }
  return prefix + parts.join(" ") + " --limit 10";
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let args: Args;
  let started = false;
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
    started = true;
    const running = await startVo(options, scripts, say);
    say(
      `servient on ${running.baseUrl} — things listed at ${running.baseUrl}/ ; history in ${running.servient.vo.file}`,
    );
    if (options.dashboard.enabled) say(`dashboard at ${running.baseUrl}/dashboard/`);
    // Inside an installed package `npx node-wot-vo` finds the bin; in a checkout of this repo it
    // would look in the registry, so name the script that is running.
    const bin = __dirname.includes(`${path.sep}node_modules${path.sep}`)
      ? "npx node-wot-vo"
      : `node ${path.relative(process.cwd(), process.argv[1]) || process.argv[1]}`;
    say(`see the recorded history: ${historyHint(bin, args, options)}`);
    // The script's first thing, not the ServiceManager the launcher exposes beside it.
    const urls = running.thingUrls();
    const history = urls.find((u) => !u.endsWith("/servicemanager")) ?? urls[0];
    if (history && options.td.historyAffordances) {
      // With basic configured node-wot asks every request for the thing's credentials.
      const basic = options.http.security?.some((s) => s.scheme === "basic");
      say(
        `or over HTTP: curl -s${basic ? " -u USER:PASSWORD" : ""} '${history}/properties/history?limit=10'` +
          (basic ? " (http.security is basic: use the credentials configured for the thing)" : ""),
      );
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
    // After a start, the servient is already shut down (startVo committed and closed the file);
    // timers a failed script left behind must not keep the process alive.
    if (started) process.exit(2);
    process.exitCode = 2;
  }
}
