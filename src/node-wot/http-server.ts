/**
 * node-wot's HttpServer, wrapped once: the one place where this package stands between an HTTP
 * request and node-wot's router.
 *
 * node-wot 0.9.2 gives a plugin no hook for HTTP requests, so every HttpServer of a servient gets
 * its `handleRequest` replaced, per instance and once, by a function that, in this order:
 *
 *  1. offers the request to the routes added with `addHttpRoute` (a dashboard, /metrics);
 *  2. answers 400 to a query string with malformed percent-encoding. Quirk: node-wot's
 *     `Helpers.parseUrlParameters` throws on it outside any try, an unhandled rejection.
 *     Pinned by test/td-history.test.js ("bad history requests get clear 4xx errors …");
 *  3. resolves the thing the URL addresses (`thingsServedBy`) and asks the gates added with
 *     `addThingRequestGate` (a traffic monitor) whether node-wot may handle it; a request for no
 *     thing, or one a route answered, is told to the observers of `addUngatedRequestObserver`;
 *  4. for PUT/POST remembers the response (responses.ts), and answers 413 to a Content-Length above
 *     the limit given to `interceptHttpRequests`; a chunked body cut off at the limit while node-wot
 *     reads it becomes 413 instead of node-wot's 500. Pinned by test/http-hostile.test.js ("a write
 *     declaring a Content-Length above recorder.maxBodyBytes gets 413 …", "a chunked write that
 *     grows past recorder.maxBodyBytes is cut off with 413 …");
 *  5. answers 404 to affordance names that are only inherited keys. Quirk: node-wot looks names up
 *     with `map[name] == null`, so `constructor`, `__proto__` or `toString` pass as affordances of
 *     every thing and end in a 500. Pinned by test/http-hostile.test.js ("a table of hostile
 *     requests …": GET /properties/constructor → 404);
 *  6. runs the requests that reach plugin affordances (or a thing marked `needsRequestContext`)
 *     inside a request context, and writes the status their handler gave instead of node-wot's 500
 *     (request-context.ts);
 *  7. hands the request to node-wot, answering 400 when node-wot's own handler throws (it parses
 *     the Host header with `new URL`, outside any try).
 *
 * With nothing added, steps 1 and 3 cost one array-length check each: the HTTP hot path is
 * benchmarked with the plugin attached against a servient without it.
 */
import type http from "node:http";
import type { ExposedThing, Servient } from "@node-wot/core";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { refusedBody } from "./content";
import { runInRequestContext, statusOf, wantsRequestContext, type RequestContext } from "./request-context";
import { reasonPhrase, rememberResponse } from "./responses";

const log = createLogger("node-wot");

/** A route answered before node-wot sees the request (e.g. /dashboard/, /metrics). Return true when it answered. May be async. */
export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;

/**
 * Called for every request addressed to an exposed thing, before node-wot handles it. `thingName`
 * is the URL path segment node-wot uses for the thing (its title slug or its id). Return false after
 * answering the request yourself (e.g. 429); true to let node-wot handle it.
 */
