/**
 * History rows → InfluxDB points (line protocol), in one of two layouts:
 *
 *  - `tagged` (default): measurement `<prefix><kind>`, tags `thing_id`, `thing`, `kind`, `name`, `op`,
 *    `source`; the type of every generated field is written in its name (`value` float, `value_int`,
 *    `value_bool`, `value_str`, `value_json`, leaves `value.<path>[suffix]`), so two points can never
 *    disagree on the type of one field, whatever thing, servient or TD they come from.
 *  - `vo-wot`: vo-wot's layout (bucket per property, measurement = name, field `value`, no tags;
 *    buckets `action` and `event` holding JSON text). Field types are decided once per
 *    (bucket, measurement, field), remembered in SQLite, and a value of another type goes to a
 *    type-suffixed sibling field instead of conflicting.
 *
 * A property write node-wot refused (recorded with `ok: false`) is not a reading: its value never
 * goes to the `value…` fields (tagged: `refused_json`) or the property's bucket (vo-wot: `refused`).
 *
 * Names (measurements, tag keys and values, field keys) are percent-encoded for the characters line
 * protocol cannot carry exactly (`%`, `\`, CR, LF, TAB, and `#` at the start of a measurement), then
 * escaped by the official client's `Point`. `decodeName` restores them exactly.
 */
import { Point, escape } from "@influxdata/influxdb-client";
import type { HistoryRow, JsonValue } from "../types";
import type { InfluxOptions } from "./options";

// ---------------------------------------------------------------------------------------------
// Names

const ENCODE = /[%\\\n\r\t]/g;
const NEEDS_ENCODING = /[%\\\n\r\t]/;
const CODES: Record<string, string> = { "%": "%25", "\\": "%5C", "\n": "%0A", "\r": "%0D", "\t": "%09" };
const DECODE = /%(25|5C|0A|0D|09|23)/gi;

/**
 * Encodes a tag value, tag key or field key for line protocol: `%`, `\`, CR, LF and TAB become
 * `%25`, `%5C`, `%0D`, `%0A`, `%09`; everything else is kept (commas, spaces, `=`, quotes are
 * escaped by the client's `Point`). Names without those characters are unchanged.
 */
export function encodeName(name: string): string {
  return NEEDS_ENCODING.test(name) ? name.replace(ENCODE, (c) => CODES[c]) : name;
}

/** Encodes a measurement name: as `encodeName`, and a leading `#` (a comment line) becomes `%23`. */
export function encodeMeasurement(name: string): string {
  const e = encodeName(name);
  return e.startsWith("#") ? "%23" + e.slice(1) : e;
}

