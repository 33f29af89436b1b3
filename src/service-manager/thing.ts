/**
 * The service-manager Thing: the store and the traffic monitor behind a Thing Description, so a
 * plain HTTP TD client can manage services, users lists, layers and traffic totals. Reads are
 * properties; every change is an action with an input schema, checked here (400 with what was
 * wrong), and allowed only when the integrator's `authorize(action)` does not throw.
 *
 * Errors are VoError subclasses: not-found (VO_NOT_FOUND, 404), duplicate (VO_DUPLICATE, 409), bad
 * input (VoInputError, 400), and whatever `authorize` throws (VO_FORBIDDEN 403, VO_UNAUTHORIZED
 * 401). node-wot 0.9.2 answers every handler error 500 by itself; the plugin's HTTP context turns
 * the codes into statuses when each error is passed through its `reject` (the `onError` option).
 * Every affordance carries the plugin's annotation (`vo:plugin`), so a servient with the plugin
 * attached runs their requests inside its HTTP context, bounds their input and does not record
 * them as device data.
 */
import Ajv, { type ValidateFunction } from "ajv";
import type * as WoT from "wot-typescript-definitions";
import { VoInputError, errorMessage } from "../errors";
import { jsonDeeperThan } from "../json-depth";
import {
  ALERT_RULES_SCHEMA,
  DEVICE_RESOURCES_SCHEMA,
  LAYER_LIST_SCHEMA,
  MAX_JSON_DEPTH,
  STATES,
  STATUSES,
  USERS_SCHEMA,
  describe,
  parseTimeInput,
} from "./codec";
import type { ServiceManagerStore } from "./store";
import type { TrafficChainView, TrafficMonitor } from "./traffic-monitor";
import type { Layer, NewService, Service, ServiceChanges, UsersService } from "./types";

/** The part of node-wot's `WoT` runtime (from `servient.start()`) the Thing needs. */
export interface WotRuntime {
  produce(init: WoT.ExposedThingInit): Promise<WoT.ExposedThing>;
}

/**
 * What runs services (manager.ts): with it the Thing gains the install / start / stop actions, and
 * updateService, removeService, addLayer and removeLayer act on the running services and the files,
 * not only on the database rows.
 */
export interface ServiceRuntimeActions {
  installService(input: { path: string; digest?: string }): Promise<Service>;
  /** Package update (stop old, start new, roll back on failure); path/digest undefined: re-read the current path. */
  updateServicePackage(input: { id: string; path?: string; digest?: string }): Promise<Service>;
  removeService(id: string): Promise<void>;
  startService(id: string): Promise<Service>;
  stopService(id: string): Promise<Service>;
  addLayer(input: { path: string; digest: string; layerId?: string; osVersion?: string }): Promise<Layer>;
  removeLayer(digest: string): Promise<void>;
  /** What the service rows show beyond the columns (traffic this period, things served). */
  serviceExtras(service: Service): Record<string, unknown>;
  /** Traffic totals this period (recorded into the history as the `trafficTotals` property). */
  trafficTotals(): Record<string, unknown>;
}

export interface ServiceManagerThingOptions {
  wot: WotRuntime;
  /** Runs services (manager.ts); without it the Thing manages the database only. */
  runtime?: ServiceRuntimeActions;
  store: ServiceManagerStore;
  traffic: TrafficMonitor;
  /**
   * Called with the action's name before every change; throws (a VoError with code VO_FORBIDDEN
   * or VO_UNAUTHORIZED) when the caller may not change things.
   */
  authorize: (action: string) => void;
  /**
   * Called with every error a handler throws; returns what to throw instead (default: the error).
   * Pass the plugin's `reject` from its HTTP context so the answer carries the error's status.
   */
  onError?: (err: unknown) => unknown;
  /** Default "ServiceManager". */
  title?: string;
  /** Longest action input read, in bytes. Default 1 MiB. */
  maxInputBytes?: number;
}

export const SERVICE_MANAGER_TITLE = "ServiceManager";
const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024;

