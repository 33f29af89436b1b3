/**
 * The HTTP request behind a plugin affordance's handler, and the status code of its errors.
 *
 * node-wot 0.9.2's HTTP routes answer every error thrown by a handler with 500, and handlers never
 * see the request. Both matter for the plugin's affordances: a bad history query is the client's
 * fault (400), a duplicate observer a conflict (409), a change from a remote client without
 * credentials forbidden (403). So every HttpServer of the servient gets its `handleRequest` wrapped
 * (per instance) to run the requests that reach plugin affordances (and every request of a device
 * mirror) inside an AsyncLocalStorage context holding `req` and `res`; other requests pass through.
 * A plugin handler that rejects a request calls `reject(err)`, which notes the status in the
 * context; when the route then writes its 500, the wrapper writes that status instead, with the
 * message as reason phrase (node-wot's consumer reports it as "Client error: <reason>") and body.
 *
 * The wrapper also answers 400 to query strings with malformed percent-encoding, which would make
 * node-wot's `Helpers.parseUrlParameters` throw outside any try (an unhandled rejection); 404 to
 * affordance names that are only inherited keys (`constructor`, `__proto__`), which node-wot takes
 * for affordances of every thing; and 413 to a PUT/POST whose Content-Length is above
 * `recorder.maxBodyBytes`. A chunked write (no length) cannot be judged up front: it gets the
 * status patch, and a body whose reading stopped at the limit (`refusedBody`) answers 413.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type http from "node:http";
import type { Content, ExposedThing, Servient } from "@node-wot/core";
import type { VoHelpers } from "../servient";
import { OPTIONS_SCHEMA } from "../config";
import { VoError, errorMessage } from "../errors";
import { BufferedContent, readContent, refusedBody } from "../recorder/content";
import { reasonPhrase, rememberResponse } from "../node-wot/responses";
import { PLUGIN_ANNOTATION } from "../recorder/filter";
import { createLogger } from "../log";

const log = createLogger("td");

export interface RequestContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  /** Status to answer instead of node-wot's 500, set by `reject`. */
  status?: number;
  message?: string;
}

const requests = new AsyncLocalStorage<RequestContext>();
const wrapped = new WeakSet<object>();

/** The HTTP request being handled, when the current handler runs for one. */
export function currentRequest(): RequestContext | undefined {
  return requests.getStore();
}

/** HTTP status for the plugin's error codes. */
export function statusOf(err: unknown): number | undefined {
  if (!(err instanceof VoError)) return undefined;
  switch (err.code) {
    case "VO_DUPLICATE":
      return 409;
    case "VO_NOT_FOUND":
      return 404;
    case "VO_FORBIDDEN":
      return 403;
    case "VO_UNAUTHORIZED":
      return 401;
    case "VO_DEVICE_UNAVAILABLE":
      return 503;
    case "VO_TOO_LARGE":
      return 413;
    default:
      return err.name === "VoInputError" ? 400 : undefined;
  }
}

/** Notes the status of `err` for the current HTTP request (if any) and returns it, to be thrown. */
export function reject(err: unknown): unknown {
  const status = statusOf(err);
  const ctx = currentRequest();
  if (ctx !== undefined && status !== undefined) {
    ctx.status = status;
    ctx.message = errorMessage(err);
  }
  return err;
}

/** Runs `fn`; errors it throws carry their HTTP status to the response. */
export async function guarded<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw reject(err);
  }
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, "");
  return a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a);
}

interface HttpServerLike {
  handleRequest: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;
  /** node-wot's private map of URL path segment → thing (slug and id). */
  things?: unknown;
}

function isHttpServerLike(server: unknown): server is HttpServerLike {
  return (
    typeof server === "object" &&
    server !== null &&
    typeof (server as { handleRequest?: unknown }).handleRequest === "function" &&
    typeof (server as { getServer?: unknown }).getServer === "function"
  );
}

/** Things every request of which runs with a context (the device mirror: 503s, stale-read headers). */
const contextThings = new WeakSet<object>();

/** Every request to this thing gets a request context (not only its plugin affordances). */
export function needsRequestContext(thing: object): void {
  contextThings.add(thing);
}

/** How a request is handled: with a context, straight through, or refused here (404). */
type Route = "context" | "plain" | { notFound: string };

/**
 * Whether a request targets a plugin affordance or a context thing. Only those run inside the
 * AsyncLocalStorage context, so a servient whose clients never touch the plugin's affordances never
 * switches on Node's promise hooks (on Node 20 an AsyncLocalStorage in use costs every promise of
 * the process a few µs). Switching them off again with disable() hung long-polls in our tests.
 *
 * node-wot looks affordance names up with `map[name] == null`, so `constructor`, `__proto__` or
 * `toString` pass as affordances of every thing and end in a 500: those are answered 404 here.
 */
