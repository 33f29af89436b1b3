/**
 * The options: one JSON schema with every default, validated by ajv; environment overrides; the
 * launcher's config file (JSON, or YAML); and the mapping of a vo-wot YAML descriptor.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv, { type ErrorObject } from "ajv";
import YAML from "yaml";
import { VoConfigError } from "./errors";
import { historySchema, type HistoryOptions } from "./store/options";
import { influxSchema, type InfluxOptions } from "./influx/options";
import { voSchema, type VoRoomOptions } from "./vo/options";
import { tdSchema, type TdRoomOptions } from "./td/options";
import { serviceManagerSchema, type ServiceManagerOptions } from "./service-manager/options";

export interface RecorderOptions {
  /** Record interactions at all. */
  enabled: boolean;
  /**
   * Globs over `<thing title>/<affordance name>` (also matched against the thing id). A record is
   * kept when it matches some `include` and no `exclude`. Example: `["*\/*"]`, `["Lamp/*"]`.
   */
  include: string[];
  exclude: string[];
  /** Values larger than this are stored as `{"$truncated":true,"bytes":n}`. */
  maxValueBytes: number;
  /** Values nested deeper than this (arrays / objects) are stored as `{"$tooDeep":true,…}`. */
  maxDepth: number;
  /** Request bodies larger than this are refused with 413 before they are read whole. */
  maxBodyBytes: number;
}

export interface SqliteOptions {
  /** SQLite file; default `<dataDir>/vo.sqlite`. */
  file?: string;
  synchronous: "normal" | "full";
  busyTimeoutMs: number;
}

export interface HttpOptions {
  port: number;
  /** Address the server binds to. */
  address: string;
  /** Host written into TD hrefs; default: `address` (or 127.0.0.1 when binding all interfaces). */
  staticAddress?: string;
  baseUri?: string;
  /** node-wot HTTP security schemes, e.g. `[{ "scheme": "basic" }]`. */
  security?: { scheme: "nosec" | "basic" | "bearer" }[];
}

export interface VoOptions {
  /** Name of this VO (vo-wot descriptor `name`). */
  name?: string;
  /** Directory for the SQLite file. */
  dataDir: string;
  sqlite: SqliteOptions;
  recorder: RecorderOptions;
  history: HistoryOptions;
  influxdb: InfluxOptions;
  td: TdRoomOptions;
  vo: VoRoomOptions;
  /** Launcher only: the HTTP server. */
  http: HttpOptions;
  /** Launcher only: Thing scripts to run, relative to the config file. */
  scripts: string[];
  /** Launcher only: port of a vo-wot style catalogue (`GET /` → `{title: "/path"}`), 0 = off. */
  catalogue: number;
  /** Launcher only: the browser dashboard at `/dashboard/` and Prometheus metrics at `/metrics`. */
  dashboard: { enabled: boolean; metrics: boolean };
  /** The service manager (docs/service-manager.md): its database, traffic monitor, Thing and services. */
  serviceManager: ServiceManagerOptions;
  /** node-wot credentials by thing id: `{ "<id>": { "username": "…", "password": "…" } | { "token": "…" } }`. */
  credentials: Record<string, { username?: string; password?: string; token?: string }>;
}

/** What callers may pass: any subset; the rest comes from the defaults. */
export type VoOptionsInput = DeepPartial<VoOptions>;
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

export const OPTIONS_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1 },
    dataDir: { type: "string", minLength: 1, default: "./data" },
    sqlite: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        file: { type: "string", minLength: 1 },
        synchronous: { enum: ["normal", "full"], default: "normal" },
        busyTimeoutMs: { type: "integer", minimum: 0, default: 5000 },
      },
    },
    recorder: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: true },
        include: { type: "array", items: { type: "string", minLength: 1 }, default: ["**"] },
        exclude: { type: "array", items: { type: "string", minLength: 1 }, default: [] },
        maxValueBytes: { type: "integer", minimum: 16, default: 1048576 },
        maxDepth: { type: "integer", minimum: 1, maximum: 512, default: 64 },
        maxBodyBytes: { type: "integer", minimum: 1024, default: 16777216 },
      },
    },
    history: historySchema,
    influxdb: influxSchema,
    td: tdSchema,
    vo: voSchema,
    http: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        port: { type: "integer", minimum: 0, maximum: 65535, default: 8080 },
        address: { type: "string", minLength: 1, default: "127.0.0.1" },
        staticAddress: { type: "string", minLength: 1 },
        baseUri: { type: "string", pattern: "^https?://" },
        security: {
          type: "array",
          items: {
            type: "object",
            required: ["scheme"],
            properties: { scheme: { enum: ["nosec", "basic", "bearer"] } },
          },
        },
      },
    },
    scripts: { type: "array", items: { type: "string", minLength: 1 }, default: [] },
    catalogue: { type: "integer", minimum: 0, maximum: 65535, default: 0 },
    dashboard: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: true },
        metrics: { type: "boolean", default: true },
      },
    },
    serviceManager: serviceManagerSchema,
    credentials: {
      type: "object",
      default: {},
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: { username: { type: "string" }, password: { type: "string" }, token: { type: "string" } },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(OPTIONS_SCHEMA);

/** Validates and completes options with the defaults. Throws VoConfigError naming every bad key. */
export function resolveOptions(input: unknown = {}, origin = "options"): VoOptions {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new VoConfigError(`${origin}: expected an object of options, got ${describe(input)}`);
  }
  const options = structuredClone(input) as Record<string, unknown>;
  if (!validate(options)) {
    const lines = (validate.errors ?? []).map((e) => formatError(e, options));
    throw new VoConfigError(`${origin} is invalid:\n  - ${[...new Set(lines)].join("\n  - ")}`);
  }
  const resolved = options as unknown as VoOptions;
  if (resolved.influxdb.enabled && resolved.influxdb.apiVersion === 2 && !resolved.influxdb.token) {
    throw new VoConfigError(
      `${origin} is invalid:\n  - influxdb.token is required when influxdb.enabled is true and apiVersion is 2 ` +
        "(set it in the config or in NODE_WOT_VO_INFLUX_TOKEN)",
    );
  }
  return resolved;
}