/** The plugin's annotation on affordances it adds itself (PLUGIN_ANNOTATION in the public API). */
const PLUGIN = "vo:plugin";

const uintSchema = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const idSchema = { type: "string", minLength: 1 } as const;

/** Every service field in its JSON form (startAt as ISO 8601 text or null). */
const SERVICE_FIELDS = {
  id: { ...idSchema, description: "service ID" },
  version: uintSchema,
  serviceProvider: { type: "string" },
  path: { type: "string", description: "where the service's package lives" },
  unit: { type: "string", description: "the title of the Thing the service serves (its traffic chains)" },
  user: { type: "string" },
  hostname: { type: "string" },
  permissions: { type: "string" },
  state: { type: "string", enum: STATES },
  status: { type: "string", enum: STATUSES },
  statusMessage: { type: "string", description: 'why the status is "error"; "" when "ok"' },
  startAt: {
    oneOf: [{ type: "string", format: "date-time" }, { type: "null" }],
    description: "when the service was last started; null: never",
  },
  ttl: { ...uintSchema, description: "time to live in days" },
  alertRules: ALERT_RULES_SCHEMA,
  ulLimit: { ...uintSchema, description: "bytes per period the thing may send (uplink); 0: none" },
  dlLimit: { ...uintSchema, description: "bytes per period the thing may receive (downlink); 0: none" },
  ulSpeed: { ...uintSchema, description: "bytes per second the thing may send; 0: none" },
  dlSpeed: { ...uintSchema, description: "bytes per second the thing may receive; 0: none" },
  storageLimit: uintSchema,
  stateLimit: uintSchema,
  layerList: LAYER_LIST_SCHEMA,
  deviceResources: DEVICE_RESOURCES_SCHEMA,
};

const serviceSchema = { type: "object", properties: SERVICE_FIELDS };

const usersRowSchema = {
  type: "object",
  properties: {
    users: USERS_SCHEMA,
    serviceId: idSchema,
    storageFolder: { type: "string" },
    stateChecksum: { type: "string", description: "hex" },
  },
};

const layerFields = {
  digest: { ...idSchema, description: "the layer's content digest" },
  layerId: { type: "string" },
  path: { type: "string" },
  osVersion: { type: "string" },
};

const chainSchema = {
  type: "object",
  properties: {
    chain: { type: "string" },
    unit: { type: "string" },
    direction: { type: "string", enum: ["in", "out"] },
    value: { type: "integer", description: "bytes in the current period" },
    time: { type: "string", format: "date-time" },
    periodStart: { type: "string", format: "date-time" },
    periodEnd: { type: "string", format: "date-time" },
    limit: { type: "integer" },
    speed: { type: "integer" },
  },
};

const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});

const limitFields = {
  ulLimit: SERVICE_FIELDS.ulLimit,
  dlLimit: SERVICE_FIELDS.dlLimit,
  ulSpeed: SERVICE_FIELDS.ulSpeed,
  dlSpeed: SERVICE_FIELDS.dlSpeed,
};

