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

export interface ServiceManagerThingOptions {
  wot: WotRuntime;
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

type ActionName = keyof typeof ACTIONS;

const GUARD_NOTE = "Needs the servient's permission to change things (credentials, or loopback).";

/** The Thing's TD (before node-wot adds forms). */
export function serviceManagerThingDescription(title = SERVICE_MANAGER_TITLE): WoT.ExposedThingInit {
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
  for (const [name, [actionTitle, description, input, output]] of Object.entries(ACTIONS)) {
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
  return {
    title,
    description:
      "The service manager's database (services, users lists, layers, traffic totals) and its traffic monitor. Added by node-wot-vo.",
    properties: {
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
  } as WoT.ExposedThingInit;
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
const validators = new Map<ActionName, ValidateFunction>(
  Object.entries(ACTIONS).map(([name, [, , input]]) => [name as ActionName, ajv.compile(input)]),
);

/** Produces, wires and exposes the service-manager Thing; resolves the exposed thing. */
export async function exposeServiceManagerThing(
  options: ServiceManagerThingOptions,
): Promise<WoT.ExposedThing> {
  const { store, traffic, authorize } = options;
  const onError = options.onError ?? ((err: unknown) => err);
  const maxInputBytes = options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
  const thing = await options.wot.produce(serviceManagerThingDescription(options.title));

  const read = (name: string, fn: (o?: WoT.InteractionOptions) => unknown) =>
    thing.setPropertyReadHandler(name, async (o) => {
      try {
        return fn(o) as WoT.InteractionInput;
      } catch (err) {
        throw onError(err);
      }
    });
  read("services", () => store.getServices().map(serviceJson));
  read("service", (o) => {
    const id = (o?.uriVariables as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string" || id === "")
      throw new VoInputError(
        `the service property needs the uriVariable 'id' (a service id), got ${describe(id)}`,
      );
    return serviceJson(store.getService(id));
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
        const input = await inputOf(name, params, maxInputBytes);
        const result = fn(input);
        return (result === undefined ? undefined : result) as WoT.InteractionInput | undefined;
      } catch (err) {
        throw onError(err);
      }
    });
  act("addService", (i) => serviceJson(store.addService(serviceFromJson(i) as NewService)));
  act("updateService", (i) => {
    const { id, ...changes } = serviceFromJson(i);
    return serviceJson(store.updateService(id as string, changes as ServiceChanges));
  });
  act("removeService", (i) => void store.removeService(i.id as string));
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
  act("addLayer", (i) => {
    const layer: Layer = {
      digest: i.digest as string,
      layerId: (i.layerId as string | undefined) ?? "",
      path: (i.path as string | undefined) ?? "",
      osVersion: (i.osVersion as string | undefined) ?? "",
    };
    store.addLayer(layer);
    return store.getLayer(layer.digest);
  });
  act("removeLayer", (i) => void store.deleteLayerByDigest(i.digest as string));
  act("setTrafficMonitorData", (i) => chainJson(traffic.setChainValue(i.chain as string, i.value as number)));

  await thing.expose();
  return thing;
}

/** The action's input: JSON, at most `maxBytes`, valid against the action's input schema. */
async function inputOf(
  name: ActionName,
  params: WoT.InteractionOutput,
  maxBytes: number,
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