function formatError(e: ErrorObject, root: unknown): string {
  const at = e.instancePath === "" ? "" : e.instancePath.slice(1).replaceAll("/", ".");
  // Never echo a secret, even one given with the wrong type.
  const got = /(^|\.)(token|password)$/i.test(at)
    ? "a value (hidden)"
    : describe(at === "" ? root : lookup(root, e.instancePath));
  switch (e.keyword) {
    case "additionalProperties": {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(subSchemaAt(e.schemaPath)?.properties ?? {});
      return `unknown key '${at ? at + "." : ""}${key}'${known.length ? `; expected one of: ${known.join(", ")}` : ""}`;
    }
    case "enum":
      return `'${at}' must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}, got ${got}`;
    case "type":
      return `'${at || "(root)"}' must be ${(e.params as { type: string }).type}, got ${got}`;
    case "pattern":
      return `'${at}' must match ${(e.params as { pattern: string }).pattern} (e.g. http://host:port), got ${got}`;
    case "required":
      return `'${at ? at + "." : ""}${(e.params as { missingProperty: string }).missingProperty}' is required`;
    default:
      return `'${at || "(root)"}' ${e.message ?? "is invalid"}, got ${got}`;
  }
}

function subSchemaAt(schemaPath: string): { properties?: Record<string, unknown> } | undefined {
  // "#/properties/influxdb/additionalProperties" → the schema of influxdb
  const parts = schemaPath.replace(/^#\//, "").split("/").slice(0, -1);
  let node: unknown = OPTIONS_SCHEMA;
  for (const p of parts) node = (node as Record<string, unknown> | undefined)?.[p];
  return node as { properties?: Record<string, unknown> } | undefined;
}

function lookup(root: unknown, pointer: string): unknown {
  let node = root;
  for (const p of pointer.split("/").slice(1)) node = (node as Record<string, unknown> | undefined)?.[p];
  return node;
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}

// ---------------------------------------------------------------------------------------------
// Environment overrides

/** Environment variables that override the config (secrets never need to be in a file). */
export const ENVIRONMENT: Record<string, { path: string; type: "string" | "integer" | "boolean" }> = {
  NODE_WOT_VO_PORT: { path: "http.port", type: "integer" },
  NODE_WOT_VO_ADDRESS: { path: "http.address", type: "string" },
  NODE_WOT_VO_DATA_DIR: { path: "dataDir", type: "string" },
  NODE_WOT_VO_SQLITE_FILE: { path: "sqlite.file", type: "string" },
  NODE_WOT_VO_INFLUX_ENABLED: { path: "influxdb.enabled", type: "boolean" },
  NODE_WOT_VO_INFLUX_URL: { path: "influxdb.url", type: "string" },
  NODE_WOT_VO_INFLUX_TOKEN: { path: "influxdb.token", type: "string" },
  NODE_WOT_VO_INFLUX_USERNAME: { path: "influxdb.username", type: "string" },
  NODE_WOT_VO_INFLUX_PASSWORD: { path: "influxdb.password", type: "string" },
};

/** Returns a copy of `input` with the environment overrides applied (before validation). */
export function applyEnvironment(
  input: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const out = structuredClone(input);
  for (const [name, { path: keyPath, type }] of Object.entries(ENVIRONMENT)) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    let value: unknown = raw;
    if (type === "integer") {
      value = Number(raw);
      if (!Number.isInteger(value))
        throw new VoConfigError(`environment ${name} must be an integer, got '${raw}'`);
    } else if (type === "boolean") {
      if (!["true", "false", "1", "0"].includes(raw))
        throw new VoConfigError(`environment ${name} must be true or false, got '${raw}'`);
      value = raw === "true" || raw === "1";
    }
    setPath(out, keyPath, value);
  }
  return out;
}

