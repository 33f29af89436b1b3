// TEMPORARY shim until the adapter room lands — replaced at merge
/**
 * Extra HTTP routes and per-thing request gates on every node-wot HttpServer of a servient.
 *
 * Minimal implementation of the adapter room's API (same names and types), so the dashboard and
 * the metrics can be developed and tested end to end: it wraps each HttpServer instance's
 * `handleRequest` and finds the thing of a request by the first URL path segment in node-wot's
 * private map of URL paths (title slug and id) to things.
 */
import type * as http from "node:http";
import type { ExposedThing, Servient } from "@node-wot/core";

/** An extra route: answers the request and returns true, or returns false to pass it on. */
export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>; // true when it answered

/** Runs before node-wot handles a request to a thing; false after answering it yourself. */
export type ThingRequestGate = (
  thingName: string,
  thing: ExposedThing,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => boolean;

interface Hooks {
  routes: HttpRoute[];
  gates: ThingRequestGate[];
}

interface HttpServerLike {
  handleRequest: (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
  things?: unknown;
}

const hooksOf = new WeakMap<Servient, Hooks>();
const wrapped = new WeakSet<object>();

/** Every HttpServer of the servient (and any added later) tries `route` before node-wot. */
export function addHttpRoute(servient: Servient, route: HttpRoute): void {
  install(servient).routes.push(route);
}

/** Every request to an exposed thing passes `gate` before node-wot handles it. */
export function addThingRequestGate(servient: Servient, gate: ThingRequestGate): void {
  install(servient).gates.push(gate);
}

function install(servient: Servient): Hooks {
  let hooks = hooksOf.get(servient);
  if (hooks) return hooks;
  hooks = { routes: [], gates: [] };
  hooksOf.set(servient, hooks);
  const h = hooks;
  for (const server of servient.getServers()) wrap(server, h);
  const addServer = servient.addServer.bind(servient);
  servient.addServer = (server) => {
    const added = addServer(server);
    wrap(server, h);
    return added;
  };
  return hooks;
}

function wrap(server: unknown, hooks: Hooks): void {
  if (typeof server !== "object" || server === null || wrapped.has(server)) return;
  const s = server as HttpServerLike;
  if (typeof s.handleRequest !== "function" || typeof (s as { getServer?: unknown }).getServer !== "function")
    return;
  wrapped.add(server);
  const original = s.handleRequest.bind(s);
  const gated = (req: http.IncomingMessage, res: http.ServerResponse): unknown => {
    if (hooks.gates.length > 0) {
      const found = thingOf(s, req.url ?? "/");
      if (found)
        for (const gate of hooks.gates) if (!gate(found.name, found.thing, req, res)) return undefined;
    }
    return original(req, res);
  };
  s.handleRequest = (req, res) => {
    const routes = hooks.routes;
    for (let i = 0; i < routes.length; i++) {
      const answered = routes[i](req, res);
      if (answered === true) return undefined;
      if (answered instanceof Promise) return continueAsync(answered, i, routes, req, res, gated);
    }
    return gated(req, res);
  };
}

async function continueAsync(
  pending: Promise<boolean>,
  index: number,
  routes: HttpRoute[],
  req: http.IncomingMessage,
  res: http.ServerResponse,
  next: (req: http.IncomingMessage, res: http.ServerResponse) => unknown,
): Promise<unknown> {
  if (await pending) return undefined;
  for (let i = index + 1; i < routes.length; i++) if (await routes[i](req, res)) return undefined;
  return next(req, res);
}

/** The thing named by the first path segment (slug or id), from node-wot's private map. */
function thingOf(server: HttpServerLike, url: string): { name: string; thing: ExposedThing } | undefined {
  const things = server.things;
  if (!(things instanceof Map) || url.length < 2) return undefined;
  let end = url.indexOf("/", 1);
  const q = url.indexOf("?");
  if (end < 0 || (q >= 0 && q < end)) end = q < 0 ? url.length : q;
  let name: string;
  try {
    name = decodeURIComponent(url.slice(1, end));
  } catch {
    return undefined;
  }
  const thing = things.get(name) as ExposedThing | undefined;
  return thing ? { name, thing } : undefined;
}
