/**
 * The service package: how a service under the services directory says who it is.
 *
 * * A directory with a `service.json` (schema below, checked with ajv):
 *     { "id": "thermostat", "version": 3, "provider": "acme", "main": "index.js",
 *       "layers": ["sha256:…"], "description": "…", "alertRules": {…}, "quotas": {…} }
 *   `id` and `version` are required; `provider` defaults to "local", `main` to "index.js",
 *   `layers` to [].
 * * A single script `name.js` (or `.cjs`): id `name`, version 1, provider "local", no layers.
 *
 * The result maps onto a `services` row: id, version, serviceProvider, path (relative to the
 * services directory), layerList (the digests), alertRules, and the quotas' columns.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv from "ajv";
import { VoError } from "../errors";
import { ALERT_RULES_SCHEMA, describeSchemaErrors, parseAlertRules, type AlertRules } from "./alerts";
import { parseDigest } from "./layers-digest";
import { resolveInside } from "./paths";

export const SERVICE_DESCRIPTOR = "service.json";
export const SERVICE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
const SCRIPT_EXTENSIONS = [".js", ".cjs"];

export class PackageError extends VoError {
  constructor(message: string) {
    super(message, "SM_PACKAGE");
    this.name = "PackageError";
  }
}

const QUOTA = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/** The JSON schema of service.json. */
export const SERVICE_DESCRIPTOR_SCHEMA = {
  title: "node-wot-vo service.json",
  type: "object",
  additionalProperties: false,
  required: ["id", "version"],
  properties: {
    $schema: { type: "string" },
    id: {
      description: "Service id: letters, digits, '.', '_', '-'; starts with a letter or digit; at most 128",
      type: "string",
      pattern: SERVICE_ID_PATTERN,
    },
    version: {
      description: "Integer version (services.version); an update must raise it",
      type: "integer",
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
    },
    provider: {
      description: "Service provider (services.serviceProvider)",
      type: "string",
      minLength: 1,
      maxLength: 128,
    },
    main: { description: "Script to run, relative to the service directory", type: "string", minLength: 1 },
    description: { type: "string", maxLength: 1000 },
    layers: {
      description: "Digests of the layers the script may require from (services.layerList)",
      type: "array",
      uniqueItems: true,
      items: { type: "string", pattern: "^sha256:[0-9a-fA-F]{64}$" },
    },
    alertRules: ALERT_RULES_SCHEMA,
    quotas: {
      description: "Defaults for the services row's limit columns (bytes, bytes per second)",
      type: "object",
      additionalProperties: false,
      properties: {
        stateLimit: QUOTA,
        storageLimit: QUOTA,
        ulLimit: QUOTA,
        dlLimit: QUOTA,
        ulSpeed: QUOTA,
        dlSpeed: QUOTA,
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(SERVICE_DESCRIPTOR_SCHEMA);

export interface ServiceQuotas {
  stateLimit?: number;
  storageLimit?: number;
  ulLimit?: number;
  dlLimit?: number;
  ulSpeed?: number;
  dlSpeed?: number;
}

export interface ServicePackage {
  id: string;
  version: number;
  provider: string;
  description?: string;
  kind: "directory" | "script";
  /** As given: relative to the services directory (services.path). */
  path: string;
  /** Real path of the service directory; undefined for a single script (it may require no file). */
  dir?: string;
  /** Real path of the script to run. */
  main: string;
  /** Layer digests (services.layerList), lower case. */
  layers: string[];
  alertRules: AlertRules;
  quotas: ServiceQuotas;
}

/** service.json as written (before defaults). */
export interface ServiceDescriptor {
  id: string;
  version: number;
  provider?: string;
  main?: string;
  description?: string;
  layers?: string[];
  alertRules?: unknown;
  quotas?: ServiceQuotas;
}

/** Checks a service.json value; throws PackageError naming every problem. */
export function parseServiceDescriptor(value: unknown, source = SERVICE_DESCRIPTOR): ServiceDescriptor {
  if (!validate(value))
    throw new PackageError(
      `${source} is invalid:\n  - ${describeSchemaErrors(validate.errors, value).join("\n  - ")}\n` +
        '  expected e.g. {"id": "thermostat", "version": 1, "provider": "acme", "main": "index.js"}',
    );
  return value as ServiceDescriptor;
}

/**
 * Reads the service at `relative` (a directory with service.json, or a single script) below
 * `servicesDir`. The path and the main script must resolve inside (paths.ts rules).
 */
export function readServicePackage(servicesDir: string, relative: string): ServicePackage {
  const real = resolveInside(servicesDir, relative, "service path");
  const st = fs.statSync(real);
  if (st.isFile()) {
    const ext = path.extname(real);
    if (!SCRIPT_EXTENSIONS.includes(ext))
      throw new PackageError(
        `service '${relative}' is a ${ext || "extensionless"} file; a single-script service is a .js or ` +
          ".cjs file (or make it a directory with service.json)",
      );
    const id = path.basename(real, ext);
    if (!new RegExp(SERVICE_ID_PATTERN).test(id))
      throw new PackageError(
        `service '${relative}': '${id}' is not a valid service id (letters, digits, '.', '_', '-'); ` +
          "rename the file",
      );
    return {
      id,
      version: 1,
      provider: "local",
      kind: "script",
      path: relative,
      main: real,
      layers: [],
      alertRules: {},
      quotas: {},
    };
  }
  if (!st.isDirectory()) throw new PackageError(`service '${relative}' is neither a script nor a directory`);
  const descriptorFile = path.join(real, SERVICE_DESCRIPTOR);
  let text: string;
  try {
    text = fs.readFileSync(descriptorFile, "utf8");
  } catch (err) {
    throw new PackageError(
      (err as NodeJS.ErrnoException).code === "ENOENT"
        ? `service directory '${relative}' has no ${SERVICE_DESCRIPTOR}; add one with at least ` +
            '{"id": "...", "version": 1}'
        : `cannot read ${descriptorFile}: ${(err as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PackageError(`${relative}/${SERVICE_DESCRIPTOR} is not JSON: ${(err as Error).message}`);
  }
  const d = parseServiceDescriptor(json, `${relative}/${SERVICE_DESCRIPTOR}`);
  const mainRel = d.main ?? "index.js";
  let main: string;
  try {
    main = resolveInside(real, mainRel, `main script of '${d.id}'`);
  } catch (err) {
    throw new PackageError(`${relative}/${SERVICE_DESCRIPTOR}: ${(err as Error).message}`);
  }
  if (!fs.statSync(main).isFile() || !SCRIPT_EXTENSIONS.includes(path.extname(main)))
    throw new PackageError(`${relative}/${SERVICE_DESCRIPTOR}: main '${mainRel}' must be a .js or .cjs file`);
  return {
    id: d.id,
    version: d.version,
    provider: d.provider ?? "local",
    description: d.description,
    kind: "directory",
    path: relative,
    dir: real,
    main,
    layers: (d.layers ?? []).map((l) => parseDigest(l)),
    alertRules: parseAlertRules(d.alertRules ?? null),
    quotas: { ...d.quotas },
  };
}
