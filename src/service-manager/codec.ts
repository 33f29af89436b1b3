/**
 * How values are stored: the TIMESTAMP encoding, the JSON text columns (validated on the way in
 * and on the way out), the INTEGER state and status codes, and the checks of plain fields.
 *
 * TIMESTAMP columns hold UTC ISO 8601 text with exactly three fraction digits and a `Z`, as
 * `Date.prototype.toISOString()` writes it: `2025-03-01T12:34:56.789Z`. It sorts as text, SQLite's
 * date functions read it, and a JavaScript `Date` (millisecond precision) round-trips exactly.
 * Anything else in such a column is refused when read, never guessed at.
 */
import Ajv, { type ValidateFunction } from "ajv";
import { VoInputError, errorMessage } from "../errors";
import { jsonDeeperThan } from "../json-depth";
import { SmCorruptValueError } from "./errors";
import type { DeviceResource, JsonValue, ServiceState, ServiceStatus } from "./types";

/** Longest JSON text a JSON column accepts (users list, layer list, device resources, alert rules). */
export const MAX_JSON_BYTES = 64 * 1024;
/** Deepest nesting a JSON column accepts. */
export const MAX_JSON_DEPTH = 16;

export const STATE_CODES: Readonly<Record<ServiceState, number>> = { init: 0, running: 1, stopped: 2 };
export const STATUS_CODES: Readonly<Record<ServiceStatus, number>> = { ok: 0, error: 1 };
export const STATES = Object.keys(STATE_CODES) as ServiceState[];
export const STATUSES = Object.keys(STATUS_CODES) as ServiceStatus[];

// JSON schemas of the JSON columns: used to validate, and offered in the Thing's TD.
export const USERS_SCHEMA = {
  type: "array",
  items: { type: "string" },
  description: "a users list: the users (claims) a service runs for, compared as a whole, in order",
} as const;

export const LAYER_LIST_SCHEMA = {
  type: "array",
  items: { type: "string", minLength: 1 },
  description: "layer paths, in the order a service's require() searches them",
} as const;

export const DEVICE_RESOURCES_SCHEMA = {
  type: "array",
  items: {
    oneOf: [
      { type: "string", minLength: 1 },
      {
        type: "object",
        properties: { name: { type: "string", minLength: 1 }, permissions: { type: "string" } },
        required: ["name"],
        additionalProperties: false,
      },
    ],
  },
  description: 'hardware resources: names, or {"name", "permissions"} objects',
} as const;

export const ALERT_RULES_SCHEMA = {
  oneOf: [{ type: "object" }, { type: "null" }],
  description: "alert rules (a JSON object), or null for none",
} as const;

const ajv = new Ajv({ strict: true, allowUnionTypes: true });
const validators = {
  users: ajv.compile(USERS_SCHEMA),
  layerList: ajv.compile(LAYER_LIST_SCHEMA),
  deviceResources: ajv.compile(DEVICE_RESOURCES_SCHEMA),
  alertRules: ajv.compile(ALERT_RULES_SCHEMA),
};
export type JsonColumn = keyof typeof validators;

const EXPECTED: Record<JsonColumn, string> = {
  users: "a JSON array of strings",
  layerList: "a JSON array of non-empty strings",
  deviceResources: 'a JSON array of names or {"name", "permissions"} objects',
  alertRules: "a JSON object, or null",
};

function schemaProblem(validate: ValidateFunction): string {
  return ajv.errorsText(validate.errors, { dataVar: "value" });
}

/** The JSON text to store for `value`, or a VoInputError that says what was wrong. */
export function encodeJson(column: JsonColumn, value: unknown, what: string): string | null {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new VoInputError(
      `${what} must be ${EXPECTED[column]}; it cannot be written as JSON: ${errorMessage(err)}`,
    );
  }
  if (text === undefined) throw new VoInputError(`${what} must be ${EXPECTED[column]}, got ${typeof value}`);
  checkSize(text, (problem) => new VoInputError(`${what} ${problem}`));
  // Validate what will be read back (JSON.stringify drops undefined, turns NaN into null…).
  const parsed = JSON.parse(text) as unknown;
  const validate = validators[column];
  if (!validate(parsed))
    throw new VoInputError(`${what} must be ${EXPECTED[column]}: ${schemaProblem(validate)}`);
  return parsed === null ? null : text;
}

/** The value of a stored JSON column, or an SmCorruptValueError that names the cell. */
export function decodeJson(column: "users", text: unknown, where: string): string[];
export function decodeJson(column: "layerList", text: unknown, where: string): string[];
export function decodeJson(column: "deviceResources", text: unknown, where: string): DeviceResource[];
export function decodeJson(
  column: "alertRules",
  text: unknown,
  where: string,
): { [key: string]: JsonValue } | null;
export function decodeJson(column: JsonColumn, text: unknown, where: string): unknown {
  // NULL is the seed schema's "no value": no rules, no layers, no resources.
  if (text === null || text === undefined) {
    if (column === "users") throw new SmCorruptValueError(`${where} is NULL; expected ${EXPECTED[column]}`);
    return column === "alertRules" ? null : [];
  }
  if (typeof text !== "string")
    throw new SmCorruptValueError(`${where} holds a ${typeof text}, not JSON text (${EXPECTED[column]})`);
  checkSize(text, (problem) => new SmCorruptValueError(`${where} ${problem}`));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SmCorruptValueError(
      `${where} is not valid JSON (${errorMessage(err)}): ${preview(text)}; expected ${EXPECTED[column]}`,
    );
  }
  // The original wrote a nil layer list as "null".
  if (value === null && (column === "layerList" || column === "deviceResources")) return [];
  const validate = validators[column];
  if (!validate(value))
    throw new SmCorruptValueError(
      `${where} holds ${preview(text)}, not ${EXPECTED[column]}: ${schemaProblem(validate)}`,
    );
  return value;
}

