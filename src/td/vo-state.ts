/**
 * VO-state affordances: status of the VO and of its device, observers, redirect IPs and the device
 * IP (the seed's VO tables), readable by any TD client; changed through actions that validate the
 * addresses, refuse duplicates, and are guarded (credentials, or loopback only).
 */
import { authorizationMatches } from "../node-wot/authorization";
import type { ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import type { SqliteDb, StatusRow } from "../store/sqlite-db";
import { VoInputError } from "../errors";
import { DEVICE_CONNECTION, PLUGIN_ANNOTATION, VO_CONNECTION } from "../types";
import { currentRequest, guarded } from "../node-wot/request-context";
import { parseInput, sent, show } from "./history";
import type { TdHost, TdHostOptions } from "./host";

export const VO_STATUS = "voStatus";
export const VO_STATUS_HISTORY = "voStatusHistory";
export const DEVICE_STATUS_HISTORY = "deviceStatusHistory";
export const OBSERVERS = "observers";
export const REDIRECT_IPS = "redirectIps";
export const DEVICE_IP = "deviceIp";
export const ADD_OBSERVER = "addObserver";
export const REMOVE_OBSERVER = "removeObserver";
export const ADD_REDIRECT_IP = "addRedirectIp";
export const REMOVE_REDIRECT_IP = "removeRedirectIp";
export const SET_DEVICE_IP = "setDeviceIp";

const statusRow = {
  type: "object",
  properties: {
    id: { type: "integer" },
    time: { type: "integer", description: "ms since the epoch (second precision)" },
    at: { type: "string", format: "date-time" },
    online: { type: "boolean" },
  },
};

const statusNow = {
  type: "object",
  properties: {
    online: { oneOf: [{ type: "boolean" }, { type: "null" }], description: "null: not checked yet" },
    since: { oneOf: [{ type: "string" }, { type: "null" }], description: "when the current state began" },
    checkedAt: { oneOf: [{ type: "string" }, { type: "null" }], description: "last check" },
  },
};

const connectionEvent = (what: string) => ({
  title: `${what} connection`,
  description: `Emitted when the ${what.toLowerCase()} connection is lost or restored (state changes only). Added by node-wot-vo.`,
  data: {
    type: "object",
    properties: {
      state: { type: "string", enum: ["lost", "restored"] },
      online: { type: "boolean" },
      at: { type: "string", format: "date-time" },
      target: { type: "string", description: "what was checked" },
      error: { type: "string", description: "why the check failed (lost only)" },
    },
    required: ["state", "online", "at"],
  },
  [PLUGIN_ANNOTATION]: true,
  forms: [],
});

const addressInput = {
  type: "object",
  properties: {
    address: {
      type: "string",
      description:
        "IPv4 or IPv6 address with an optional port: 10.0.0.2, 10.0.0.2:8080, fd00::2, [fd00::2]:8080",
    },
  },
  required: ["address"],
};

const readOnly = (
  title: string,
  description: string,
  schema: Record<string, unknown>,
  uriVariables?: unknown,
) => ({
  title,
  description: `${description} Added by node-wot-vo.`,
  ...schema,
  readOnly: true,
  writeOnly: false,
  observable: false,
  ...(uriVariables ? { uriVariables } : {}),
  [PLUGIN_ANNOTATION]: true,
  forms: [],
});

const GUARD_NOTE =
  "Needs the thing's credentials when the servient has security configured; without credentials it is only offered to loopback clients.";

const changing = (title: string, description: string, output: Record<string, unknown>) => ({
  title,
  description: `${description} ${GUARD_NOTE} Added by node-wot-vo.`,
  input: addressInput,
  output,
  idempotent: false,
  safe: false,
  [PLUGIN_ANNOTATION]: true,
  forms: [],
});

const list = { type: "array", items: { type: "string" } };

export function voStateAffordances(
  options: TdHostOptions,
  limitMax: number,
): {
  properties: Record<string, unknown>;
  actions: Record<string, unknown>;
  events: Record<string, unknown>;
} {
  const limit = {
    limit: {
      type: "integer",
      minimum: 1,
      maximum: limitMax,
      default: 100,
      description: "most rows, newest first",
    },
  };
  const device = options.vo.device !== undefined;
  return {
    properties: {
      [VO_STATUS]: readOnly(
        "VO status",
        "Current state of the VO's self-check and of the device liveness check.",
        {
          type: "object",
          properties: {
            vo: { ...statusNow, properties: { ...statusNow.properties, selfCheck: { type: "boolean" } } },
            device: {
              ...statusNow,
              properties: {
                ...statusNow.properties,
                configured: { type: "boolean" },
                target: { type: "string" },
              },
            },
          },
        },
      ),
      [VO_STATUS_HISTORY]: readOnly(
        "VO status history",
        "Rows of the vo_status table (one per self-check), newest first.",
        { type: "array", items: statusRow },
        limit,
      ),
      ...(device
        ? {
            [DEVICE_STATUS_HISTORY]: readOnly(
              "Device status history",
              "Rows of the device_status table (one per liveness check), newest first.",
              { type: "array", items: statusRow },
              limit,
            ),
          }
        : {}),
      [OBSERVERS]: readOnly("Observers", "Addresses in the observer list.", list),
      [REDIRECT_IPS]: readOnly("Redirect IPs", "Addresses in the redirect IP list.", list),
      [DEVICE_IP]: readOnly(
        "Device IP",
        "The device's address (from the device configuration, or set by setDeviceIp).",
        {
          type: "object",
          properties: { address: { oneOf: [{ type: "string" }, { type: "null" }] } },
        },
      ),
    },
    actions: {
      [ADD_OBSERVER]: changing(
        "Add observer",
        "Adds an address to the observer list; duplicates are refused (409).",
        list,
      ),
      [REMOVE_OBSERVER]: changing(
        "Remove observer",
        "Removes an address from the observer list (404 when absent).",
        list,
      ),
      [ADD_REDIRECT_IP]: changing(
        "Add redirect IP",
        "Adds an address to the redirect IP list; duplicates are refused (409).",
        list,
      ),
      [REMOVE_REDIRECT_IP]: changing(
        "Remove redirect IP",
        "Removes an address from the redirect IP list (404 when absent).",
        list,
      ),
      [SET_DEVICE_IP]: changing(
        "Set device IP",
        "Sets the device's address (until the VO restarts with a device configuration).",
        {
          type: "object",
          properties: { address: { type: "string" } },
        },
      ),
    },
    events: {
      [VO_CONNECTION]: connectionEvent("VO"),
      ...(device ? { [DEVICE_CONNECTION]: connectionEvent("Device") } : {}),
    },
  };
}

/** SQLite CURRENT_TIMESTAMP (UTC `YYYY-MM-DD HH:MM:SS`) → ms since the epoch. */
export function sqliteTime(ts: string): number {
  return Date.parse(ts.replace(" ", "T") + "Z");
}

export function statusRows(rows: StatusRow[]) {
  return rows.map((r) => {
    const time = sqliteTime(r.timestamp);
    return { id: r.id, time, at: new Date(time).toISOString(), online: r.status === 1 };
  });
}

/** Current state from the newest rows: online, since when, last check. */
export function currentStatus(history: StatusRow[]): {
  online: boolean | null;
  since: string | null;
  checkedAt: string | null;
} {
  if (history.length === 0) return { online: null, since: null, checkedAt: null };
  const online = history[0].status === 1;
  let since = history[0];
  for (const row of history) {
    if ((row.status === 1) !== online) break;
    since = row;
  }
  const iso = (r: StatusRow) => new Date(sqliteTime(r.timestamp)).toISOString();
  return { online, since: iso(since), checkedAt: iso(history[0]) };
}

/**
 * Refuses a change unless the request is authenticated or comes from a loopback address:
 *  - the thing has a security scheme other than nosec: node-wot's HTTP server checked the
 *    credentials before the handler ran;
 *  - the thing is nosec but the servient has credentials for its id (with a single
 *    `http.security` scheme node-wot 0.9.2 still gives things nosec): the request must carry
 *    them, as HTTP Basic (username/password) or Bearer (token);
 *  - no credentials: only loopback clients may change the VO state.
 */
export function checkMayChange(thing: ExposedThing, servient: TdHost["servient"]): void {
  const defs = (thing.securityDefinitions ?? {}) as Record<string, { scheme?: string }>;
  const names = Array.isArray(thing.security) ? thing.security : [thing.security];
  const secured = names.some(
    (n) => typeof n === "string" && defs[n]?.scheme !== undefined && defs[n].scheme !== "nosec",
  );
  if (secured) return;
  const ctx = currentRequest();
  if (ctx === undefined) {
    throw new VoInputError(
      "changing the VO state is only offered over HTTP (from loopback, or with credentials); use servient.sqlite_db in scripts",
      "VO_FORBIDDEN",
    );
  }
  const credentials = (servient.retrieveCredentials(thing.id) ?? []) as {
    username?: string;
    password?: string;
    token?: string;
  }[];
  if (credentials.length > 0) {
    if (authorizationMatches(ctx.req.headers.authorization, credentials)) return;
    if (!ctx.res.headersSent) ctx.res.setHeader("WWW-Authenticate", `Basic realm="${thing.id}"`);
    throw new VoInputError(
      "changing the VO state needs this thing's credentials (HTTP Basic username/password or a Bearer token)",
      "VO_UNAUTHORIZED",
    );
  }
  const address = ctx.req.socket.remoteAddress;
  if (!isLoopback(address)) {
    throw new VoInputError(
      `changing the VO state from ${address ?? "an unknown address"} is refused: without credentials configured ` +
        "(http.security and credentials for this thing) these actions are only offered to loopback clients",
      "VO_FORBIDDEN",
    );
  }
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, "");
  return a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** The address in an action input: `{ "address": "…" }` or a bare JSON string. */
export async function addressOf(params: WoT.InteractionOutput): Promise<string> {
  const value = parseInput(Buffer.from(await params.arrayBuffer()), EXPECTED_ADDRESS);
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const address = Object.hasOwn(value, "address") ? (value as { address?: unknown }).address : undefined;
    if (typeof address === "string") return address;
  }
  throw new VoInputError(
    `expected ${EXPECTED_ADDRESS} as input, got ${value === undefined ? "an empty body" : show(value)}`,
  );
}

