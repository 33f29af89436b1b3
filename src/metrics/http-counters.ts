/**
 * Per-thing HTTP traffic counters: requests, bytes received and bytes sent for every request to an
 * exposed thing. The metrics read them through `HttpCountersProvider`; the service manager's
 * traffic monitor provides the same shape and may replace this minimal provider.
 *
 * Bytes: received = the request body (its declared `Content-Length`, or for a chunked body the
 * bytes of the chunks as they arrive); sent = what the socket wrote for the response (status
 * line, headers and body).
 */
import type * as http from "node:http";
import type { Servient } from "@node-wot/core";
import { addThingRequestGate } from "../node-wot/http-server";

/** Traffic of one unit (here: one thing, by title) since counting began. */
export interface HttpCounter {
  unit: string;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** What the metrics need of a traffic counter (the traffic monitor has the same shape). */
export interface HttpCountersProvider {
  counters(): ReadonlyArray<HttpCounter>;
}

export class HttpCounters implements HttpCountersProvider {
  private readonly byUnit = new Map<string, HttpCounter>();

  counters(): ReadonlyArray<HttpCounter> {
    return [...this.byUnit.values()].map((c) => ({ ...c }));
  }

  /** Counts one request of `unit`; the bytes are added when the response is done. */
  count(unit: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    let c = this.byUnit.get(unit);
    if (c === undefined) this.byUnit.set(unit, (c = { unit, requests: 0, bytesIn: 0, bytesOut: 0 }));
    c.requests += 1;
    const counter = c;
    const socket = req.socket;
    const written = socket.bytesWritten;
    const declared = req.headers["content-length"];
    if (declared !== undefined) counter.bytesIn += Number(declared) || 0;
    else if (req.headers["transfer-encoding"] !== undefined) countChunks(req, counter);
    res.once("close", () => {
      counter.bytesOut += Math.max(0, socket.bytesWritten - written);
    });
  }
}

/**
 * A chunked body's bytes as node's HTTP parser pushes them into the request (bytes already
 * buffered when the gate runs included); reading the body stays with whoever reads it.
 */
function countChunks(req: http.IncomingMessage, counter: HttpCounter): void {
  counter.bytesIn += req.readableLength;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk !== null && chunk !== undefined) counter.bytesIn += (chunk as { length: number }).length;
    return push(chunk, encoding);
  };
}

/** Counts every request to a thing of the servient (unit: the thing's title). */
export function countHttpTraffic(servient: Servient): HttpCounters {
  const counters = new HttpCounters();
  addThingRequestGate(servient, (_name, thing, req, res) => {
    counters.count(thing.title, req, res);
    return true;
  });
  return counters;
}