function route(server: HttpServerLike, url: string): Route {
  const q = url.indexOf("?");
  const parts = (q < 0 ? url : url.slice(0, q)).split("/"); // "", thing, kind, name, …
  if (parts.length < 4) return "plain";
  const things = server.things;
  if (!(things instanceof Map)) return "context"; // node-wot changed: keep statuses right, pay the cost
  let thing: Record<string, unknown> | undefined;
  let name: string;
  try {
    thing = things.get(decodeURIComponent(parts[1])) as Record<string, unknown> | undefined;
    name = decodeURIComponent(parts[3]);
  } catch {
    return "plain"; // node-wot answers malformed paths itself
  }
  if (thing === undefined) return "plain";
  const kind = parts[2];
  if (kind !== "properties" && kind !== "actions" && kind !== "events")
    return contextThings.has(thing) ? "context" : "plain";
  const map = thing[kind] as Record<string, Record<string, unknown> | undefined> | undefined;
  const affordance = map?.[name];
  if (affordance !== undefined && map !== undefined && !Object.hasOwn(map, name)) {
    const what = kind === "properties" ? "property" : kind.slice(0, -1);
    return { notFound: `'${String(thing.title)}' has no ${what} named ${JSON.stringify(name.slice(0, 80))}` };
  }
  if (contextThings.has(thing)) return "context";
  return affordance?.["vo:plugin"] === true ? "context" : "plain";
}

/** Wraps every node-wot HttpServer of the servient (idempotent; servers added later: call again). */
export function installHttpContext(servient: Servient): void {
  for (const server of servient.getServers()) {
    if (!isHttpServerLike(server) || wrapped.has(server)) continue;
    wrapped.add(server);
    const original = server.handleRequest.bind(server);
    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      try {
        await original(req, res);
      } catch (err) {
        log.warn("HTTP request %s %s failed: %s", req.method, req.url, errorMessage(err));
        if (!res.headersSent) respond(res, 400, errorMessage(err));
      }
    };
    let maxBodyBytes: number | undefined;
    server.handleRequest = (req, res) => {
      const url = req.url ?? "/";
      if (url.includes("%")) {
        const malformed = malformedQuery(url);
        if (malformed !== undefined) {
          respond(res, 400, malformed);
          return;
        }
      }
      // A body can only be refused part-way when it declares no length (chunked): only those
      // writes get the status patch below without a context.
      let chunkedWrite = false;
      if (req.method === "PUT" || req.method === "POST") {
        rememberResponse(req, res);
        maxBodyBytes ??= bodyLimit(servient);
        const declared = req.headers["content-length"];
        if (declared !== undefined) {
          if (Number(declared) > maxBodyBytes) {
            respond(res, 413, tooLargeMessage(Number(declared), maxBodyBytes));
            return;
          }
        } else chunkedWrite = req.headers["transfer-encoding"] !== undefined;
      }
      const how = route(server, url);
      if (typeof how === "object") {
        respond(res, 404, how.notFound);
        return;
      }
      const withContext = how === "context";
      if (!withContext && !chunkedWrite) return handle(req, res);
      const ctx: RequestContext = { req, res };
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
      return withContext ? requests.run(ctx, () => handle(req, res)) : handle(req, res);
    };
  }
}

/** `recorder.maxBodyBytes` of the plugin attached to the servient (the default without one). */
function bodyLimit(servient: Servient): number {
  return (servient as Partial<VoHelpers>).vo?.options.recorder.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
}

/** The option's default, from the one place defaults live (a servient without the plugin). */
const DEFAULT_MAX_BODY_BYTES = OPTIONS_SCHEMA.properties.recorder.properties.maxBodyBytes.default;

function tooLargeMessage(declared: number, max: number): string {
  return (
    `request body of ${declared} bytes (Content-Length) is larger than ${max} bytes (the limit, recorder.maxBodyBytes): ` +
    "send a smaller body, or raise the option recorder.maxBodyBytes"
  );
}

/**
 * Plugin actions read their input whole: read it here at most `maxBodyBytes` (the recorder, which
 * bounds the bodies of recorded affordances, never records the plugin's own).
 */
export function boundPluginInputs(thing: ExposedThing, maxBodyBytes: number): void {
  const original = thing.handleInvokeAction.bind(thing);
  thing.handleInvokeAction = async (name, input, options) => {
    const action = Object.hasOwn(thing.actions, name) ? thing.actions[name] : undefined;
    if ((action as Record<string, unknown> | undefined)?.[PLUGIN_ANNOTATION] !== true)
      return original(name, input, options);
    let bytes: Buffer;
    try {
      bytes = await readContent(input, maxBodyBytes);
    } catch (err) {
      throw reject(err);
    }
    return original(name, new BufferedContent(input.type, bytes) as unknown as Content, options);
  };
}

/**
 * The query value of `key` as the client sent it (decoded), from the request URL: node-wot has
 * already cast integer uriVariables with `+value`, so "abc" arrives as NaN.
 */
export function rawQueryValue(key: string): string | undefined {
  const url = currentRequest()?.req.url;
  const q = url?.indexOf("?") ?? -1;
  if (url === undefined || q < 0) return undefined;
  for (const part of url.slice(q + 1).split("&")) {
    const eq = part.indexOf("=");
    try {
      if (decodeURIComponent(eq < 0 ? part : part.slice(0, eq)) === key)
        return eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
    } catch {
      return undefined; // refused before any handler runs (malformedQuery)
    }
  }
  return undefined;
}

function respond(res: http.ServerResponse, status: number, message: string): void {
  const headers: http.OutgoingHttpHeaders = { "Content-Type": "text/plain; charset=utf-8" };
  if (status === 413) headers.Connection = "close"; // the body is never read: do not drain it
  res.writeHead(status, reasonPhrase(message), headers);
  res.end(message);
}

/** A reason phrase: printable ASCII, one line, at most 200 characters. */

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
