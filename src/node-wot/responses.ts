/**
 * The HTTP response behind a node-wot interaction, for the one case where node-wot 0.9.2 answers
 * wrongly on a thing's own affordances: a value that fails the affordance's data schema (a client
 * mistake) is answered 500 by its routes, like any handler error. node-wot hands the handlers the
 * request itself as the `Content` body, so the request → response pair is remembered when the
 * request arrives (a WeakMap entry: no context, no patch on the common path), and only an
 * interaction that failed for the client's fault patches that one response's `writeHead`.
 */
import type http from "node:http";

const responses = new WeakMap<object, http.ServerResponse>();

/** Called for every request by the HttpServer wrapper. */
export function rememberResponse(req: http.IncomingMessage, res: http.ServerResponse): void {
  responses.set(req, res);
}

/**
 * True for node-wot's own "value does not match the DataSchema" error. By its message: 0.9.2's
 * DataSchemaError sets its prototype to NotSupportedError's, so neither instanceof nor the
 * constructor name tells it apart (docs/node-wot-quirks.md).
 */
export function isDataSchemaError(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.constructor?.name === "DataSchemaError" || err.message === "Invalid value according to DataSchema")
  );
}

/**
 * When node-wot is about to answer 500 to the request whose body is `body`, answer `status` with
 * `message` as reason phrase instead (node-wot writes its message as the body). No-op for bodies
 * that are not a remembered HTTP request (other bindings, local calls).
 */
export function answerInsteadOf500(body: unknown, status: number, message: string): void {
  if (typeof body !== "object" || body === null) return;
  const res = responses.get(body);
  if (res === undefined || res.headersSent) return;
  const writeHead = res.writeHead as (...a: unknown[]) => http.ServerResponse;
  res.writeHead = function (this: http.ServerResponse, code: number, ...rest: unknown[]) {
    res.writeHead = writeHead as typeof res.writeHead;
    if (code !== 500) return writeHead.call(this, code, ...rest);
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    return writeHead.call(this, status, reasonPhrase(message));
  } as typeof res.writeHead;
}

/** A reason phrase: printable ASCII, one line, at most 200 characters. */
export function reasonPhrase(message: string): string {
  const text = message.replace(/[^\x20-\x7e]+/g, " ").trim();
  return (text.length > 200 ? text.slice(0, 197) + "..." : text) || "Bad Request";
}
