/**
 * Turns every interaction of an exposed thing into an InteractionRecord, by wrapping the thing's
 * own methods (per instance, so only things of this servient are touched):
 *
 *  - handleWriteProperty / handleInvokeAction: what every protocol binding calls. The payload is
 *    read once and node-wot gets a BufferedContent, so handlers can still use value(), data or
 *    arrayBuffer(). The call completes only after the record is committed.
 *  - emitEvent (synchronous in node-wot): recorded in the next group commit, the script does not wait.
 *  - emitPropertyChange: the value the read handler returns during that call is captured (no
 *    second read), then recorded. Not AsyncLocalStorage: it would put a hook on every promise of
 *    the process.
 *
 * Errors of the interaction are re-thrown unchanged; a failure of the store is reported as such.
 */
import { performance } from "node:perf_hooks";
import type { Content, ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import type { HistoryStore } from "../store/history";
import type { AffordanceKind, InteractionRecord } from "../types";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { answerInsteadOf500, isDataSchemaError } from "../node-wot/responses";
import {
  BodyTooLargeError,
  BufferedContent,
  bytesToJson,
  placeholder,
  readContent,
  valueToJson,
  type ValueLimits,
} from "./content";
import { RecordFilter, type FilterOptions } from "./filter";

const log = createLogger("recorder");

export interface RecorderOptions extends FilterOptions, ValueLimits {
  enabled: boolean;
  /** A request body is read up to this many bytes; past that the interaction is refused (413). */
  maxBodyBytes: number;
}

type InteractionOptions = WoT.InteractionOptions & { formIndex: number };
type Affordance = { forms?: { href?: string }[]; [key: string]: unknown };

interface ChangeSlot {
  captured: boolean;
  value: unknown;
}

/** Thrown when the interaction succeeded but its record could not be committed. */
export class RecordNotCommittedError extends Error {
  constructor(cause: unknown) {
    super(`the interaction completed but node-wot-vo could not record it: ${errorMessage(cause)}`);
    this.name = "RecordNotCommittedError";
  }
}

export class Recorder {
  private readonly filter: RecordFilter;
  private readonly instrumented = new WeakSet<ExposedThing>();
  private readonly decisions = new WeakMap<ExposedThing, Map<string, boolean>>();

  constructor(
    private readonly store: HistoryStore,
    private readonly options: RecorderOptions,
  ) {
    this.filter = new RecordFilter(options);
  }

  /** Installs the wrappers on one thing (idempotent). Call before the script sets handlers. */
  instrument(thing: ExposedThing): void {
    if (!this.options.enabled || this.instrumented.has(thing)) return;
    this.instrumented.add(thing);
    this.wrapWriteProperty(thing);
    this.wrapInvokeAction(thing);
    this.wrapEmitEvent(thing);
    this.wrapPropertyChange(thing);
  }

  /** Forget cached include/exclude decisions (after affordances were added to a thing). */
  refresh(thing: ExposedThing): void {
    this.decisions.delete(thing);
  }

  private records(thing: ExposedThing, kind: AffordanceKind, name: string): boolean {
    let cache = this.decisions.get(thing);
    if (cache === undefined) this.decisions.set(thing, (cache = new Map()));
    const key = `${kind}:${name}`;
    let decision = cache.get(key);
    if (decision === undefined) {
      decision = this.filter.accepts(thing as never, kind, name, affordanceOf(thing, kind, name));
      cache.set(key, decision);
    }
    return decision;
  }

  /** A record with every field present, so all records share one object shape (cheap on the hot path). */
  private record(
    thing: ExposedThing,
    kind: AffordanceKind,
    name: string,
    op: InteractionRecord["op"],
    source: string,
    valueJson: string | undefined,
  ): InteractionRecord {
    return {
      thingId: thing.id,
      thingTitle: thing.title,
      kind,
      name,
      op,
      ok: true,
      valueJson,
      outputJson: undefined,
      error: undefined,
      durationMs: undefined,
      source,
      time: undefined,
    };
  }

  private wrapWriteProperty(thing: ExposedThing): void {
    const original = thing.handleWriteProperty.bind(thing);
    thing.handleWriteProperty = async (name: string, input: Content, options: InteractionOptions) => {
      if (!this.records(thing, "property", name)) return original(name, input, options);
      const schema = thing.properties[name] as WoT.DataSchema;
      await this.around(thing, "property", name, "write", input, options, schema, (c) =>
        original(name, c, options),
      );
    };
  }

  private wrapInvokeAction(thing: ExposedThing): void {
    const original = thing.handleInvokeAction.bind(thing);
    thing.handleInvokeAction = async (name: string, input: Content, options: InteractionOptions) => {
      if (!this.records(thing, "action", name)) return original(name, input, options);
      const action = thing.actions[name] as { input?: WoT.DataSchema; output?: WoT.DataSchema } | undefined;
      return this.around(
        thing,
        "action",
        name,
        "invoke",
        input,
        options,
        action?.input,
        (c) => original(name, c, options),
        action?.output,
      );
    };
  }

  /**
   * One remote interaction: reads the payload once, runs node-wot's own handling with a buffered
   * copy, records the outcome (actions also their duration and output), and completes only after
   * the record is committed. The interaction's error is re-thrown unchanged.
   */
  private async around<T extends Content | void>(
    thing: ExposedThing,
    kind: "property" | "action",
    name: string,
    op: "write" | "invoke",
    input: Content,
    options: InteractionOptions,
    schema: WoT.DataSchema | undefined,
    call: (content: Content) => Promise<T>,
    outputSchema?: WoT.DataSchema,
  ): Promise<T> {
    const source = sourceOf(thing, kind, name, options);
    let bytes: Buffer;
    try {
      bytes = await readContent(input, this.options.maxBodyBytes);
    } catch (err) {
      // Refused before node-wot saw it: recorded as a failed interaction, without the body.
      if (!(err instanceof BodyTooLargeError)) throw err;
      const refused = this.record(thing, kind, name, op, source, tooLarge(input.type, err));
      refused.ok = false;
      refused.error = err.message;
      await this.commit(refused, false);
      throw err;
    }
    const content = new BufferedContent(input.type, bytes) as unknown as Content;
    const record = this.record(
      thing,
      kind,
      name,
      op,
      source,
      bytesToJson(input.type, bytes, schema, this.options),
    );
    const started = kind === "action" ? performance.now() : 0;
    let output: T;
    try {
      output = await call(content);
    } catch (err) {
      if (kind === "action") record.durationMs = performance.now() - started;
      record.ok = false;
      record.error = errorMessage(err);
      await this.commit(record, false);
      // node-wot answers a value that fails the data schema (or overflows its validator's stack
      // by its nesting) with 500: it is the client's mistake.
      const what = kind === "property" ? "value" : "input";
      if (isDataSchemaError(err))
        answerInsteadOf500(
          input.body,
          400,
          `the ${what} does not match the data schema of ${kind} '${name}' of '${thing.title}'`,
        );
      else if (err instanceof RangeError && record.valueJson?.startsWith('{"$tooDeep"'))
        answerInsteadOf500(
          input.body,
          400,
          `the ${what} is nested deeper than ${this.options.maxDepth} levels (recorder.maxDepth)`,
        );
      throw err;
    }
    if (kind === "action") record.durationMs = performance.now() - started;
    if (output) {
      // An action's output: record it, and hand the binding a buffered copy of the bytes.
      const outBytes = await readContent(output);
      record.outputJson = bytesToJson(output.type, outBytes, outputSchema, this.options);
      output = new BufferedContent(output.type, outBytes) as unknown as T;
    }
    await this.commit(record, true);
    return output;
  }

  private wrapEmitEvent(thing: ExposedThing): void {
    const original = thing.emitEvent.bind(thing);
    thing.emitEvent = (name: string, data: WoT.InteractionInput): void => {
      original(name, data); // unknown names throw here and are not recorded
      if (!this.records(thing, "event", name)) return;
      this.store
        .append(this.record(thing, "event", name, "emit", "local", valueToJson(data, this.options)))
        .catch((err) =>
          log.error("event '%s' of '%s' not recorded: %s", name, thing.title, errorMessage(err)),
        );
    };
  }

  private wrapPropertyChange(thing: ExposedThing): void {
    // While emitPropertyChange(name) runs, the wrapped read handler of `name` hands its result to
    // the waiting slots. A read by a client that overlaps gives the same current value.
    const waiting = new Map<string, ChangeSlot[]>();
    const setReadHandler = thing.setPropertyReadHandler.bind(thing);
    thing.setPropertyReadHandler = (name: string, handler: WoT.PropertyReadHandler): WoT.ExposedThing =>
      setReadHandler(name, async (options?: WoT.InteractionOptions) => {
        const value = await handler(options);
        const slots = waiting.get(name);
        if (slots !== undefined) {
          for (const slot of slots) {
            if (!slot.captured) {
              slot.captured = true;
              slot.value = value;
            }
          }
        }
        return value;
      });
    const original = thing.emitPropertyChange.bind(thing);
    thing.emitPropertyChange = async (name: string): Promise<void> => {
      if (!this.records(thing, "property", name)) return original(name);
      const slot: ChangeSlot = { captured: false, value: undefined };
      let slots = waiting.get(name);
      if (slots === undefined) waiting.set(name, (slots = []));
      slots.push(slot);
      try {
        await original(name);
      } finally {
        slots.splice(slots.indexOf(slot), 1);
        if (slots.length === 0) waiting.delete(name);
      }
      await this.commit(
        this.record(thing, "property", name, "change", "local", valueToJson(slot.value, this.options)),
        true,
      );
    };
  }

  /** Waits for the record's group commit. */
  private async commit(record: InteractionRecord, succeeded: boolean): Promise<void> {
    try {
      await this.store.append(record);
    } catch (err) {
      // The interaction's own error wins when it failed; otherwise the client must learn that
      // its acknowledged interaction is not in the history.
      if (succeeded) throw new RecordNotCommittedError(err);
    }
  }
}

function affordanceOf(thing: ExposedThing, kind: AffordanceKind, name: string): Affordance | undefined {
  const map = (kind === "property" ? thing.properties : kind === "action" ? thing.actions : thing.events) as
    Record<string, Affordance> | undefined;
  return map?.[name];
}

/** Stored instead of a body refused at the limit: what is known of it (it was not read whole). */
function tooLarge(type: string, err: BodyTooLargeError): string {
  return placeholder({
    $truncated: true,
    bytes: err.bytesRead,
    maxBodyBytes: err.maxBodyBytes,
    contentType: type,
  });
}

/** The binding scheme of the form the request came through (`http`, `coap`, …). */
function sourceOf(
  thing: ExposedThing,
  kind: AffordanceKind,
  name: string,
  options: InteractionOptions | undefined,
): string {
  const forms = affordanceOf(thing, kind, name)?.forms;
  const href = forms?.[options?.formIndex ?? 0]?.href ?? forms?.[0]?.href;
  if (typeof href !== "string") return "remote";
  const colon = href.indexOf(":");
  return colon > 0 ? href.slice(0, colon) : "remote";
}
