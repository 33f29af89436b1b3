/**
 * Shared words of the rooms: what a recorded interaction looks like (in memory and in the history
 * table), and the few TD names more than one room reads or writes. A leaf: it imports nothing.
 */

/** TD annotation (on a thing or an affordance): `"vo:record": false` opts out of recording. */
export const RECORD_ANNOTATION = "vo:record";
/**
 * TD annotation the plugin puts on the affordances it adds itself (td/, vo/); the recorder never
 * records them and the HTTP adapter runs their requests with a request context.
 */
export const PLUGIN_ANNOTATION = "vo:plugin";
/** Events a TD gains (td/) and the VO's checks emit (vo/) when the self-check changes state… */
export const VO_CONNECTION = "voConnection";
/** …and when the device liveness check does. */
export const DEVICE_CONNECTION = "deviceConnection";

/** The three kinds of affordance a Thing Description has. */
export type AffordanceKind = "property" | "action" | "event";

/**
 * What happened to the affordance.
 * `write`: a client wrote a property; `change`: the script announced a property change
 * (emitPropertyChange); `invoke`: a client invoked an action; `emit`: the script emitted an event;
 * `point`: a script wrote its own measurement through `influxdb.writePoint`.
 */
export type RecordOp = "write" | "change" | "invoke" | "emit" | "point";

/** JSON-compatible value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One interaction, as the recorder hands it to the store. */
export interface InteractionRecord {
  /** Thing id (`urn:node-wot-vo:<title>` when the script gave none: stable across restarts). */
  thingId: string;
  thingTitle: string;
  kind: AffordanceKind;
  name: string;
  op: RecordOp;
  /** true when the interaction succeeded. */
  ok: boolean;
  /**
   * JSON text of the value: property value, action input, event data. `undefined` when there was
   * none (an action without input). Kept as text so the hot path never re-serialises a JSON body.
   */
  valueJson?: string;
  /** JSON text of the action output. */
  outputJson?: string;
  /** Error message when `ok` is false. */
  error?: string;
  /** Wall-clock duration of the handler, actions only. */
  durationMs?: number;
  /** Binding scheme that carried the interaction (`http`, `coap`, …) or `local` for the script. */
  source: string;
  /** Milliseconds since the epoch; the store assigns it when absent. */
  time?: number;
}

/** One row of the history as queries return it. */
export interface HistoryRow {
  /** Insertion order; the outbox cursor of the InfluxDB shipper is such an id. */
  id: number;
  /** The row's series (thing × kind × affordance) in the store, when read from it. */
  seriesId?: number;
  /** Milliseconds since the epoch. */
  time: number;
  /** 0…999 999: `time * 1e6 + timeSub` is a nanosecond timestamp unique in the whole store. */
  timeSub: number;
  thingId: string;
  thingTitle: string;
  kind: AffordanceKind;
  name: string;
  op: RecordOp;
  ok: boolean;
  value?: JsonValue;
  output?: JsonValue;
  error?: string;
  durationMs?: number;
  source: string;
}