function checkSize(text: string, fail: (problem: string) => Error): void {
  if (text.length > MAX_JSON_BYTES)
    throw fail(`is ${text.length} characters of JSON; at most ${MAX_JSON_BYTES} are accepted`);
  if (jsonDeeperThan(text, MAX_JSON_DEPTH))
    throw fail(`nests deeper than ${MAX_JSON_DEPTH} levels; flatten it`);
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The stored text of a time: `YYYY-MM-DDTHH:MM:SS.mmmZ`, years 0000 to 9999. */
export function encodeTime(time: unknown, what: string): string {
  if (!(time instanceof Date) || Number.isNaN(time.getTime()))
    throw new VoInputError(`${what} must be a valid Date, got ${describe(time)}`);
  const text = time.toISOString();
  if (!ISO_UTC_MS.test(text))
    throw new VoInputError(`${what} must lie in the years 0000 to 9999, got ${text}`);
  return text;
}

/** The time in a TIMESTAMP cell; NULL gives null. Anything not in the encoding is refused. */
export function decodeTime(text: unknown, where: string): Date | null {
  if (text === null || text === undefined) return null;
  if (typeof text === "string" && ISO_UTC_MS.test(text)) {
    const time = new Date(text);
    // Refuses impossible dates (2025-02-30) that Date would roll over.
    if (!Number.isNaN(time.getTime()) && time.toISOString() === text) return time;
  }
  throw new SmCorruptValueError(
    `${where} holds ${describe(text)}, not a time in the file's encoding (UTC ISO 8601 "YYYY-MM-DDTHH:MM:SS.mmmZ")`,
  );
}

/** A time given as ISO 8601 text over HTTP (any offset, any precision up to ms) → Date. */
export function parseTimeInput(text: string, what: string): Date {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)
    ? Date.parse(text)
    : NaN;
  if (Number.isNaN(ms))
    throw new VoInputError(
      `${what} must be an ISO 8601 date-time such as 2025-03-01T12:00:00.000Z, got ${JSON.stringify(text)}`,
    );
  return new Date(ms);
}

/** A non-negative safe integer (the original's uint64 fields), or a VoInputError. */
export function uint(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new VoInputError(
      `${what} must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${describe(value)}`,
    );
  return value;
}

/** A string, or a VoInputError. */
export function text(value: unknown, what: string, nonEmpty = false): string {
  if (typeof value !== "string") throw new VoInputError(`${what} must be a string, got ${describe(value)}`);
  if (nonEmpty && value.length === 0) throw new VoInputError(`${what} must not be empty`);
  return value;
}

/** A stored INTEGER that must be a non-negative safe integer; NULL reads as 0. */
export function storedUint(value: unknown, where: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(value);
  throw new SmCorruptValueError(`${where} holds ${describe(value)}, not a non-negative integer`);
}

/** A stored TEXT; NULL reads as "". */
export function storedText(value: unknown, where: string): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  throw new SmCorruptValueError(`${where} holds ${describe(value)}, not text`);
}

export function stateOf(code: unknown, where: string): ServiceState {
  if (code === null || code === undefined) return "init";
  const state = STATES.find((s) => STATE_CODES[s] === code);
  if (state === undefined)
    throw new SmCorruptValueError(
      `${where} holds ${describe(code)}, not a state (0 init, 1 running, 2 stopped)`,
    );
  return state;
}

export function statusOf(code: unknown, where: string): ServiceStatus {
  if (code === null || code === undefined) return "ok";
  const status = STATUSES.find((s) => STATUS_CODES[s] === code);
  if (status === undefined)
    throw new SmCorruptValueError(`${where} holds ${describe(code)}, not a status (0 ok, 1 error)`);
  return status;
}

export function stateCode(state: unknown, what: string): number {
  if (typeof state !== "string" || !Object.hasOwn(STATE_CODES, state))
    throw new VoInputError(`${what} must be one of ${STATES.join(", ")}, got ${describe(state)}`);
  return STATE_CODES[state as ServiceState];
}

export function statusCode(status: unknown, what: string): number {
  if (typeof status !== "string" || !Object.hasOwn(STATUS_CODES, status))
    throw new VoInputError(`${what} must be one of ${STATUSES.join(", ")}, got ${describe(status)}`);
  return STATUS_CODES[status as ServiceStatus];
}

/** A short, safe description of a value for an error message. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "an invalid Date" : value.toISOString();
  if (typeof value === "bigint") return `${value}`;
  if (Buffer.isBuffer(value)) return `${value.length} bytes`;
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return typeof value;
    return json.length > 80 ? `${json.slice(0, 80)}…` : json;
  } catch {
    return typeof value;
  }
}