function setPath(root: Record<string, unknown>, keyPath: string, value: unknown): void {
  const keys = keyPath.split(".");
  let node = root;
  for (const k of keys.slice(0, -1)) {
    if (node[k] === undefined || node[k] === null || typeof node[k] !== "object") node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

// ---------------------------------------------------------------------------------------------
// Config files

export interface LoadedConfig {
  options: VoOptions;
  /** Directory the script paths are relative to. */
  baseDir: string;
  /** Keys of a vo-wot descriptor that have no meaning here (reported, not fatal). */
  ignored: string[];
}

/** Top-level keys that only a vo-wot descriptor has. */
const DESCRIPTOR_KEYS = [
  "bindingNB",
  "bindingSB",
  "databaseConfig",
  "catalogue",
  "genericFunction",
  "periodicFunction",
  "proxy",
  "consumedVOs",
  "deploymentType",
  "resourceType",
  "type",
];

/** Reads a JSON (or YAML) config file, or a vo-wot YAML descriptor; applies the environment. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new VoConfigError(`cannot read config file '${file}': ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new VoConfigError(
      `config file '${file}' is not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"}: ${(err as Error).message}`,
    );
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new VoConfigError(`config file '${file}' must hold an object of options, got ${describe(data)}`);
  }
  let ignored: string[] = [];
  let input = data as Record<string, unknown>;
  if (Object.keys(input).some((k) => DESCRIPTOR_KEYS.includes(k))) {
    ({ options: input, ignored } = fromVoWotDescriptor(input));
  }
  const options = resolveOptions(applyEnvironment(input, env), `config file '${file}'`);
  return { options, baseDir: path.dirname(path.resolve(file)), ignored };
}

/** Options from the environment alone (no config file). */
export function configFromEnvironment(env: NodeJS.ProcessEnv = process.env): VoOptions {
  return resolveOptions(applyEnvironment({}, env), "options from the environment");
}

// ---------------------------------------------------------------------------------------------
// vo-wot descriptor

/** YAML `None` parses as the string "None" (vo-wot's own docs write it): treat it as absent. */
function present(v: unknown): v is string | number | boolean {
  return v !== undefined && v !== null && v !== "None" && v !== "";
}

/**
 * Maps a vo-wot descriptor (the YAML `vo-wot -f` reads) to our options. Keys with no counterpart
 * are returned in `ignored` so the launcher can say so.
 */
export function fromVoWotDescriptor(d: Record<string, unknown>): {
  options: Record<string, unknown>;
  ignored: string[];
} {
  const o: Record<string, unknown> = {};
  const ignored: string[] = [];
  const obj = (v: unknown): Record<string, unknown> =>
    v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  for (const key of Object.keys(d)) {
    if (
      ![
        "name",
        "catalogue",
        "bindingNB",
        "databaseConfig",
        "proxy",
        "type",
        "resourceType",
        "deploymentType",
      ].includes(key)
    ) {
      ignored.push(key);
    }
  }
  if (present(d.name)) o.name = String(d.name);
  if (present(d.catalogue)) o.catalogue = Number(d.catalogue);

  const nb = obj(d.bindingNB);
  const ports = obj(nb.ports);
  const http: Record<string, unknown> = {};
  if (present(ports.httpPort)) http.port = Number(ports.httpPort);
  if (present(nb.hostname)) http.staticAddress = String(nb.hostname);
  for (const key of Object.keys(nb))
    if (!["ports", "hostname", "bindingModeNB"].includes(key)) ignored.push(`bindingNB.${key}`);
  for (const key of Object.keys(ports)) if (key !== "httpPort") ignored.push(`bindingNB.ports.${key}`);
  if (Object.keys(http).length) o.http = http;

  const db = obj(d.databaseConfig);
  const persistent = obj(db.persistentDB);
  if (present(persistent.dbFilePath)) o.sqlite = { file: String(persistent.dbFilePath) };
  const ts = obj(db.timeseriesDB);
  if (Object.keys(ts).length) {
    const influx: Record<string, unknown> = {
      enabled: ts.influxDB === "enabled" || ts.influxDB === true,
      // vo-wot writes one bucket per property in org "wot" (hard-coded there): keep that layout.
      layout: "vo-wot",
      org: "wot",
      createBucket: true,
    };
    if (present(ts.address)) influx.url = String(ts.address);
    if (present(ts.dbToken)) influx.token = String(ts.dbToken);
    if (present(ts.dbUser)) influx.username = String(ts.dbUser);
    if (present(ts.dbPass)) influx.password = String(ts.dbPass);
    o.influxdb = influx;
  }
  const proxy = obj(d.proxy);
  if (Object.keys(proxy).length) ignored.push("proxy (use vo.device.mirror with the device's TD URL)");
  return { options: o, ignored };
}
export type { HistoryOptions };
