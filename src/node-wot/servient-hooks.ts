/**
 * Hooks on one node-wot Servient. Quirk (docs/node-wot-quirks.md): 0.9.2's Servient has no hook or
 * event API, so nothing tells a plugin that a thing was produced, that the servient started or that
 * it shut down. Each function here replaces a method of that one instance (never the prototype: other
 * servients in the process stay untouched) and calls node-wot's own method inside.
 */
import type { ExposedThing, Servient } from "@node-wot/core";
import { assignStableId } from "./thing-id";

/**
 * `added(thing, idDerived)` runs for every thing node-wot adds (inside `WoT.produce`, before the
 * script sees the thing). Before node-wot's `addThing`, a thing without an id gets the stable id
 * derived from its title (thing-id.ts) instead of node-wot's random one; `idDerived` says so.
 * A thing node-wot refuses (its id is taken) is not passed on. Pinned by every recorder test, and by
 * test/identity.test.js for the id.
 */
export function onAddThing(
  servient: Servient,
  added: (thing: ExposedThing, idDerived: boolean) => void,
): void {
  const addThing = servient.addThing.bind(servient);
  servient.addThing = (thing: ExposedThing): boolean => {
    const idDerived = assignStableId(servient, thing);
    const accepted = addThing(thing);
    if (accepted) added(thing, idDerived);
    return accepted;
  };
}

export interface StartHooks {
  /** Before node-wot starts its servers (the server list is final). */
  beforeServersStart(): void;
  /** After node-wot started, with the `WoT` object it returns; `start()` resolves after this. */
  started(wot: typeof WoT): Promise<void>;
}

/** Pinned by test/library.test.js (addresses advertised, self-check started). */
export function onStart(servient: Servient, hooks: StartHooks): void {
  const start = servient.start.bind(servient);
  servient.start = async () => {
    hooks.beforeServersStart();
    const wot = await start();
    await hooks.started(wot);
    return wot;
  };
}

/**
 * `stopped()` runs after node-wot's shutdown, also when that failed; `shutdown()` resolves after it.
 * Pinned by test/launcher.test.js ("SIGTERM while a script emits events: every emitted event is
 * committed").
 */
export function onShutdown(servient: Servient, stopped: () => Promise<void>): void {
  const shutdown = servient.shutdown.bind(servient);
  servient.shutdown = async () => {
    try {
      await shutdown();
    } finally {
      await stopped();
    }
  };
}

/**
 * `exposed(thing)` runs after the servient exposed a thing on its servers (the launcher prints its
 * TD URL). Pinned by test/launcher.test.js ("the demo VO starts, …").
 */
export function afterExpose(servient: Servient, exposed: (thing: ExposedThing) => void): void {
  const expose = servient.expose.bind(servient);
  servient.expose = async (thing: ExposedThing) => {
    await expose(thing);
    exposed(thing);
  };
}

/**
 * `destroyed(thingId)` runs after the servient destroyed a thing (`ExposedThing.destroy()` calls
 * `servient.destroyThing`), only when it had that thing. Pinned by test/sm-launcher.test.js (a
 * launcher thing destroyed mid-run is marked stopped).
 */
export function afterDestroy(servient: Servient, destroyed: (thingId: string) => void): void {
  const destroyThing = servient.destroyThing.bind(servient);
  servient.destroyThing = async (thingId: string) => {
    const had = servient.getThing(thingId) !== undefined;
    const result = await destroyThing(thingId);
    if (had) destroyed(thingId);
    return result;
  };
}

/**
 * Read-only, non-enumerable members added to the servient (fastify's `decorate`): `sqlite_db`,
 * `influxdb`, `vo`. Typed by declaration merging in src/servient.ts. Pinned by
 * test/recorder-http.test.js ("the thing and WoT reach the helpers, which stay out of the TD").
 */
export function decorateServient(servient: Servient, members: Record<string | symbol, unknown>): void {
  for (const key of Reflect.ownKeys(members))
    Object.defineProperty(servient, key, { value: members[key], enumerable: false });
}

/**
 * Members added to the `WoT` object node-wot hands scripts (scripts that only see `WoT` reach the
 * helpers as `WoT.sqlite_db`), unless node-wot already has a member of that name. Pinned by
 * test/recorder-http.test.js ("the thing and WoT reach the helpers, …").
 */
export function decorateWoT(wot: typeof WoT, members: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(members))
    if (!(key in wot)) Object.defineProperty(wot, key, { value, enumerable: false });
}
