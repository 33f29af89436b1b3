/**
 * History affordances: what every exposed thing's TD gains so that an ordinary TD client can read
 * the recorded interactions of that thing.
 *
 *  - property `history{?name,kind,from,to,limit,order}`: recorded interactions, newest first;
 *  - property `historyAggregate{?name,kind,from,to,window,field,aggregate}`: fixed time windows with
 *    count / min / max / mean / first / last;
 *  - action `queryHistory`: the same two queries with a JSON body, for clients that prefer POST.
 *
 * Read-only properties with `uriVariables` because node-wot's HTTP binding routes GET only to
 * properties: the TD form `…/properties/history{?name,from,…}` expands to a plain GET URL.
 */
import type { ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import type { HistoryStore, AggregateWindow } from "../store/history";
import type { AffordanceKind, HistoryRow, JsonValue } from "../types";
import { VoInputError } from "../errors";
import { PLUGIN_ANNOTATION } from "../types";
import { RecordFilter } from "../recorder/filter";
import { jsonDeeperThan } from "../json-depth";
import { rawQueryValue } from "../node-wot/request-context";

export const HISTORY = "history";
export const HISTORY_AGGREGATE = "historyAggregate";
export const QUERY_HISTORY = "queryHistory";

const KINDS: AffordanceKind[] = ["property", "action", "event"];
const AGGREGATES = ["count", "min", "max", "mean", "first", "last"] as const;
type Aggregate = (typeof AGGREGATES)[number];

/** Parameters of a history query, as they arrive (uriVariables or action input). */
export interface HistoryParams {
  name?: unknown;
  kind?: unknown;
  from?: unknown;
  to?: unknown;
  limit?: unknown;
  order?: unknown;
  window?: unknown;
  field?: unknown;
  aggregate?: unknown;
}

const anyValue = { description: "JSON value as recorded" };
const nullableNumber = { oneOf: [{ type: "number" }, { type: "null" }] };

const rowSchema = {
  type: "object",
  properties: {
    id: { type: "integer", description: "insertion order in the VO's store" },
    time: { type: "integer", description: "milliseconds since the epoch" },
    at: { type: "string", format: "date-time" },
    kind: { type: "string", enum: KINDS },
    name: { type: "string" },
    op: {
      type: "string",
      enum: ["write", "change", "invoke", "emit", "point"],
      description:
        "write: a client wrote the property; change: the thing announced a new value (or the VO read it from the device); invoke: an action ran; emit: an event was emitted",
    },
    ok: { type: "boolean" },
    value: { ...anyValue, description: "property value, action input or event data" },
    output: { ...anyValue, description: "action output" },
    error: { type: "string" },
    durationMs: { type: "number" },
    source: { type: "string", description: "binding scheme of the interaction, or 'local'" },
  },
  required: ["time", "kind", "name", "op", "ok"],
};

const windowSchema = {
  type: "object",
  properties: {
    start: { type: "integer", description: "window start, ms since the epoch (inclusive)" },
    end: { type: "integer", description: "window end, ms since the epoch (exclusive)" },
    count: { type: "integer" },
    min: nullableNumber,
    max: nullableNumber,
    mean: nullableNumber,
    first: anyValue,
    last: anyValue,
    value: { ...anyValue, description: "the one aggregate asked for with 'aggregate'" },
  },
  required: ["start", "end", "count"],
};

function variables(thing: ExposedThing, limits: HistoryStore["limits"]) {
  return {
    name: {
      type: "string",
      ...nameEnum(recordedNames(thing)),
      description: "affordance whose history to read; all affordances of the thing when absent",
    },
    kind: { type: "string", enum: KINDS, description: "property, action or event" },
    from: { type: "integer", minimum: 0, description: "start of the range, ms since the epoch (inclusive)" },
    to: { type: "integer", minimum: 0, description: "end of the range, ms since the epoch (inclusive)" },
    limit: {
      type: "integer",
      minimum: 1,
      maximum: limits.maxLimit,
      default: limits.defaultLimit,
      description: `most rows returned (default ${limits.defaultLimit}, at most ${limits.maxLimit})`,
    },
    order: { type: "string", enum: ["desc", "asc"], default: "desc", description: "desc: newest first" },
    window: {
      type: "integer",
      minimum: 1,
      description: `window length in ms (at most ${limits.maxWindows} windows per query)`,
    },
    field: {
      type: "string",
      description: 'for object values: dotted path of the numeric leaf, e.g. "pm.pm25"',
    },
    aggregate: {
      type: "string",
      enum: [...AGGREGATES],
      description: "return only this aggregate per window, as 'value'",
    },
  };
}

/** Affordance definitions to add to the thing (before expose; forms are filled by the servers). */
export function historyAffordances(
  thing: ExposedThing,
  limits: HistoryStore["limits"],
): {
  properties: Record<string, unknown>;
  actions: Record<string, unknown>;
} {
  const v = variables(thing, limits);
  const pick = (...keys: (keyof typeof v)[]) => Object.fromEntries(keys.map((k) => [k, v[k]]));
  return {
    properties: {
      [HISTORY]: {
        title: "History",
        description:
          "Recorded interactions of this thing (property writes and changes, action invocations, events), newest first. Added by node-wot-vo.",
        type: "array",
        items: rowSchema,
        readOnly: true,
        writeOnly: false,
        observable: false,
        uriVariables: pick("name", "kind", "from", "to", "limit", "order"),
        [PLUGIN_ANNOTATION]: true,
        forms: [],
      },
      [HISTORY_AGGREGATE]: {
        title: "History aggregates",
        description:
          "Fixed time windows (aligned to the epoch) over one affordance's history: count, min, max, mean (numeric values), first and last. Needs name, from and window. Added by node-wot-vo.",
        type: "array",
        items: windowSchema,
        readOnly: true,
        writeOnly: false,
        observable: false,
        uriVariables: pick("name", "kind", "from", "to", "window", "field", "aggregate"),
        [PLUGIN_ANNOTATION]: true,
        forms: [],
      },
    },
    actions: {
      [QUERY_HISTORY]: {
        title: "Query history",
        description:
          "The history queries with a JSON body: rows as the 'history' property returns them, or windows as 'historyAggregate' when 'window' is given. Added by node-wot-vo.",
        input: { type: "object", properties: v },
        output: { type: "array", items: { oneOf: [rowSchema, windowSchema] } },
        safe: true,
        idempotent: true,
        [PLUGIN_ANNOTATION]: true,
        forms: [],
      },
    },
  };
}

/** A JSON schema enum must not be empty: a thing without affordances of its own gets none. */
function nameEnum(names: string[]): { enum?: string[] } {
  return names.length > 0 ? { enum: names } : {};
}

/** Names of the thing's own affordances (not the plugin's), sorted, without duplicates. */
export function recordedNames(thing: ExposedThing, filter?: RecordFilter): string[] {
  const names = new Set<string>();
  for (const kind of KINDS) {
    for (const [name, a] of Object.entries(affordances(thing, kind))) {
      if (a?.[PLUGIN_ANNOTATION] === true) continue;
      if (filter && !filter.accepts(thing as never, kind, name, a)) continue;
      names.add(name);
    }
  }
  return [...names].sort();
}

function affordances(thing: ExposedThing, kind: AffordanceKind): Record<string, Record<string, unknown>> {
  const map = kind === "property" ? thing.properties : kind === "action" ? thing.actions : thing.events;
  return (map ?? {}) as Record<string, Record<string, unknown>>;
}

/** The thing's affordance of that kind and name: own keys only (`constructor` is no affordance). */
function affordance(
  thing: ExposedThing,
  kind: AffordanceKind,
  name: string,
): Record<string, unknown> | undefined {
  const map = affordances(thing, kind);
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

/** Keeps the `name` enums of the history affordances in step with the thing's affordances. */
export function refreshNameEnums(thing: ExposedThing): void {
  const names = recordedNames(thing);
  const set = (vars: unknown) => {
    const name = (vars as { name?: { enum?: string[] } } | undefined)?.name;
    if (!name) return;
    if (names.length > 0) name.enum = names;
    else delete name.enum;
  };
  set(thing.properties[HISTORY]?.uriVariables);
  set(thing.properties[HISTORY_AGGREGATE]?.uriVariables);
  set((thing.actions[QUERY_HISTORY]?.input as { properties?: unknown } | undefined)?.properties);
}

export type HistoryResult = ReturnType<typeof toRow>[] | Record<string, JsonValue>[];

/** Runs a history query for one thing; throws VoInputError for anything the client got wrong. */
export class HistoryQueries {
  constructor(
    private readonly store: HistoryStore,
    private readonly filter: RecordFilter,
  ) {}

  rows(thing: ExposedThing, p: HistoryParams): ReturnType<typeof toRow>[] {
    const { name, kind } = this.target(thing, p);
    const rows = this.store.query({
      thingId: thing.id,
      name,
      kind,
      from: time(p.from, "from"),
      to: time(p.to, "to"),
      limit: integer(p.limit, "limit"),
      order: choice(p.order, "order", ["asc", "desc"] as const),
    });
    return rows.map(toRow);
  }

  /**
   * Windows of one affordance. A read without any variable is no query: it answers `[]`, because
   * reading "all properties" (`GET /<thing>/properties`, node-wot's `readAllProperties()`, which
   * reads each property without variables) must not fail on this one property.
   */
  windows(thing: ExposedThing, p: HistoryParams): Record<string, JsonValue>[] {
    if (Object.values(p).every((v) => v === undefined)) return [];
    const { name, kind } = this.target(thing, p);
    if (name === undefined) throw new VoInputError("an aggregate needs 'name': the affordance to aggregate");
    const windowMs = integer(p.window, "window");
    if (windowMs === undefined)
      throw new VoInputError("an aggregate needs 'window': the window length in milliseconds");
    const from = time(p.from, "from");
    if (from === undefined)
      throw new VoInputError("an aggregate needs 'from' (milliseconds since the epoch)");
    const field = p.field === undefined || p.field === "" ? undefined : text(p.field, "field", MAX_FIELD);
    const aggregate = choice(p.aggregate, "aggregate", AGGREGATES);
    const kinds = kind ? [kind] : KINDS.filter((k) => affordance(thing, k, name) !== undefined);
    if (kinds.length > 1)
      throw new VoInputError(
        `'${name}' is a ${kinds.join(" and a ")} of '${thing.title}': give 'kind' to say which to aggregate`,
      );
    const windows = this.store.aggregate({
      thingId: thing.id,
      name,
      kind: kinds[0],
      from,
      to: time(p.to, "to") ?? Math.max(from, Date.now()),
      windowMs,
      field,
    });
    return windows.map((w) =>
      aggregate ? pickAggregate(w, aggregate) : (w as unknown as Record<string, JsonValue>),
    );
  }

  /** `queryHistory`: windows when `window` is given, rows otherwise. */
  query(thing: ExposedThing, p: HistoryParams): HistoryResult {
    return p.window !== undefined && p.window !== null ? this.windows(thing, p) : this.rows(thing, p);
  }

  private target(thing: ExposedThing, p: HistoryParams): { name?: string; kind?: AffordanceKind } {
    const kind = choice(p.kind, "kind", KINDS);
    if (p.name === undefined || p.name === "") return { kind };
    const name = text(p.name, "name");
    const kinds = kind ? [kind] : KINDS;
    const found = kinds.filter((k) => {
      const a = affordance(thing, k, name);
      return a !== undefined && a[PLUGIN_ANNOTATION] !== true;
    });
    if (found.length === 0) {
      const known = recordedNames(thing);
      throw new VoInputError(
        `'${thing.title}' has no ${kind ?? "affordance"} named ${JSON.stringify(name.slice(0, 80))}; ` +
          `known names: ${known.length ? known.join(", ") : "(none)"}`,
      );
    }
    if (!found.some((k) => this.filter.accepts(thing as never, k, name, affordance(thing, k, name)))) {
      throw new VoInputError(
        `'${name}' of '${thing.title}' is not recorded (excluded by the recorder configuration or a "vo:record": false annotation)`,
      );
    }
    return { name, kind };
  }
}

function pickAggregate(w: AggregateWindow, a: Aggregate): Record<string, JsonValue> {
  return { start: w.start, end: w.end, count: w.count, value: w[a] };
}

function toRow(r: HistoryRow) {
  const row: {
    id: number;
    time: number;
    at: string;
    kind: AffordanceKind;
    name: string;
    op: string;
    ok: boolean;
    source: string;
    value?: JsonValue;
    output?: JsonValue;
    error?: string;
    durationMs?: number;
  } = {
    id: r.id,
    time: r.time,
    at: new Date(r.time).toISOString(),
    kind: r.kind,
    name: r.name,
    op: r.op,
    ok: r.ok,
    source: r.source,
  };
  if (r.value !== undefined) row.value = r.value;
  if (r.output !== undefined) row.output = r.output;
  if (r.error !== undefined) row.error = r.error;
  if (r.durationMs !== undefined && r.durationMs !== null) row.durationMs = r.durationMs;
  return row;
}

// ---- parameter checks (uriVariables arrive cast by node-wot: integers as numbers, NaN when not) ----

/**
 * node-wot casts integer URI variables with `+text`, which also takes "", " ", "0x10" and "1e3".
 * A number that came from the URL is taken only when its text was plain decimal digits.
 */
function castFromDigits(v: unknown, key: string, expected: string): void {
  if (typeof v !== "number") return;
  const raw = rawQueryValue(key);
  if (raw !== undefined && !/^\d+$/.test(raw))
    throw new VoInputError(`'${key}' must be ${expected}, got ${show(raw)}`);
}

function time(v: unknown, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  castFromDigits(v, key, "milliseconds since the epoch (a non-negative integer)");
  if (typeof v === "string" && v.trim() !== "") {
    const n = /^\d+$/.test(v.trim()) ? Number(v) : Date.parse(v);
    if (Number.isSafeInteger(n) && n >= 0) return n;
  }
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  throw new VoInputError(
    `'${key}' must be milliseconds since the epoch (a non-negative integer)${typeof v === "string" ? " or an ISO 8601 date" : ""}, got ${sent(v, key)}`,
  );
}

function integer(v: unknown, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  castFromDigits(v, key, "a positive integer");
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n === "number" && Number.isSafeInteger(n) && n >= 1) return n;
  throw new VoInputError(`'${key}' must be a positive integer, got ${sent(v, key)}`);
}

/** Longest `field` path taken (a dotted path of names is short; the error would echo it whole). */
const MAX_FIELD = 200;

function text(v: unknown, key: string, maxLength = Infinity): string {
  if (typeof v !== "string") throw new VoInputError(`'${key}' must be a string, got ${show(v)}`);
  if (v.length > maxLength)
    throw new VoInputError(`'${key}' must be at most ${maxLength} characters, got ${v.length}`);
  return v;
}

function choice<T extends string>(v: unknown, key: string, allowed: readonly T[]): T | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
  throw new VoInputError(`'${key}' must be one of ${allowed.join(", ")}, got ${show(v)}`);
}