/** Action name → [title, description, input schema, output schema or undefined]. */
const ACTIONS = {
  addService: [
    "Add service",
    "Adds a service; fields not given get their defaults. A taken id or unit is refused (409).",
    object(SERVICE_FIELDS, ["id"]),
    serviceSchema,
  ],
  updateService: [
    "Update service",
    "Changes the given fields of a service (404 when absent).",
    object(SERVICE_FIELDS, ["id"]),
    serviceSchema,
  ],
  removeService: [
    "Remove service",
    "Removes a service (404 when absent).",
    object({ id: idSchema }, ["id"]),
    undefined,
  ],
  setServiceState: [
    "Set service state",
    "Sets a service's state.",
    object({ id: idSchema, state: SERVICE_FIELDS.state }, ["id", "state"]),
    serviceSchema,
  ],
  setServiceStatus: [
    "Set service status",
    'Sets a service\'s status: "ok", or "error" with its message.',
    object({ id: idSchema, status: SERVICE_FIELDS.status, message: { type: "string" } }, ["id", "status"]),
    serviceSchema,
  ],
  setServiceLimits: [
    "Set service limits",
    "Changes a service's traffic limits and speeds; the traffic monitor applies them at once.",
    object({ id: idSchema, ...limitFields }, ["id"]),
    serviceSchema,
  ],
  addServiceToUsers: [
    "Add service to users",
    "Adds a service (which must exist) to a users list; a pair already there is refused (409).",
    object({ users: USERS_SCHEMA, serviceId: idSchema }, ["users", "serviceId"]),
    usersRowSchema,
  ],
  removeServiceFromUsers: [
    "Remove service from users",
    "Removes a service from a users list (404 when absent).",
    object({ users: USERS_SCHEMA, serviceId: idSchema }, ["users", "serviceId"]),
    undefined,
  ],
  setUsersStorageFolder: [
    "Set users storage folder",
    "Sets the storage folder of a service for a users list (404 when absent).",
    object({ users: USERS_SCHEMA, serviceId: idSchema, storageFolder: { type: "string" } }, [
      "users",
      "serviceId",
      "storageFolder",
    ]),
    usersRowSchema,
  ],
  addLayer: [
    "Add layer",
    "Adds a layer; a taken digest is refused (409).",
    object(layerFields, ["digest"]),
    { type: "object", properties: layerFields },
  ],
  removeLayer: [
    "Remove layer",
    "Removes a layer by digest (404 when absent).",
    object({ digest: layerFields.digest }, ["digest"]),
    undefined,
  ],
  setTrafficMonitorData: [
    "Set traffic monitor data",
    "Sets a chain's total for the current period (<unit>_IN, <unit>_OUT, SYSTEM_IN, SYSTEM_OUT); counting goes on from it.",
    object({ chain: { type: "string", pattern: "^.+_(IN|OUT)$" }, value: uintSchema }, ["chain", "value"]),
    chainSchema,
  ],
} as const;

const pathSchema = {
  type: "string",
  minLength: 1,
  maxLength: 4096,
  description: "relative to the services directory",
};
const digestSchema = { type: "string", pattern: "^sha256:[0-9a-f]{64}$" };

/** Actions offered only when the Thing has a service runtime (manager.ts). */
const RUNTIME_ACTIONS = {
  installService: [
    "Install service",
    "Registers the service package at `path` (a directory with service.json, or a single script, inside the services directory; verified against `digest` when given). State init: start it with startService.",
    object({ path: pathSchema, digest: digestSchema }, ["path"]),
    serviceSchema,
  ],
  startService: [
    "Start service",
    "Starts a service (state running). A script that fails leaves status error with the reason.",
    object({ id: idSchema }, ["id"]),
    serviceSchema,
  ],
  stopService: [
    "Stop service",
    "Stops a service (state stopped): its things are destroyed (404), its timers cleared.",
    object({ id: idSchema }, ["id"]),
    serviceSchema,
  ],
} as const;

/** With a runtime: updateService also takes `digest`, and `path`/`digest` (or `id` alone) update the package. */
const RUNTIME_UPDATE = [
  "Update service",
  "Changes the given fields of a service; with `path` and/or `digest` (or `id` alone) it updates the package: stops the old version, starts the new one (its version must not be lower), and rolls back to the old one when the new one fails (the failure is in the status).",
  object({ ...SERVICE_FIELDS, digest: digestSchema }, ["id"]),
  serviceSchema,
] as const;

const RUNTIME_ADD_LAYER = [
  "Add layer",
  "Installs the layer directory at `path` (inside the services directory) after verifying its `digest`; without `path` only the row is added. A taken digest is refused (409).",
  object({ ...layerFields, digest: digestSchema, path: pathSchema }, ["digest"]),
  { type: "object", properties: layerFields },
] as const;

type ActionName = keyof typeof ACTIONS | keyof typeof RUNTIME_ACTIONS;

const GUARD_NOTE = "Needs the servient's permission to change things (credentials, or loopback).";