export type ThingRequestGate = (
  thingName: string,
  thing: ExposedThing,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => boolean;

/** What the wrap of one servient's HTTP servers does besides node-wot's own work. */
interface Interception {
  readonly routes: HttpRoute[];
  readonly gates: ThingRequestGate[];
  /** Told of every request no gate sees (addUngatedRequestObserver). */
  readonly ungated: ((req: http.IncomingMessage) => void)[];
  /** Request bodies above this many bytes are refused with 413 (`interceptHttpRequests`). */
  maxBodyBytes: number;
}

/** The part of node-wot's HttpServer the wrap uses (`handleRequest` is private in its typings). */
interface HttpServerLike {
  handleRequest: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;
  getThings?: () => unknown;
  things?: unknown;
}

const interceptions = new WeakMap<Servient, Interception>();
const wrappedServers = new WeakSet<object>();

/**
 * Adds a route to every HttpServer of the servient (present now or added later). Routes are tried
 * in the order they were added, before node-wot; a route that throws is answered 500.
 */
export function addHttpRoute(servient: Servient, route: HttpRoute): void {
  interceptionOf(servient).routes.push(route);
}

/** Adds a gate that sees every request addressed to one of the servient's things first. */
export function addThingRequestGate(servient: Servient, gate: ThingRequestGate): void {
  interceptionOf(servient).gates.push(gate);
}

/**
 * Adds an observer told of every request that reaches no gate: one a route answered (told after it
 * answered) and one addressed to no exposed thing (told before node-wot answers it).
 */
export function addUngatedRequestObserver(
  servient: Servient,
  observer: (req: http.IncomingMessage) => void,
): void {
  interceptionOf(servient).ungated.push(observer);
}

/**
 * Installs the wrap on every HttpServer of the servient (now and later) with the plugin's body
 * limit: the 400 / 404 / 413 answers above and the request context of plugin affordances.
 */
export function interceptHttpRequests(servient: Servient, options: { maxBodyBytes: number }): void {
  interceptionOf(servient).maxBodyBytes = options.maxBodyBytes;
}

/**
 * The things an HttpServer serves, by URL path segment (each thing under its title slug and its
 * id). HttpServer.getThings() returns its private map itself, not a copy: a lookup per request is
 * cheap. `undefined` for a server that has no such map (another binding, or node-wot changed).
 */
export function thingsServedBy(server: unknown): Map<string, ExposedThing> | undefined {
  const s = server as HttpServerLike | undefined;
  const things = typeof s?.getThings === "function" ? s.getThings() : s?.things;
  return things instanceof Map ? (things as Map<string, ExposedThing>) : undefined;
}

/** The URL path segment an HttpServer serves the thing under (its first: the title slug). */
export function pathOfThing(server: unknown, thing: ExposedThing): string | undefined {
  const things = thingsServedBy(server);
  if (things === undefined) return undefined;
  for (const [path, served] of things) if (served === thing) return path;
  return undefined;
}

function interceptionOf(servient: Servient): Interception {
  let interception = interceptions.get(servient);
  if (interception === undefined) {
    interception = { routes: [], gates: [], ungated: [], maxBodyBytes: Infinity };
    interceptions.set(servient, interception);
    for (const server of servient.getServers()) wrap(server, interception);
    wrapServersAddedLater(servient, interception);
  }
  return interception;
}

/**
 * node-wot has no event for a server being added: `addServer` of this one servient instance is
 * wrapped so that a server added after a route, a gate or the plugin is wrapped too. Pinned by
 * test/node-wot-adapter.test.js ("a route added before the HttpServer is added answers too").
 */
function wrapServersAddedLater(servient: Servient, interception: Interception): void {
  const addServer = servient.addServer.bind(servient);
  servient.addServer = (server) => {
    const added = addServer(server);
    wrap(server, interception);
    return added;
  };
}

function isHttpServerLike(server: unknown): server is HttpServerLike {
  return (
    typeof server === "object" &&
    server !== null &&
    typeof (server as { handleRequest?: unknown }).handleRequest === "function" &&
    typeof (server as { getServer?: unknown }).getServer === "function"
  );
}

function wrap(server: unknown, interception: Interception): void {
  if (!isHttpServerLike(server) || wrappedServers.has(server)) return;
  wrappedServers.add(server);
  const original = server.handleRequest.bind(server);

  const toNodeWot = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      await original(req, res);
    } catch (err) {
      log.warn("HTTP request %s %s failed: %s", req.method, req.url, errorMessage(err));
      if (!res.headersSent) respond(res, 400, errorMessage(err));
    }
  };

  const intercept = (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | undefined => {
    const url = req.url ?? "/";
    if (url.includes("%")) {
      const malformed = malformedQuery(url);
      if (malformed !== undefined) {
        respond(res, 400, malformed);
        return;
      }
    }
    const q = url.indexOf("?");
    const parts = (q < 0 ? url : url.slice(0, q)).split("/"); // "", thing, kind, name, …
    const gates = interception.gates;
    let things: Map<string, ExposedThing> | undefined;
    let thing: ExposedThing | undefined;
    let thingName = "";
    if (parts.length >= 4 || (gates.length > 0 && parts.length >= 2 && parts[1] !== "")) {
      things = thingsServedBy(server);
      try {
        thingName = decodeURIComponent(parts[1]);
        thing = things?.get(thingName);
      } catch {
        thing = undefined; // node-wot answers malformed paths itself
      }
    }
    if (thing !== undefined) {
      if (gates.length > 0 && !passesGates(gates, thingName, thing, req, res)) return;
    } else if (interception.ungated.length > 0) tellUngated(interception.ungated, req);

    // A body can only be refused part-way when it declares no length (chunked): only those writes
    // get the status patch below without a context.
    let chunkedWrite = false;
    if (req.method === "PUT" || req.method === "POST") {
      rememberResponse(req, res);
      const declared = req.headers["content-length"];
      if (declared !== undefined) {
        if (Number(declared) > interception.maxBodyBytes) {
          respond(res, 413, tooLargeMessage(Number(declared), interception.maxBodyBytes));
          return;
        }
      } else chunkedWrite = req.headers["transfer-encoding"] !== undefined;
    }
    const how = routeOf(parts, things, thing);
    if (typeof how === "object") {
      respond(res, 404, how.notFound);
      return;
    }
    const withContext = how === "context";
    if (!withContext && !chunkedWrite) return toNodeWot(req, res);
    const ctx: RequestContext = { req, res };
    answerTheHandlersStatus(req, res, ctx);
    return withContext ? runInRequestContext(ctx, () => toNodeWot(req, res)) : toNodeWot(req, res);
  };

  server.handleRequest = (req, res) =>
    interception.routes.length === 0
      ? intercept(req, res)
      : routesFirst(interception.routes, req, res, intercept, interception.ungated);
}