const EXPECTED_ADDRESS = '{"address": "<ip>[:port]"}';

/** Handlers of the VO-state affordances, over the seed tables. */
export function setVoStateHandlers(
  thing: ExposedThing,
  db: SqliteDb,
  options: TdHostOptions,
  servient: TdHost["servient"],
): void {
  const deviceTarget = options.vo.device?.tdUrl ?? options.vo.device?.address;
  const has = (kind: "properties" | "actions", name: string) =>
    (thing[kind] as Record<string, Record<string, unknown>>)[name]?.[PLUGIN_ANNOTATION] === true;
  const limitOf = (o?: WoT.InteractionOptions) => {
    const v = (o?.uriVariables as { limit?: unknown } | undefined)?.limit;
    if (v === undefined) return 100;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > 100_000)
      throw new VoInputError(`'limit' must be an integer from 1 to 100000, got ${sent(v, "limit")}`);
    return v;
  };
  const read = (name: string, fn: (o?: WoT.InteractionOptions) => unknown) => {
    if (has("properties", name)) thing.setPropertyReadHandler(name, guardedRead(fn));
  };
  read(VO_STATUS, () => ({
    vo: { ...currentStatus(db.voStatusHistory(1000)), selfCheck: options.vo.selfCheck.enabled },
    device: {
      ...currentStatus(db.deviceStatusHistory(1000)),
      configured: options.vo.device !== undefined,
      ...(deviceTarget ? { target: deviceTarget } : {}),
    },
  }));
  read(VO_STATUS_HISTORY, (o) => statusRows(db.voStatusHistory(limitOf(o))));
  read(DEVICE_STATUS_HISTORY, (o) => statusRows(db.deviceStatusHistory(limitOf(o))));
  read(OBSERVERS, () => db.listObservers());
  read(REDIRECT_IPS, () => db.listRedirectIps());
  read(DEVICE_IP, () => ({ address: db.getDeviceIp() ?? null }));

  const change = (name: string, fn: (address: string) => unknown) => {
    if (!has("actions", name)) return;
    thing.setActionHandler(
      name,
      guardedAction(async (params) => {
        checkMayChange(thing, servient);
        return fn(await addressOf(params)) as WoT.InteractionInput;
      }),
    );
  };
  change(ADD_OBSERVER, (a) => (db.addObserver(a), db.listObservers()));
  change(REMOVE_OBSERVER, (a) => {
    if (!db.removeObserver(a)) throw new VoInputError(`observer ${a} is not in the list`, "VO_NOT_FOUND");
    return db.listObservers();
  });
  change(ADD_REDIRECT_IP, (a) => (db.addRedirectIp(a), db.listRedirectIps()));
  change(REMOVE_REDIRECT_IP, (a) => {
    if (!db.removeRedirectIp(a))
      throw new VoInputError(`redirect IP ${a} is not in the list`, "VO_NOT_FOUND");
    return db.listRedirectIps();
  });
  change(SET_DEVICE_IP, (a) => ({ address: db.setDeviceIp(a) }));
}

function guardedRead(fn: (o?: WoT.InteractionOptions) => unknown): WoT.PropertyReadHandler {
  return (o) => guarded(() => fn(o) as WoT.InteractionInput);
}

function guardedAction(fn: WoT.ActionHandler): WoT.ActionHandler {
  return (params, o) => guarded(() => fn(params, o));
}
