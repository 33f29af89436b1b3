/**
 * Per-thing HTTP traffic counters: requests, bytes received and bytes sent for every request to an
 * exposed thing. The metrics read them through `HttpCountersProvider`; the service manager's
 * traffic monitor provides the same shape and may replace this minimal provider.
 *
 * Bytes are counted on the socket while the request is handled: sent = bytes written for the
 * response (status line, headers and body); received = the declared `Content-Length`, or for a
 * chunked body the bytes the socket read while the request was handled.
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
    const declared = Number(req.headers["content-length"]);
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    res.once("close", () => {
      counter.bytesIn += declared >= 0 ? declared : Math.max(0, socket.bytesRead - read);
      counter.bytesOut += Math.max(0, socket.bytesWritten - written);
    });
  }
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
