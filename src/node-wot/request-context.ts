/**
 * The HTTP request behind a handler, and the status code of the errors it throws.
 *
 * Quirk (docs/node-wot-quirks.md): node-wot 0.9.2's HTTP routes answer every error a handler throws
 * with 500, and handlers never see the request. Both matter for the plugin's affordances: a bad
 * history query is the client's fault (400), a duplicate observer a conflict (409), a change from a
 * remote client without credentials forbidden (403), a mirrored read answered from history carries
 * headers. So the HTTP adapter (http-server.ts) runs the requests that reach plugin affordances (and
 * every request to a thing marked with `needsRequestContext`) inside an AsyncLocalStorage context
 * holding `req` and `res`. A handler that refuses a request throws `reject(err)`, which notes the
 * status in the context; when node-wot's route then writes its 500, the adapter writes that status
 * instead. Pinned by test/td-history.test.js ("bad history requests get clear 4xx errors") and
 * test/vo-state.test.js (409, 403, 401).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type http from "node:http";
import { VoError, errorMessage } from "../errors";
import { PLUGIN_ANNOTATION } from "../types";

export interface RequestContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  /** Status to answer instead of node-wot's 500, set by `reject`. */
  status?: number;
  message?: string;
}

const requests = new AsyncLocalStorage<RequestContext>();

/** The HTTP request being handled, when the current handler runs for one. */
export function currentRequest(): RequestContext | undefined {
  return requests.getStore();
}

/** Runs `handle` with `context` as the current request (for the handlers it reaches). */
export function runInRequestContext<T>(context: RequestContext, handle: () => T): T {
  return requests.run(context, handle);
}

/** Things every request of which runs with a context (the device mirror: 503s, stale-read headers). */
const contextThings = new WeakSet<object>();

/** Every request to this thing gets a request context (not only its plugin affordances). */
export function needsRequestContext(thing: object): void {
  contextThings.add(thing);
}

/**
 * Whether a request to this thing (to `affordance`, when it names one) runs with a context. Only
 * those do, so a servient
 * whose clients never touch the plugin's affordances never switches on Node's promise hooks (on
 * Node 20 an AsyncLocalStorage in use costs every promise of the process a few µs). Switching them
 * off again with disable() hung long-polls in our tests.
 */
export function wantsRequestContext(thing: object, affordance: Record<string, unknown> | undefined): boolean {
  return contextThings.has(thing) || affordance?.[PLUGIN_ANNOTATION] === true;
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
      return undefined; // refused before any handler runs (malformed query, http-server.ts)
    }
  }
  return undefined;
}