/**
 * What the client sent for `key`: node-wot casts integer uriVariables with `+value` (so "abc"
 * arrives as NaN, "" as 0), and the request URL still has the text.
 */
export function sent(v: unknown, key: string): string {
  if (typeof v === "number") {
    const raw = rawQueryValue(key);
    if (raw !== undefined && Object.is(+raw, v)) return show(raw);
  }
  return show(v);
}

export function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = typeof v === "number" ? String(v) : JSON.stringify(typeof v === "string" ? v.slice(0, 80) : v);
  } catch {
    s = undefined; // unserialisable (a cycle); input values are depth-checked before they get here
  }
  if (s === undefined)
    return typeof v === "object" && v !== null ? (Array.isArray(v) ? "an array" : "an object") : String(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

/** Plugin action inputs are flat objects: anything nested deeper is refused before it is parsed. */
export const MAX_INPUT_DEPTH = 16;

/**
 * An action input's bytes as JSON (undefined when empty). Refuses input nested deeper than
 * MAX_INPUT_DEPTH before parsing, so nothing recursive (JSON.stringify of an error message) ever
 * meets a 5,000-deep value.
 */
export function parseInput(bytes: Buffer, expected: string): unknown {
  if (bytes.length === 0) return undefined;
  const text = bytes.toString("utf8");
  if (jsonDeeperThan(text, MAX_INPUT_DEPTH))
    throw new VoInputError(
      `expected ${expected} as input, got JSON nested deeper than ${MAX_INPUT_DEPTH} levels (${bytes.length} bytes)`,
    );
  try {
    return JSON.parse(text);
  } catch {
    throw new VoInputError(`expected ${expected} as input, got ${show(text.slice(0, 80))} (not JSON)`);
  }
}

/**
 * Input of an action as a plain JSON object. Read from the bytes (not `value()`, whose schema
 * validation would only say "Invalid value according to DataSchema") and checked here instead.
 */
export async function actionInput(params: WoT.InteractionOutput): Promise<Record<string, unknown>> {
  const value = parseInput(Buffer.from(await params.arrayBuffer()), "a JSON object");
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new VoInputError(`expected a JSON object as input, got ${show(value)}`);
  return value as Record<string, unknown>;
}