/** The Thing's TD (before node-wot adds forms); `withRuntime`: the service runtime's affordances too. */
export function serviceManagerThingDescription(
  title = SERVICE_MANAGER_TITLE,
  withRuntime = false,
): WoT.ExposedThingInit {
  const readOnly = (description: string, schema: Record<string, unknown>, uriVariables?: unknown) => ({
    description,
    ...schema,
    readOnly: true,
    writeOnly: false,
    observable: false,
    ...(uriVariables ? { uriVariables } : {}),
    [PLUGIN]: true,
  });
  const actions: Record<string, unknown> = {};
  for (const [name, [actionTitle, description, input, output]] of Object.entries(actionTable(withRuntime))) {
    actions[name] = {
      title: actionTitle,
      description: `${description} ${GUARD_NOTE}`,
      input,
      ...(output ? { output } : {}),
      safe: false,
      idempotent: false,
      [PLUGIN]: true,
    };
  }
  const runtime = withRuntime ? runtimeAffordances() : { properties: {}, events: {} };
  return {
    title,
    description:
      "The service manager's database (services, users lists, layers, traffic totals) and its traffic monitor. Added by node-wot-vo.",
    properties: {
      ...runtime.properties,
      services: readOnly("Every service, by id.", { type: "array", items: serviceSchema }),
      service: readOnly("One service by its id (404 when absent).", serviceSchema, { id: idSchema }),
      users: readOnly("Every users-list row: which service runs for which users list.", {
        type: "array",
        items: usersRowSchema,
      }),
      layers: readOnly("Every installed layer, by digest.", {
        type: "array",
        items: { type: "object", properties: layerFields },
      }),
      traffic: readOnly(
        "Traffic chains with their totals in the current period, and per-unit counters since start.",
        {
          type: "object",
          properties: {
            chains: { type: "array", items: chainSchema },
            counters: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  unit: { type: "string" },
                  requests: { type: "integer" },
                  bytesIn: { type: "integer" },
                  bytesOut: { type: "integer" },
                  refused: { type: "integer" },
                },
              },
            },
          },
        },
      ),
    },
    actions,
    ...(withRuntime ? { events: runtime.events } : {}),
  } as WoT.ExposedThingInit;
}

type ActionEntry = readonly [string, string, Record<string, unknown>, Record<string, unknown> | undefined];

function actionTable(withRuntime: boolean): Record<string, ActionEntry> {
  if (!withRuntime) return ACTIONS as unknown as Record<string, ActionEntry>;
  return {
    ...(ACTIONS as unknown as Record<string, ActionEntry>),
    ...(RUNTIME_ACTIONS as unknown as Record<string, ActionEntry>),
    updateService: RUNTIME_UPDATE as unknown as ActionEntry,
    addLayer: RUNTIME_ADD_LAYER as unknown as ActionEntry,
  };
}

/**
 * The runtime's recorded affordances: no `vo:plugin` annotation, so the recorder keeps them in the
 * history (and ships them to InfluxDB) like any device's.
 */
function runtimeAffordances(): { properties: Record<string, unknown>; events: Record<string, unknown> } {
  return {
    properties: {
      trafficTotals: {
        description:
          "Traffic totals of the current period (bytes in and out, servient-wide and per unit); announced and recorded at every persist tick.",
        type: "object",
        properties: {
          in: { type: "integer" },
          out: { type: "integer" },
          units: { type: "string", description: "JSON object: unit → {in, out}" },
        },
        readOnly: true,
        writeOnly: false,
        observable: true,
      },
    },
    events: {
      alert: {
        description:
          "An alert rule of a service fired or cleared (alertRules: inTraffic, outTraffic, storage).",
        data: {
          type: "object",
          properties: {
            service: { type: "string" },
            resource: { type: "string" },
            kind: { type: "string", enum: ["fired", "cleared"] },
            value: { type: "number" },
            at: { type: "string" },
          },
        },
      },
      serviceEvent: {
        description:
          "Something happened to a service the manager did not ask for: its state folder changed since its last stop (stateMismatch), it failed (error), it went over a limit (limit), its TTL ran out (ttl).",
        data: {
          type: "object",
          properties: {
            service: { type: "string" },
            kind: { type: "string", enum: ["stateMismatch", "error", "limit", "ttl"] },
            message: { type: "string" },
          },
        },
      },
    },
  };
}