/** Reverses `encodeName` / `encodeMeasurement`: what InfluxDB returns → the original name. */
export function decodeName(encoded: string): string {
  return encoded.replace(DECODE, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const ZEROS = ["000000", "00000", "0000", "000", "00", "0", ""];

/** The nanosecond timestamp of a row, as an exact decimal string. */
export function nanos(time: number, timeSub: number): string {
  // String arithmetic: the same digits as BigInt(time) * 1e6 + timeSub, without BigInts per point,
  // and from small integers only (a ms timestamp is not one: its conversion is the slow kind).
  if (Number.isSafeInteger(time) && timeSub >= 0 && timeSub < 1_000_000 && Number.isInteger(timeSub)) {
    const sub = String(timeSub);
    if (time >= 1_000_000) {
      const low = time % 1_000_000;
      const ms = String(low);
      return (time - low) / 1_000_000 + ZEROS[ms.length] + ms + ZEROS[sub.length] + sub;
    }
    if (time >= 1) return time + ZEROS[sub.length] + sub;
  }
  return (BigInt(time) * 1_000_000n + BigInt(timeSub)).toString();
}

const NEEDS_TAG_ESCAPE = /[, =\n\r\t]/;

/** `escape.tag`, without its per-character loop when nothing needs escaping (the usual case). */
function escapeTag(name: string): string {
  return NEEDS_TAG_ESCAPE.test(name) ? escape.tag(name) : name;
}

const QUOTED_ESCAPES = /["\\]/g;

/** `escape.quoted` (`"` and `\` escaped, the whole quoted), without its per-character loop. */
function quoted(text: string): string {
  if (text.indexOf('"') < 0 && text.indexOf("\\") < 0) return `"${text}"`;
  return `"${text.replace(QUOTED_ESCAPES, "\\$&")}"`;
}

/**
 * True when `text` is a JSON number that JavaScript writes back exactly as it is (`String(Number(text))
 * === text`): plain decimal notation, no leading or trailing zeros, not `-0`, at most 15 digits (so
 * the double holds it exactly), not below 1e-6 (written with an exponent). Conservative: a number
 * this refuses is parsed and written by the general path.
 */
export function isPlainNumber(text: string): boolean {
  const n = text.length;
  if (n === 0 || n > 18) return false;
  let i = text.charCodeAt(0) === 45 ? 1 : 0; // "-"
  if (i === n) return false;
  let digits = 0;
  let c = text.charCodeAt(i);
  if (c === 48) {
    // "0", or "0." and a fraction: at most five zeros after the point (1e-6 and up are plain)
    if (i + 1 === n) return i === 0; // "0" yes, "-0" no
    if (text.charCodeAt(i + 1) !== 46) return false;
    i += 2;
    let zeros = 0;
    while (i < n && text.charCodeAt(i) === 48) {
      zeros++;
      i++;
    }
    if (zeros > 5 || i === n) return false;
  } else {
    if (c < 49 || c > 57) return false;
    while (i < n) {
      c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      digits++;
      i++;
    }
    if (i === n) return digits <= 15;
    if (c !== 46 || i + 1 === n) return false;
    i++;
  }
  // the fraction: digits only, the last not a zero
  for (; i < n; i++) {
    c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    digits++;
  }
  return digits <= 15 && text.charCodeAt(n - 1) !== 48;
}

/** A JSON string with nothing escaped in it: the same characters make a line-protocol string field. */
function isPlainJsonString(text: string): boolean {
  const last = text.length - 1;
  if (last < 1 || text.charCodeAt(last) !== 34) return false;
  for (let i = 1; i < last; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 || c === 92 || c < 32) return false; // '"', '\\', control characters
  }
  return true;
}

/**
 * The field set of a tagged-layout point whose value is a scalar stored as JSON text (`ok` and the
 * `value…` field), written exactly as `build` writes it for the parsed value; undefined when the
 * text is anything else (an object, an array, `null`, escapes, a number JavaScript would write
 * differently): the caller then parses it and builds the point the general way. For rows without
 * error, duration, output or refusal; `integer`: the TD schema says the value is an integer.
 */
export function scalarFieldsOfText(text: string | null, ok: boolean, integer: boolean): string | undefined {
  const head = ok ? "ok=T" : "ok=F";
  if (text === null) return head;
  const c = text.charCodeAt(0);
  if (c === 34) return isPlainJsonString(text) ? `${head},value_str=${text}` : undefined; // '"'
  if (c === 116) return text === "true" ? `${head},value_bool=T` : undefined; // 't'
  if (c === 102) return text === "false" ? `${head},value_bool=F` : undefined; // 'f'
  if (!isPlainNumber(text)) return undefined;
  // Plain numbers of at most 15 digits: integral ones are safe integers.
  if (integer && text.indexOf(".") < 0) return `${head},value_int=${text}i`;
  return `${head},value=${text}`;
}

// ---------------------------------------------------------------------------------------------
// Types

/** What the point layout needs of a TD data schema: the type, and those of nested members. */
export interface TypeTree {
  t?: string;
  p?: Record<string, TypeTree>;
  i?: TypeTree;
}

/** The type tree of a TD DataSchema (type, properties, items), or undefined. */
export function typeTreeOf(schema: unknown, depth = 0): TypeTree | undefined {
  if (schema === null || typeof schema !== "object" || depth > 16) return undefined;
  const s = schema as { type?: unknown; properties?: unknown; items?: unknown };
  const tree: TypeTree = {};
  if (typeof s.type === "string") tree.t = s.type;
  if (s.properties !== null && typeof s.properties === "object") {
    const p: Record<string, TypeTree> = {};
    for (const [k, v] of Object.entries(s.properties as Record<string, unknown>)) {
      const sub = typeTreeOf(v, depth + 1);
      if (sub) p[k] = sub;
    }
    if (Object.keys(p).length > 0) tree.p = p;
  }
  const items = Array.isArray(s.items) ? undefined : typeTreeOf(s.items, depth + 1);
  if (items) tree.i = items;
  return tree.t === undefined && tree.p === undefined && tree.i === undefined ? undefined : tree;
}

/** Type trees of one affordance: property value / event data / action input, and action output. */
export interface AffordanceTypes {
  value?: TypeTree;
  output?: TypeTree;
}

export type FieldType = "float" | "int" | "bool" | "str";

/** Field type of a scalar; integers only when the schema says `integer` (else float: stable). */
function scalarType(v: JsonValue, schema: TypeTree | undefined): FieldType | undefined {
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "string":
      return "str";
    case "number":
      if (!Number.isFinite(v)) return undefined;
      return schema?.t === "integer" && Number.isSafeInteger(v) ? "int" : "float";
    default:
      return undefined;
  }
}

/** Suffixes that carry the type in a tagged-layout field name. A name without one is a float. */
const SUFFIX: Record<FieldType, string> = { float: "", int: "_int", bool: "_bool", str: "_str" };
const TYPED_SUFFIX = /_(int|bool|str|json)$/;

/** The tagged-layout name of a field of `type` at `base`: the type is a function of the name. */
export function typedFieldName(base: string, type: FieldType | "json"): string {
  if (type === "json") return base + "_json";
  if (type === "float") return TYPED_SUFFIX.test(base) ? base + "_float" : base;
  return base + SUFFIX[type];
}

/** The field type a tagged-layout field name stands for. */
export function fieldTypeOfName(name: string): FieldType {
  const m = TYPED_SUFFIX.exec(name);
  if (!m) return "float";
  return m[1] === "json" ? "str" : (m[1] as FieldType);
}

// ---------------------------------------------------------------------------------------------
// Fields

interface Field {
  name: string;
  type: FieldType;
  value: number | boolean | string;
  /**
   * The value is text made by JSON.stringify: it holds no control character and no lone
   * surrogate, so JSON.stringify quotes it exactly as `escape.quoted` does (only `"` and `\`
   * escaped), and much faster.
   */
  json?: true;
}

function addField(point: Point, f: Field): void {
  const name = encodeName(f.name);
  switch (f.type) {
    case "float":
      point.floatField(name, f.value as number);
      break;
    case "int":
      point.intField(name, f.value as number);
      break;
    case "bool":
      point.booleanField(name, f.value as boolean);
      break;
    case "str":
      point.stringField(name, f.value as string);
      break;
  }
}

/** A field formatted as the client's Point formats it (it validates numbers the same way). */
function setField(fields: Map<string, string>, f: Field): void {
  const name = encodeName(f.name);
  fields.set(name, f.json ? JSON.stringify(f.value) : fieldValue(f.type, f.value, name));
}

/** The line-protocol text of a field value, exactly as `Point` writes it. */
function fieldValue(type: FieldType, value: JsonValue, name: string): string {
  switch (type) {
    case "float": {
      const n = value as number;
      if (!Number.isFinite(n)) throw new Error(`invalid float value for field '${name}': ${n}`);
      return String(n);
    }
    case "int": {
      const n = value as number;
      if (Number.isNaN(n) || n <= -9223372036854776e3 || n >= 9223372036854776e3) {
        throw new Error(`invalid integer value for field '${name}': '${n}'!`);
      }
      return `${Math.floor(n)}i`;
    }
    case "bool":
      return value ? "T" : "F";
    case "str":
      return quoted(String(value));
  }
}

// ---------------------------------------------------------------------------------------------
// Depth

/**
 * Deepest value a point is built from. The recorder caps depth at record time (at most 512, its
 * option's maximum), so only a row stored before the cap existed can be deeper; JSON.stringify
 * recurses and overflows the stack a few thousand levels down, so such a row is refused here.
 */
export const MAX_VALUE_DEPTH = 512;

/** True when a parsed value nests arrays / objects deeper than `max`. Iterative: any depth is safe. */
export function valueDeeperThan(v: unknown, max: number): boolean {
  if (v === null || typeof v !== "object") return false;
  const values: object[] = [v];
  const depths: number[] = [1];
  while (values.length > 0) {
    const x = values.pop()!;
    const d = depths.pop()!;
    if (d > max) return true;
    for (const sub of Array.isArray(x) ? x : Object.values(x)) {
      if (sub !== null && typeof sub === "object") {
        values.push(sub as object);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

/** Throws when a row's value or output is too deep to be written (the row is dead-lettered). */
function checkDepth(row: HistoryRow): void {
  const what = valueDeeperThan(row.value, MAX_VALUE_DEPTH)
    ? "value"
    : valueDeeperThan(row.output, MAX_VALUE_DEPTH)
      ? "output"
      : undefined;
  if (what === undefined) return;
  throw new Error(
    `the ${what} is nested more than ${MAX_VALUE_DEPTH} levels deep (stored before the recorder ` +
      "capped depth); it cannot be written as a point",
  );
}

/** A property write node-wot refused (schema violation, handler error): not a reading. */
export function isRefused(row: HistoryRow): boolean {
  return row.kind === "property" && !row.ok;
}

/** Tagged layout: the field of a refused write's value (JSON text), never the `value…` fields. */
export const REFUSED_FIELD = "refused_json";
/** vo-wot layout: the bucket (v2) / database (v1) and measurement of refused property writes. */
export const REFUSED_BUCKET = "refused";

/** Leaves of an object / array value: `path` joined with `.`, at most `max` of them. */
function leaves(
  v: JsonValue,
  schema: TypeTree | undefined,
  path: string,
  out: { path: string; value: JsonValue; schema: TypeTree | undefined }[],
  max: number,
  depth = 0,
): void {
  if (out.length >= max) return;
  if (v !== null && typeof v === "object" && depth < 16) {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length && out.length < max; i++) {
        leaves(v[i], schema?.i, `${path}.${i}`, out, max, depth + 1);
      }
    } else {
      for (const [k, sub] of Object.entries(v)) {
        if (out.length >= max) return;
        leaves(sub, schema?.p?.[k], `${path}.${k}`, out, max, depth + 1);
      }
    }
    return;
  }
  if (v !== null && typeof v !== "object") out.push({ path, value: v, schema });
}

/** Tagged layout: the fields of one value at `base` (`value`, `input`, `output`). */
function taggedValueFields(
  base: string,
  v: JsonValue | undefined,
  schema: TypeTree | undefined,
  maxLeaves: number,
): Field[] {
  if (v === undefined) return [];
  if (v === null || typeof v === "object") {
    const fields: Field[] = [
      { name: typedFieldName(base, "json"), type: "str", value: JSON.stringify(v), json: true },
    ];
    if (v === null) return fields;
    const found: { path: string; value: JsonValue; schema: TypeTree | undefined }[] = [];
    leaves(v, schema, base, found, maxLeaves);
    for (const leaf of found) {
      const type = scalarType(leaf.value, leaf.schema);
      if (type) fields.push({ name: typedFieldName(leaf.path, type), type, value: leaf.value as never });
    }
    return fields;
  }
  const type = scalarType(v, schema);
  if (!type)
    return [{ name: typedFieldName(base, "json"), type: "str", value: JSON.stringify(v), json: true }];
  return [{ name: typedFieldName(base, type), type, value: v }];
}

// ---------------------------------------------------------------------------------------------
// Layouts

/** What identifies a series for its TD types: a history row, or a series of the store. */
export type SeriesKey = Pick<HistoryRow, "seriesId" | "thingId" | "kind" | "name">;

/** One point of one history row, and where it goes. */
export interface BuiltPoint {
  historyId: number;
  bucket: string;
  line: string;
}

/** Field types decided once per (bucket, measurement, field) — the vo-wot layout's memory. */
export interface FieldTypeMemory {
  get(bucket: string, measurement: string, field: string): FieldType | undefined;
  set(bucket: string, measurement: string, field: string, type: FieldType): void;
}

/** What `writePoint` stores in the history for a script's own measurement. */
export interface ScriptPoint {
  fields: Record<string, number | boolean | string>;
  tags?: Record<string, string>;
}

export const SCRIPT_POINT_KIND = "point";
export const SCRIPT_POINT_THING = "node-wot-vo:points";

/**
 * How the fields of a row whose values are flat (tagged layout) are written, by the row's shape:
 * which of error and duration it has, and for its value (and an action's output) whether it is
 * absent, null, a scalar of which field type, or a flat object of which keys and field types.
 * `names[i]` is the escaped field name written i-th (sorted as Point sorts); `from[i]` says where
 * its value comes from (a FROM_* code, or a member index ≥ 0), `slot[i]` from which value (0: the
 * value or action input, 1: the action output), `type[i]` its field type.
 */
interface FieldPlan {
  names: string[];
  from: number[];
  slot: number[];
  type: (FieldType | undefined)[];
  /**
   * Per value slot holding an object: the quoted JSON text before each member — `{"key":` then
   * `,"key":`, escaped as `escape.quoted` escapes (`{\"key\":`) — so `value_json` is put
   * together from the members without JSON.stringify walking the object and quoting its output.
   */
  jsonKeys: (string[] | undefined)[];
}

const FROM_OK = -1;
const FROM_ERROR = -2;
const FROM_DURATION = -3;
const FROM_JSON = -4;
const FROM_SCALAR = -5;
const TYPE_CODES: Record<FieldType, string> = { float: "f", int: "i", bool: "b", str: "s" };
/** Shapes remembered at most (then the cache starts over). */
const MAX_PLANS = 10_000;

/** The keys of a flat value and the field type of each (undefined: not written), for a plan. */
interface FlatShape {
  /** "u" absent, "n" null, a type code for a scalar, "{" for an object. */
  code: string;
  keys: string[];
  types: (FieldType | undefined)[];
}

export class PointLayout {
  private readonly prefixes = new Map<number | string, { title: string; byOpSource: Map<string, string> }>();
  private readonly plans = new Map<string, FieldPlan>();

  constructor(
    private readonly options: Pick<
      InfluxOptions,
      "layout" | "measurementPrefix" | "maxFlattenedFields" | "bucket" | "database" | "apiVersion"
    >,
    private readonly types: (series: SeriesKey) => AffordanceTypes | undefined,
    private readonly memory: FieldTypeMemory,
  ) {}

  /** The single bucket (v2) / database (v1) of the tagged layout. */
  get defaultBucket(): string {
    return this.options.apiVersion === 1 ? this.options.database : this.options.bucket;
  }

  /** Measurement of a kind in the tagged layout. */
  measurementOf(kind: string): string {
    return this.options.measurementPrefix + kind;
  }

  /**
   * Builds the point of a row. Throws when the row cannot become a point (it is dead-lettered).
   * `depthChecked`: the values were parsed by the store, which never hands over a value nested
   * deeper than 512 (it gives the `$tooDeep` marker instead), so they need no second walk.
   */
  build(row: HistoryRow, depthChecked = false): BuiltPoint {
    if (this.options.layout !== "vo-wot" && (row.kind as string) !== SCRIPT_POINT_KIND) {
      if (!depthChecked) checkDepth(row);
      return { historyId: row.id, bucket: this.defaultBucket, line: this.taggedLine(row) };
    }
    return this.buildWithPoint(row);
  }

  /**
   * The same point built through the client's `Point` object: the reference the fast tagged path
   * (`taggedLine`) must match byte for byte (tested), and the path of the other layouts.
   */
  buildWithPoint(row: HistoryRow): BuiltPoint {
    checkDepth(row);
    const point =
      this.options.layout === "vo-wot"
        ? this.voWotPoint(row)
        : { bucket: this.defaultBucket, point: this.tagged(row) };
    point.point.timestamp(nanos(row.time, row.timeSub));
    const line = point.point.toLineProtocol();
    if (line === undefined) throw new Error("the point has no fields");
    return { historyId: row.id, bucket: point.bucket, line };
  }

  /**
   * The measurement and tag set of a tagged-layout point, escaped once per series (and op × source
   * within it) with the client's own `escape`; a renamed thing gets a new prefix.
   */
  taggedPrefix(
    row: Pick<HistoryRow, "seriesId" | "thingId" | "thingTitle" | "kind" | "name" | "op" | "source">,
  ): string {
    const seriesKey = row.seriesId ?? `${row.kind}\u0000${row.thingId}\u0000${row.name}`;
    let series = this.prefixes.get(seriesKey);
    if (series === undefined || series.title !== row.thingTitle) {
      if (this.prefixes.size >= 100_000) this.prefixes.clear();
      this.prefixes.set(seriesKey, (series = { title: row.thingTitle, byOpSource: new Map() }));
    }
    const opSource = `${row.op}\u0000${row.source}`;
    let prefix = series.byOpSource.get(opSource);
    if (prefix === undefined) {
      const tags: [string, string][] = [
        ["kind", row.kind],
        ["name", encodeName(row.name)],
        ["op", encodeName(row.op)],
        ["source", encodeName(row.source)],
        ["thing", encodeName(row.thingTitle)],
        ["thing_id", encodeName(row.thingId)],
      ]; // sorted by key, as Point sorts them; empty values are left out, as Point does
      prefix = escape.measurement(encodeMeasurement(this.measurementOf(row.kind)));
      for (const [k, v] of tags) if (v) prefix += `,${k}=${escape.tag(v)}`;
      series.byOpSource.set(opSource, prefix);
    }
    return prefix;
  }

  /**
   * The field set of a tagged-layout point whose values are flat — a scalar, null, or an object
   * whose members are all scalars or null — exactly as the general path writes it (ok, error,
   * duration_ms, the value's or input's fields, the output's), without a field map and a sort for
   * every row: the sorted, escaped names are planned once per shape (which fields, keys × field
   * types). Undefined when a value is nested or an array: the general path writes those. Not for
   * refused writes or script points.
   */
  flatFields(
    kind: string,
    ok: boolean,
    error: string | undefined,
    durationMs: number | undefined,
    value: JsonValue | undefined,
    output: JsonValue | undefined,
    types: AffordanceTypes | undefined,
  ): string | undefined {
    const action = kind === "action";
    const max = this.options.maxFlattenedFields;
    const a = flatShape(value, types?.value, max);
    if (a === undefined) return undefined;
    const b = action ? flatShape(output, types?.output, max) : NONE;
    if (b === undefined) return undefined;
    const duration = durationMs !== undefined && Number.isFinite(durationMs);
    let key = `${action ? "A" : "V"}${error === undefined ? "" : "e"}${duration ? "d" : ""}|${a.code}`;
    if (a.code === "{") for (let i = 0; i < a.keys.length; i++) key += shapeKey(a, i);
    key += `|${b.code}`;
    if (b.code === "{") for (let i = 0; i < b.keys.length; i++) key += shapeKey(b, i);
    let plan = this.plans.get(key);
    if (plan === undefined) {
      if (this.plans.size >= MAX_PLANS) this.plans.clear();
      this.plans.set(key, (plan = planFields(action, error !== undefined, duration, a, b)));
    }
    let text = "";
    for (let i = 0; i < plan.names.length; i++) {
      const from = plan.from[i];
      const v = plan.slot[i] === 0 ? value : output;
      let field: string;
      if (from === FROM_OK) field = ok ? "T" : "F";
      else if (from === FROM_ERROR) field = quoted(error!);
      else if (from === FROM_DURATION) field = String(durationMs);
      // JSON.stringify quotes its own output as escape.quoted does (see Field.json).
      else if (from === FROM_JSON)
        field = quotedJson(v, plan.jsonKeys[plan.slot[i]], plan.slot[i] === 0 ? a : b);
      else if (from === FROM_SCALAR) field = fieldValue(plan.type[i]!, v as JsonValue, plan.names[i]);
      else {
        const member = (v as { [key: string]: JsonValue })[(plan.slot[i] === 0 ? a : b).keys[from]];
        field = fieldValue(plan.type[i]!, member, plan.names[i]);
      }
      text += i === 0 ? `${plan.names[i]}=${field}` : `,${plan.names[i]}=${field}`;
    }
    return text;
  }

  /** True for the tagged layout, whose scalar rows can take the stored-text path (scalarFieldsOfText). */
  get taggedLayout(): boolean {
    return this.options.layout !== "vo-wot";
  }

  /** The TD types of a series (property value / event data / action input and output). */
  typesOf(series: SeriesKey): AffordanceTypes | undefined {
    return this.types(series);
  }

  /**
   * Tagged layout without a Point per row: the measurement and tag set of a series are escaped once
   * (with the client's own `escape`) and cached; fields are formatted as `Point` formats them,
   * sorted the same way (flat rows from a plan per shape). Shipping is CPU-bound on the client, so this is most of its cost.
   */
  private taggedLine(row: HistoryRow): string {
    const prefix = this.taggedPrefix(row);
    const types = this.types(row);
    const v = row.value;
    const refused = isRefused(row);
    if (row.kind !== "action" && !refused && (v === undefined || (v !== null && typeof v !== "object"))) {
      // The common case, a scalar value: the field names need no escaping and their sorted order
      // is known (duration_ms < error < ok < value…), so no field map and no sort.
      const type = v === undefined ? undefined : scalarType(v, types?.value);
      if (v === undefined || type !== undefined) {
        let text = "";
        if (row.durationMs !== undefined && Number.isFinite(row.durationMs))
          text += `duration_ms=${row.durationMs},`;
        if (row.error !== undefined) text += `error=${quoted(row.error)},`;
        text += row.ok ? "ok=T" : "ok=F";
        if (type !== undefined)
          text += `,${typedFieldName("value", type)}=${fieldValue(type, v as JsonValue, "value")}`;
        return `${prefix} ${text} ${nanos(row.time, row.timeSub)}`;
      }
    }
    if (!refused) {
      const planned = this.flatFields(row.kind, row.ok, row.error, row.durationMs, v, row.output, types);
      if (planned !== undefined) return `${prefix} ${planned} ${nanos(row.time, row.timeSub)}`;
    }
    const fields = new Map<string, string>();
    fields.set("ok", row.ok ? "T" : "F");
    if (row.error !== undefined) fields.set("error", quoted(row.error));
    if (row.durationMs !== undefined && Number.isFinite(row.durationMs)) {
      fields.set("duration_ms", String(row.durationMs));
    }
    const max = this.options.maxFlattenedFields;
    const base = row.kind === "action" ? "input" : "value";
    if (refused) {
      // JSON.stringify quotes its own output exactly as escape.quoted does (see Field.json).
      if (row.value !== undefined) fields.set(REFUSED_FIELD, JSON.stringify(JSON.stringify(row.value)));
    } else {
      for (const f of taggedValueFields(base, row.value, types?.value, max)) setField(fields, f);
    }
    if (row.kind === "action") {
      for (const f of taggedValueFields("output", row.output, types?.output, max)) setField(fields, f);
    }
    let text = "";
    for (const name of [...fields.keys()].sort()) {
      if (!name) continue;
      if (text.length > 0) text += ",";
      text += `${escapeTag(name)}=${fields.get(name)}`;
    }
    return `${prefix} ${text} ${nanos(row.time, row.timeSub)}`;
  }

  private tagged(row: HistoryRow): Point {
    if ((row.kind as string) === SCRIPT_POINT_KIND) return this.scriptPoint(row);
    const point = new Point(encodeMeasurement(this.measurementOf(row.kind)))
      .tag("thing_id", encodeName(row.thingId))
      .tag("thing", encodeName(row.thingTitle))
      .tag("kind", row.kind)
      .tag("name", encodeName(row.name))
      .tag("op", encodeName(row.op))
      .tag("source", encodeName(row.source))
      .booleanField("ok", row.ok);
    if (row.error !== undefined) point.stringField("error", row.error);
    if (row.durationMs !== undefined && Number.isFinite(row.durationMs)) {
      point.floatField("duration_ms", row.durationMs);
    }
    const types = this.types(row);
    const max = this.options.maxFlattenedFields;
    const base = row.kind === "action" ? "input" : "value";
    if (isRefused(row)) {
      if (row.value !== undefined) point.stringField(REFUSED_FIELD, JSON.stringify(row.value));
    } else {
      for (const f of taggedValueFields(base, row.value, types?.value, max)) addField(point, f);
    }
    if (row.kind === "action") {
      for (const f of taggedValueFields("output", row.output, types?.output, max)) addField(point, f);
    }
    return point;
  }

  /** A script's measurement: its own fields and tags (numbers as floats, so types never flip). */
  private scriptPoint(row: HistoryRow): Point {
    const payload = (row.value ?? {}) as unknown as ScriptPoint;
    const point = new Point(encodeMeasurement(row.name));
    for (const [k, v] of Object.entries(payload.tags ?? {})) point.tag(encodeName(k), encodeName(String(v)));
    for (const [k, v] of Object.entries(payload.fields ?? {})) {
      const type = scalarType(v, undefined);
      if (type) addField(point, { name: k, type, value: v });
    }
    return point;
  }

  private voWotPoint(row: HistoryRow): { bucket: string; point: Point } {
    const kind = row.kind as string;
    if (kind === "action" || kind === "event") {
      const body =
        kind === "action"
          ? {
              thing: row.thingTitle,
              thingId: row.thingId,
              name: row.name,
              ok: row.ok,
              input: row.value,
              output: row.output,
              error: row.error,
              durationMs: row.durationMs,
            }
          : { thing: row.thingTitle, thingId: row.thingId, name: row.name, data: row.value };
      return { bucket: kind, point: new Point(kind).stringField("value", JSON.stringify(body)) };
    }
    if (isRefused(row)) {
      // Out of the property's bucket, so vo-wot's `from(bucket: name) |> mean()` sees readings only.
      const body = {
        thing: row.thingTitle,
        thingId: row.thingId,
        name: row.name,
        value: row.value,
        error: row.error,
      };
      const field: Field = { name: "value", type: "str", value: JSON.stringify(body) };
      const point = new Point(REFUSED_BUCKET);
      addField(point, this.decide(REFUSED_BUCKET, REFUSED_BUCKET, field));
      return { bucket: REFUSED_BUCKET, point };
    }
    const measurement = encodeMeasurement(row.name);
    const bucket = encodeName(row.name);
    const point = new Point(measurement);
    const fields: Field[] = [];
    if (kind === SCRIPT_POINT_KIND) {
      const payload = (row.value ?? {}) as unknown as ScriptPoint;
      for (const [k, v] of Object.entries(payload.tags ?? {}))
        point.tag(encodeName(k), encodeName(String(v)));
      for (const [k, v] of Object.entries(payload.fields ?? {})) {
        const type = scalarType(v, undefined);
        if (type) fields.push({ name: k, type, value: v });
      }
    } else {
      const v = row.value;
      const schema = this.types(row)?.value;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        // vo-wot flattens dicts into "a.b" fields; lists inside stay JSON text.
        const found: { path: string; value: JsonValue; schema: TypeTree | undefined }[] = [];
        voWotFlatten(v, schema, "", found, this.options.maxFlattenedFields);
        for (const leaf of found) {
          const type = scalarType(leaf.value, leaf.schema);
          if (type) fields.push({ name: leaf.path, type, value: leaf.value as never });
        }
      } else if (v !== undefined) {
        const type = scalarType(v, schema);
        if (type && !Array.isArray(v)) fields.push({ name: "value", type, value: v as never });
        else fields.push({ name: "value", type: "str", value: JSON.stringify(v) });
      }
      if (fields.length === 0) fields.push({ name: "value", type: "str", value: JSON.stringify(v ?? null) });
    }
    for (const f of fields) addField(point, this.decide(bucket, measurement, f));
    return { bucket, point };
  }

  /** vo-wot layout: keeps one type per field; another type goes to `<field>_<type>`. */
  private decide(bucket: string, measurement: string, f: Field): Field {
    let name = f.name;
    for (let i = 0; i < 4; i++) {
      const known = this.memory.get(bucket, measurement, name);
      if (known === undefined) {
        this.memory.set(bucket, measurement, name, f.type);
        return { ...f, name };
      }
      if (known === f.type) return { ...f, name };
      if (known === "float" && f.type === "int") return { ...f, name, type: "float" };
      name = `${name}_${f.type}`;
    }
    throw new Error(`no field of type ${f.type} left for '${f.name}' in measurement '${measurement}'`);
  }
}

const NONE: FlatShape = { code: "u", keys: [], types: [] };

/** The shape of a value the flat plans take, or undefined (nested, an array: the general path). */
function flatShape(
  v: JsonValue | undefined,
  schema: TypeTree | undefined,
  max: number,
): FlatShape | undefined {
  if (v === undefined) return NONE;
  if (v === null) return { code: "n", keys: [], types: [] };
  if (typeof v !== "object") {
    const type = scalarType(v, schema);
    return type === undefined ? undefined : { code: TYPE_CODES[type], keys: [], types: [type] };
  }
  if (Array.isArray(v)) return undefined;
  const keys = Object.keys(v);
  const types: (FieldType | undefined)[] = new Array(keys.length);
  let leaves = 0;
  for (let i = 0; i < keys.length; i++) {
    const x = v[keys[i]];
    const t = typeof x;
    // Scalars and null only (a value handed over by a caller may hold anything JSON does not).
    if (x !== null && t !== "number" && t !== "string" && t !== "boolean") return undefined;
    // As `leaves`: nulls are no leaves, and only the first maxFlattenedFields leaves are written.
    types[i] = x === null || leaves >= max ? undefined : scalarType(x, schema?.p?.[keys[i]]);
    if (x !== null) leaves++;
  }
  return { code: "{", keys, types };
}

const shapeKey = (shape: FlatShape, i: number) => {
  const type = shape.types[i];
  return type === undefined ? "-\u0000" : `${TYPE_CODES[type]}${shape.keys[i]}\u0000`;
};

/**
 * `escape.quoted(JSON.stringify(v))` for a value of the plan's shape: null, or a flat object put
 * together from `jsonKeys` and its members (their JSON text is what JSON.stringify writes: finite
 * numbers as String(n), others null; strings quoted; true, false, null).
 */
function quotedJson(v: JsonValue | undefined, jsonKeys: string[] | undefined, shape: FlatShape): string {
  if (jsonKeys === undefined) return JSON.stringify(JSON.stringify(v));
  if (jsonKeys.length === 0) return '"{}"';
  const o = v as { [key: string]: JsonValue };
  let text = '"';
  for (let i = 0; i < jsonKeys.length; i++) {
    text += jsonKeys[i];
    const x = o[shape.keys[i]];
    if (typeof x === "number") text += Number.isFinite(x) ? String(x) : "null";
    else if (typeof x === "string") {
      text += isPlainString(x) ? `\\"${x}\\"` : JSON.stringify(JSON.stringify(x)).slice(1, -1);
    } else text += x === null ? "null" : x ? "true" : "false";
  }
  return `${text}}"`;
}

/** A string JSON.stringify writes unchanged between its quotes, and escape.quoted too. */
function isPlainString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/** The sorted, escaped field names of a row shape and where each value comes from. */
function planFields(
  action: boolean,
  error: boolean,
  duration: boolean,
  a: FlatShape,
  b: FlatShape,
): FieldPlan {
  // As taggedLine fills its map: ok, error, duration_ms, then each value's fields in the order
  // taggedValueFields gives them (JSON text first, then the leaves; a later field of the same
  // name wins).
  const from = new Map<string, [number, number, FieldType | undefined]>([["ok", [FROM_OK, 0, undefined]]]);
  if (error) from.set("error", [FROM_ERROR, 0, undefined]);
  if (duration) from.set("duration_ms", [FROM_DURATION, 0, undefined]);
  const add = (base: string, shape: FlatShape, slot: number) => {
    if (shape.code === "u") return;
    if (shape.code === "n" || shape.code === "{") {
      from.set(encodeName(typedFieldName(base, "json")), [FROM_JSON, slot, "str"]);
    } else {
      from.set(encodeName(typedFieldName(base, shape.types[0]!)), [FROM_SCALAR, slot, shape.types[0]]);
    }
    for (let i = 0; i < shape.keys.length; i++) {
      const type = shape.types[i];
      if (type !== undefined)
        from.set(encodeName(typedFieldName(`${base}.${shape.keys[i]}`, type)), [i, slot, type]);
    }
  };
  add(action ? "input" : "value", a, 0);
  if (action) add("output", b, 1);
  const names = [...from.keys()].sort().filter((name) => name !== "");
  const jsonKeys = [a, b].map((shape) =>
    shape.code === "{"
      ? shape.keys.map((k, i) => JSON.stringify(`${i === 0 ? "{" : ","}${JSON.stringify(k)}:`).slice(1, -1))
      : undefined,
  );
  const plan: FieldPlan = { names: names.map(escapeTag), from: [], slot: [], type: [], jsonKeys };
  for (const name of names) {
    const [f, slot, type] = from.get(name)!;
    plan.from.push(f);
    plan.slot.push(slot);
    plan.type.push(type);
  }
  return plan;
}

function voWotFlatten(
  v: { [key: string]: JsonValue },
  schema: TypeTree | undefined,
  prefix: string,
  out: { path: string; value: JsonValue; schema: TypeTree | undefined }[],
  max: number,
  depth = 0,
): void {
  for (const [k, sub] of Object.entries(v)) {
    if (out.length >= max) return;
    const path = prefix ? `${prefix}.${k}` : k;
    if (sub !== null && typeof sub === "object" && !Array.isArray(sub) && depth < 16) {
      voWotFlatten(sub, schema?.p?.[k], path, out, max, depth + 1);
    } else if (sub !== null && typeof sub === "object") {
      out.push({ path, value: JSON.stringify(sub), schema: undefined });
    } else if (sub !== null) {
      out.push({ path, value: sub, schema: schema?.p?.[k] });
    }
  }
}
