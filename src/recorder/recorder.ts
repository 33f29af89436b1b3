/**
 * Turns every interaction of an exposed thing into an InteractionRecord, through the node-wot
 * adapter's hooks on that one thing (src/node-wot/exposed-thing.ts):
 *
 *  - property writes and action invocations, as every protocol binding delivers them. The payload is
 *    read once and node-wot gets a BufferedContent, so handlers can still use value(), data or
 *    arrayBuffer(). The call completes only after the record is committed.
 *  - emitted events (emitEvent is synchronous in node-wot): recorded in the next group commit, the
 *    script does not wait.
 *  - property changes the script announces: the value its read handler returned during
 *    emitPropertyChange, recorded before that call completes.
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
import { BodyTooLargeError, BufferedContent, readContent } from "../node-wot/content";
import {
  interceptActionInvocations,
  interceptPropertyWrites,
  observePropertyChanges,
  onEventEmitted,
  type HandlerOptions,
} from "../node-wot/exposed-thing";
import { answerInsteadOf500, isDataSchemaError } from "../node-wot/responses";
import { bytesToJson, placeholder, valueToJson, type ValueLimits } from "./content";
import { RecordFilter, type FilterOptions } from "./filter";

const log = createLogger("recorder");

export interface RecorderOptions extends FilterOptions, ValueLimits {
  enabled: boolean;
  /** A request body is read up to this many bytes; past that the interaction is refused (413). */
  maxBodyBytes: number;
}

type Affordance = { forms?: { href?: string }[]; [key: string]: unknown };

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
    this.recordWrites(thing);
    this.recordInvocations(thing);
    this.recordEvents(thing);
    this.recordChanges(thing);
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

  private recordWrites(thing: ExposedThing): void {
    interceptPropertyWrites(thing, async (name, input, options, write) => {
      if (!this.records(thing, "property", name)) return write(input);
      const schema = thing.properties[name] as WoT.DataSchema;
      await this.around(thing, "property", name, "write", input, options, schema, write);
    });
  }

  private recordInvocations(thing: ExposedThing): void {
    interceptActionInvocations(thing, async (name, input, options, invoke) => {
      if (!this.records(thing, "action", name)) return invoke(input);
      const action = thing.actions[name] as { input?: WoT.DataSchema; output?: WoT.DataSchema } | undefined;
      return this.around(
        thing,
        "action",
        name,
        "invoke",
        input,
        options,
        action?.input,
        invoke,
        action?.output,
      );
    });
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
    options: HandlerOptions,
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

  private recordEvents(thing: ExposedThing): void {
    onEventEmitted(thing, (name, data) => {
      if (!this.records(thing, "event", name)) return;
      this.store
        .append(this.record(thing, "event", name, "emit", "local", valueToJson(data, this.options)))
        .catch((err) =>
          log.error("event '%s' of '%s' not recorded: %s", name, thing.title, errorMessage(err)),
        );
    });
  }

  private recordChanges(thing: ExposedThing): void {
    observePropertyChanges(thing, {
      wants: (name) => this.records(thing, "property", name),
      changed: (name, value) =>
        this.commit(
          this.record(thing, "property", name, "change", "local", valueToJson(value, this.options)),
          true,
        ),
    });
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
  options: HandlerOptions | undefined,
): string {
  const forms = affordanceOf(thing, kind, name)?.forms;
  const href = forms?.[options?.formIndex ?? 0]?.href ?? forms?.[0]?.href;
  if (typeof href !== "string") return "remote";
  const colon = href.indexOf(":");
  return colon > 0 ? href.slice(0, colon) : "remote";
}
