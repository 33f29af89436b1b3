/**
 * Hooks on one ExposedThing of node-wot 0.9.2, which has no event or middleware API for them. Each
 * replaces a method of that one instance (never the prototype, so things of other servients in the
 * process stay untouched) and keeps node-wot's own method as the inner call. Installed when a thing
 * is added to the servient (inside `WoT.produce`), before the script sets its handlers.
 *
 * Wrappers nest in the order they are installed: the one installed last runs first.
 */
import type { Content, ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";

/** The options node-wot passes to `handle*` (`formIndex`: the form the request came through). */
export type HandlerOptions = WoT.InteractionOptions & { formIndex: number };

/** Runs around node-wot's handling of a property write; `write` is node-wot's (with any payload). */
export type PropertyWriteInterceptor = (
  name: string,
  input: Content,
  options: HandlerOptions,
  write: (input: Content) => Promise<void>,
) => Promise<void>;

/** Runs around node-wot's handling of an action invocation; `invoke` is node-wot's. */
export type ActionInvocationInterceptor = (
  name: string,
  input: Content,
  options: HandlerOptions,
  invoke: (input: Content) => Promise<Content | void>,
) => Promise<Content | void>;

/**
 * Every protocol binding delivers a property write through `handleWriteProperty`, with the raw
 * payload: the one place to see (and read once) what a client wrote. Pinned by
 * test/recorder-http.test.js ("PUT property is recorded with its value, …").
 */
export function interceptPropertyWrites(thing: ExposedThing, interceptor: PropertyWriteInterceptor): void {
  const handle = thing.handleWriteProperty.bind(thing);
  thing.handleWriteProperty = (name: string, input: Content, options: HandlerOptions) =>
    interceptor(name, input, options, (content) => handle(name, content, options));
}

/**
 * Every protocol binding delivers an action invocation through `handleInvokeAction`, with the raw
 * input; its result is the output the binding sends. Pinned by test/recorder-http.test.js ("POST
 * action records input, output and duration") and, for the plugin's bounded action inputs, by
 * test/http-hostile.test.js ("deep JSON in any plugin action input is a 400 …").
 */
export function interceptActionInvocations(
  thing: ExposedThing,
  interceptor: ActionInvocationInterceptor,
): void {
  const handle = thing.handleInvokeAction.bind(thing);
  thing.handleInvokeAction = (name: string, input: Content, options: HandlerOptions) =>
    interceptor(name, input, options, (content) => handle(name, content, options));
}

/**
 * `emitEvent` is synchronous and has no listener API on the producing side: `emitted` runs after
 * node-wot accepted the event (an unknown name throws in node-wot first, and `emitted` never sees
 * it). Pinned by test/launcher.test.js ("SIGTERM while a script emits events: every emitted event is
 * committed").
 */
export function onEventEmitted(
  thing: ExposedThing,
  emitted: (name: string, data: WoT.InteractionInput) => void,
): void {
  const emit = thing.emitEvent.bind(thing);
  thing.emitEvent = (name: string, data: WoT.InteractionInput): void => {
    emit(name, data);
    emitted(name, data);
  };
}

/** Who wants to know about the property changes a script announces. */
export interface PropertyChangeObserver {
  /** Whether changes of `name` are wanted; when not, node-wot's emitPropertyChange runs untouched. */
  wants(name: string): boolean;
  /**
   * After node-wot's emitPropertyChange(name): the value the property's read handler returned during
   * that call (undefined when it was not read). The script's call completes when this does.
   */
  changed(name: string, value: unknown): Promise<void>;
}

interface ChangeSlot {
  captured: boolean;
  value: unknown;
}

/**
 * Quirk (docs/node-wot-quirks.md): ExposedThing has no local `writeProperty`, so a script's own
 * state changes are visible only when it announces them with `emitPropertyChange(name)`, which
 * reads the property through its read handler to notify observers. While that call runs, the read
 * handler (wrapped here when the script sets it) hands its result to the waiting observer: no second
 * read. A client's read that overlaps gives the same current value. Not AsyncLocalStorage: it would
 * put a hook on every promise of the process. Pinned by test/recorder-http.test.js and
 * test/vo-mirror.test.js (reads from the device recorded as changes).
 */
export function observePropertyChanges(thing: ExposedThing, observer: PropertyChangeObserver): void {
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
  const emitPropertyChange = thing.emitPropertyChange.bind(thing);
  thing.emitPropertyChange = async (name: string): Promise<void> => {
    if (!observer.wants(name)) return emitPropertyChange(name);
    const slot: ChangeSlot = { captured: false, value: undefined };
    let slots = waiting.get(name);
    if (slots === undefined) waiting.set(name, (slots = []));
    slots.push(slot);
    try {
      await emitPropertyChange(name);
    } finally {
      slots.splice(slots.indexOf(slot), 1);
      if (slots.length === 0) waiting.delete(name);
    }
    await observer.changed(name, slot.value);
  };
}

/**
 * `expose()` is the last moment before the servers read the TD: `prepare` runs first (with the
 * affordances the script added after produce). Pinned by test/td-history.test.js ("a fetch client
 * following only the TD's forms …": the `name` enum) and test/influx-v1.test.js ("two things sharing
 * a property name with different types both arrive": field types from the TD).
 */
export function beforeExpose(thing: ExposedThing, prepare: () => void): void {
  const expose = thing.expose.bind(thing);
  thing.expose = () => {
    prepare();
    return expose();
  };
}

/**
 * Members added to the thing, non-enumerable so that they never leak into its TD (vo-wot scripts
 * reach the helpers as `exposed_thing.servient.sqlite_db`). Pinned by test/recorder-http.test.js
 * ("the thing and WoT reach the helpers, which stay out of the TD").
 */
export function decorateThing(thing: ExposedThing, members: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(members))
    Object.defineProperty(thing, key, { value, enumerable: false, configurable: true });
}