/** Tells the observers of ungated requests; one that throws is logged and the request goes on. */
function tellUngated(
  observers: readonly ((req: http.IncomingMessage) => void)[],
  req: http.IncomingMessage,
): void {
  for (const observe of observers) {
    try {
      observe(req);
    } catch (err) {
      log.error(
        "an observer of ungated requests failed on %s %s: %s",
        req.method,
        req.url,
        errorMessage(err),
      );
    }
  }
}

async function routesFirst(
  routes: readonly HttpRoute[],
  req: http.IncomingMessage,
  res: http.ServerResponse,
  next: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | undefined,
  ungated: readonly ((req: http.IncomingMessage) => void)[],
): Promise<void> {
  for (const route of routes) {
    try {
      if (await route(req, res)) {
        if (ungated.length > 0) tellUngated(ungated, req);
        return;
      }
    } catch (err) {
      log.error("HTTP route failed on %s %s: %s", req.method, req.url, errorMessage(err));
      if (!res.headersSent)
        respond(res, 500, `the route for ${req.method} ${req.url} failed: ${errorMessage(err)}`);
      else res.end();
      return;
    }
  }
  await next(req, res);
}

/** True when every gate lets node-wot handle the request; a gate that throws refuses it with 500. */
function passesGates(
  gates: readonly ThingRequestGate[],
  thingName: string,
  thing: ExposedThing,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): boolean {
  for (const gate of gates) {
    try {
      if (!gate(thingName, thing, req, res)) return false;
    } catch (err) {
      log.error("HTTP request gate failed on %s %s: %s", req.method, req.url, errorMessage(err));
      if (!res.headersSent)
        respond(res, 500, `a request gate of '${thingName}' failed: ${errorMessage(err)}`);
      return false;
    }
  }
  return true;
}

/** How a request is handled: with a context, straight through, or refused here (404). */
type Route = "context" | "plain" | { notFound: string };

/** Whether the request targets a plugin affordance or a context thing (module comment, steps 5–6). */
function routeOf(
  parts: string[],
  things: Map<string, ExposedThing> | undefined,
  thing: ExposedThing | undefined,
): Route {
  if (parts.length < 4) return "plain";
  if (things === undefined) return "context"; // node-wot changed: keep statuses right, pay the cost
  if (thing === undefined) return "plain";
  let name: string;
  try {
    name = decodeURIComponent(parts[3]);
  } catch {
    return "plain"; // node-wot answers malformed paths itself
  }
  const kind = parts[2];
  if (kind !== "properties" && kind !== "actions" && kind !== "events")
    return wantsRequestContext(thing, undefined) ? "context" : "plain";
  const map = thing[kind] as Record<string, Record<string, unknown> | undefined> | undefined;
  const affordance = map?.[name];
  if (affordance !== undefined && map !== undefined && !Object.hasOwn(map, name)) {
    const what = kind === "properties" ? "property" : kind.slice(0, -1);
    return { notFound: `'${String(thing.title)}' has no ${what} named ${JSON.stringify(name.slice(0, 80))}` };
  }
  return wantsRequestContext(thing, affordance) ? "context" : "plain";
}

/**
 * When node-wot's route is about to answer 500, answer the status the handler gave (`reject`), or
 * 413 for a body the adapter stopped reading at the limit, with the message as reason phrase
 * (node-wot's consumer reports it as "Client error: <reason>"); node-wot writes the body.
 */
function answerTheHandlersStatus(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: RequestContext,
): void {
  const writeHead = res.writeHead as (...a: unknown[]) => http.ServerResponse;
  res.writeHead = function (this: http.ServerResponse, code: number, ...rest: unknown[]) {
    if (code === 500) {
      const refused = ctx.status === undefined ? refusedBody(req) : undefined;
      const status = ctx.status ?? (refused ? statusOf(refused) : undefined);
      if (status !== undefined) {
        // The rest of a refused body is never read: close the connection instead of draining it.
        if (status === 413) res.setHeader("Connection", "close");
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
        return writeHead.call(this, status, reasonPhrase(ctx.message ?? refused?.message ?? ""));
      }
    }
    return writeHead.call(this, code, ...rest);
  } as typeof res.writeHead;
}

function tooLargeMessage(declared: number, max: number): string {
  return (
    `request body of ${declared} bytes (Content-Length) is larger than ${max} bytes (the limit, recorder.maxBodyBytes): ` +
    "send a smaller body, or raise the option recorder.maxBodyBytes"
  );
}

function respond(res: http.ServerResponse, status: number, message: string): void {
  const headers: http.OutgoingHttpHeaders = { "Content-Type": "text/plain; charset=utf-8" };
  if (status === 413) headers.Connection = "close"; // the body is never read: do not drain it
  res.writeHead(status, reasonPhrase(message), headers);
  res.end(message);
}

function malformedQuery(url: string | undefined): string | undefined {
  const q = url?.split("?")[1];
  if (!q) return undefined;
  for (const part of q.split("&")) {
    for (const piece of part.split("=")) {
      try {
        decodeURIComponent(piece);
      } catch {
        return `malformed percent-encoding in the query string: '${piece.slice(0, 60)}'`;
      }
    }
  }
  return undefined;
}