const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: false });
ajv.addFormat("date-time", {
  type: "string",
  validate: (s: string) => {
    try {
      parseTimeInput(s, "");
      return true;
    } catch {
      return false;
    }
  },
});
const compile = (withRuntime: boolean) =>
  new Map<ActionName, ValidateFunction>(
    Object.entries(actionTable(withRuntime)).map(([name, [, , input]]) => [
      name as ActionName,
      ajv.compile(input),
    ]),
  );
const validatorSets = { plain: compile(false), runtime: compile(true) };

/** Produces, wires and exposes the service-manager Thing; resolves the exposed thing. */
export async function exposeServiceManagerThing(
  options: ServiceManagerThingOptions,
): Promise<WoT.ExposedThing> {
  const { store, traffic, authorize } = options;
  const onError = options.onError ?? ((err: unknown) => err);
  const maxInputBytes = options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
  const runtime = options.runtime;
  const validators = runtime ? validatorSets.runtime : validatorSets.plain;
  const thing = await options.wot.produce(
    serviceManagerThingDescription(options.title, runtime !== undefined),
  );

  const read = (name: string, fn: (o?: WoT.InteractionOptions) => unknown) =>
    thing.setPropertyReadHandler(name, async (o) => {
      try {
        return fn(o) as WoT.InteractionInput;
      } catch (err) {
        throw onError(err);
      }
    });
  const serviceOut = (s: Service) => ({ ...serviceJson(s), ...runtime?.serviceExtras(s) });
  read("services", () => store.getServices().map(serviceOut));
  read("service", (o) => {
    const id = (o?.uriVariables as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string" || id === "")
      throw new VoInputError(
        `the service property needs the uriVariable 'id' (a service id), got ${describe(id)}`,
      );
    return serviceOut(store.getService(id));
  });
  read("users", () => store.getAllUsersServices().map(usersJson));
  read("layers", () => store.getLayers());
  read("traffic", () => {
    const refused = new Map(traffic.refusals().map((r) => [r.unit, r.requests]));
    return {
      chains: traffic.chains().map(chainJson),
      counters: traffic.counters().map((c) => ({ ...c, refused: refused.get(c.unit) ?? 0 })),
    };
  });

  const act = (name: ActionName, fn: (input: Record<string, unknown>) => unknown) =>
    thing.setActionHandler(name, async (params) => {
      try {
        authorize(name);
        const input = await inputOf(name, params, maxInputBytes, validators);
        const result = await fn(input);
        return (result === undefined ? undefined : result) as WoT.InteractionInput | undefined;
      } catch (err) {
        throw onError(err);
      }
    });
  act("addService", (i) => serviceJson(store.addService(serviceFromJson(i) as NewService)));
  act("updateService", async (i) => {
    const { id, digest, ...changes } = serviceFromJson(i);
    const { path, ...fields } = changes;
    if (!runtime) return serviceJson(store.updateService(id as string, changes as ServiceChanges));
    if (Object.keys(fields).length > 0) store.updateService(id as string, fields as ServiceChanges);
    if (path !== undefined || digest !== undefined || Object.keys(fields).length === 0)
      return serviceOut(
        await runtime.updateServicePackage({
          id: id as string,
          path: path as string | undefined,
          digest: digest as string | undefined,
        }),
      );
    return serviceOut(store.getService(id as string));
  });
  act("removeService", async (i) =>
    runtime ? void (await runtime.removeService(i.id as string)) : void store.removeService(i.id as string),
  );
  act("setServiceState", (i) => {
    store.setServiceState(i.id as string, i.state as Service["state"]);
    return serviceJson(store.getService(i.id as string));
  });
  act("setServiceStatus", (i) => {
    store.setServiceStatus(
      i.id as string,
      i.status as Service["status"],
      (i.message as string | undefined) ?? "",
    );
    return serviceJson(store.getService(i.id as string));
  });
  act("setServiceLimits", (i) => {
    const { id, ...limits } = i;
    return serviceJson(store.setServiceLimits(id as string, limits));
  });
  act("addServiceToUsers", (i) => {
    store.addServiceToUsers(i.users as string[], i.serviceId as string);
    return usersJson(store.getUsersService(i.users as string[], i.serviceId as string));
  });
  act(
    "removeServiceFromUsers",
    (i) => void store.removeServiceFromUsers(i.users as string[], i.serviceId as string),
  );
  act("setUsersStorageFolder", (i) => {
    store.setUsersStorageFolder(i.users as string[], i.serviceId as string, i.storageFolder as string);
    return usersJson(store.getUsersService(i.users as string[], i.serviceId as string));
  });
  act("addLayer", async (i) => {
    if (runtime && typeof i.path === "string")
      return runtime.addLayer(i as { path: string; digest: string; layerId?: string; osVersion?: string });
    const layer: Layer = {
      digest: i.digest as string,
      layerId: (i.layerId as string | undefined) ?? "",
      path: (i.path as string | undefined) ?? "",
      osVersion: (i.osVersion as string | undefined) ?? "",
    };
    store.addLayer(layer);
    return store.getLayer(layer.digest);
  });
  act("removeLayer", async (i) =>
    runtime
      ? void (await runtime.removeLayer(i.digest as string))
      : void store.deleteLayerByDigest(i.digest as string),
  );
  if (runtime) {
    act("installService", async (i) =>
      serviceOut(await runtime.installService(i as { path: string; digest?: string })),
    );
    act("startService", async (i) => serviceOut(await runtime.startService(i.id as string)));
    act("stopService", async (i) => serviceOut(await runtime.stopService(i.id as string)));
    thing.setPropertyReadHandler(
      "trafficTotals",
      async () => runtime.trafficTotals() as WoT.InteractionInput,
    );
  }
  act("setTrafficMonitorData", (i) => chainJson(traffic.setChainValue(i.chain as string, i.value as number)));

  await thing.expose();
  return thing;
}

/** The action's input: JSON, at most `maxBytes`, valid against the action's input schema. */
async function inputOf(
  name: ActionName,
  params: WoT.InteractionOutput,
  maxBytes: number,
  validators: Map<ActionName, ValidateFunction>,
): Promise<Record<string, unknown>> {
  const bytes = Buffer.from(await params.arrayBuffer());
  if (bytes.length > maxBytes)
    throw new VoInputError(`the input of ${name} is ${bytes.length} bytes; at most ${maxBytes} are read`);
  const text = bytes.toString("utf8");
  if (text.trim() === "") throw new VoInputError(`${name} needs a JSON object as input, got an empty body`);
  if (jsonDeeperThan(text, MAX_JSON_DEPTH + 2))
    throw new VoInputError(`the input of ${name} nests deeper than ${MAX_JSON_DEPTH + 2} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new VoInputError(`the input of ${name} is not JSON (${errorMessage(err)})`);
  }
  const validate = validators.get(name) as ValidateFunction;
  if (!validate(value))
    throw new VoInputError(
      `the input of ${name} does not match its schema: ${ajv.errorsText(validate.errors, { dataVar: "input" })}` +
        (validate.errors?.[0]?.keyword === "additionalProperties"
          ? ` (${JSON.stringify((validate.errors[0].params as { additionalProperty?: string }).additionalProperty)})`
          : ""),
    );
  return value as Record<string, unknown>;
}

function serviceFromJson(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...input };
  if (typeof input.startAt === "string") out.startAt = parseTimeInput(input.startAt, "startAt");
  return out;
}

function serviceJson(s: Service): Record<string, unknown> {
  return { ...s, startAt: s.startAt === null ? null : s.startAt.toISOString() };
}

function usersJson(u: UsersService): Record<string, unknown> {
  return { ...u, stateChecksum: u.stateChecksum.toString("hex") };
}

function chainJson(c: TrafficChainView): Record<string, unknown> {
  return {
    ...c,
    time: c.time.toISOString(),
    periodStart: c.periodStart.toISOString(),
    periodEnd: c.periodEnd.toISOString(),
  };
}
