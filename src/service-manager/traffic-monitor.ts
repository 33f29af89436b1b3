/**
 * The traffic monitor: counts the HTTP bytes each thing receives and sends, per period, and holds
 * things to their services' limits (the original counted iptables chains; here the chains are
 * counters behind a request gate).
 *
 * - Chains: `<unit>_IN` (bytes the thing receives: requests, its downlink) and `<unit>_OUT` (bytes
 *   it sends: responses, its uplink), plus `SYSTEM_IN` / `SYSTEM_OUT` for every thing of the
 *   servient together. A thing's unit is its title unless `unitOf` says otherwise; a service's
 *   `unit` column names the thing whose limits it sets.
 * - Bytes are HTTP bytes on the wire (request line / status line, headers and body), read from the
 *   socket's own counters, never from the streams (chunked bodies count like any other, handlers
 *   see nothing). Nothing is added per response: at each gated request the monitor charges what
 *   the socket read and wrote since its previous mark to the socket's previous gated request, and
 *   the last one is charged when the socket closes or when totals are read or saved. Over HTTP a
 *   listener on every response cost about 4 µs per request, this about 1.5 µs (see
 *   docs/benchmarks.md). A limit check first charges every open socket, once per clock tick: a
 *   limit sees the bytes of the same connection at once, other connections' within one tick.
 * - Periods are calendar periods in UTC (default a day). A chain's value is its total in the current
 *   period; it restarts at 0 when the period rolls over. Values are saved to `trafficmonitor` every
 *   `persistIntervalMs` (default 60 s) and at close, so they survive a restart within the period and
 *   a SIGKILL loses at most one interval.
 * - Limits: a service's `dlLimit` / `ulLimit` bound its thing's `_IN` / `_OUT` total per period: once
 *   a total is past its limit, requests to the thing are answered 429 with `Retry-After` (seconds to
 *   the next period) until the period rolls over. `dlSpeed` / `ulSpeed` cap bytes per second with a
 *   token bucket holding one second's worth: a request that finds the bucket in debt is answered 429
 *   with `Retry-After` (seconds until the debt is paid). 0 means no limit. Limits are re-read when a
 *   service changes in this process, and at every persist tick (changes by other processes).
 * - Counters for Prometheus: requests and bytes per unit since the process started, never reset.
 */
import type * as http from "node:http";
import type * as net from "node:net";
import { VoInputError, errorMessage } from "../errors";
import { createLogger } from "../log";
import { describe, uint } from "./codec";
import { coarseClock } from "./coarse-clock";
import type { Service, TrafficRow } from "./types";

const log = createLogger("service-manager");

/**
 * What the HTTP adapter calls for every request to a thing, before node-wot handles it. Returns
 * false when it has answered the request itself (429), true to let it through.
 */
export type ThingRequestGate = (
  thingName: string,
  thing: object,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => boolean;

export type TrafficPeriod = "minute" | "hour" | "day" | "month" | "year";

/** The few store calls the monitor needs (a ServiceManagerStore has them). */
export interface TrafficStore {
  getAllTrafficMonitorData(onCorrupt?: (err: Error) => void): TrafficRow[];
  saveTrafficMonitorData(rows: readonly TrafficRow[]): void;
  getServices(): Service[];
  onServiceChange(listener: (id: string) => void): () => void;
}

export interface TrafficMonitorOptions {
  store: TrafficStore;
  /** Calendar period (UTC) the chain totals and limits apply to. Default "day". */
  period?: TrafficPeriod;
  /** How often totals are saved (and limits re-read); 0: only at close and persist(). Default 60,000. */
  persistIntervalMs?: number;
  /** The clock, in ms since the epoch. Default: Date.now, read at most every CLOCK_RESOLUTION_MS. */
  now?: () => number;
  /** The unit of a thing, asked once per thing object. Default: its title, else the name it is served under. */
  unitOf?: (thingName: string, thing: object) => string;
}

export const DEFAULT_TRAFFIC_PERIOD: TrafficPeriod = "day";
export const DEFAULT_PERSIST_INTERVAL_MS = 60_000;
/** How stale the default clock may be: periods roll, and speed buckets refill, to within this. */
export const CLOCK_RESOLUTION_MS = 100;
/** The unit of the servient-wide chains. */
export const SYSTEM_UNIT = "SYSTEM";

/** Requests and bytes of one unit since the process started (monotonic). */
export interface TrafficCounters {
  unit: string;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** One chain as the monitor holds it now. */
export interface TrafficChainView {
  chain: string;
  unit: string;
  /** "in": bytes the thing receives (downlink); "out": bytes it sends (uplink). */
  direction: "in" | "out";
  /** Bytes in the current period. */
  value: number;
  /** Last change of the value. */
  time: Date;
  periodStart: Date;
  periodEnd: Date;
  /** Bytes per period (dlLimit for in, ulLimit for out); 0: none. */
  limit: number;
  /** Bytes per second (dlSpeed / ulSpeed); 0: none. */
  speed: number;
}

interface Chain {
  readonly name: string;
  value: number;
  /** ms of the last change. */
  time: number;
  /** The period start the value belongs to. */
  periodStart: number;
  dirty: boolean;
}

interface Bucket {
  /** Bytes that may still pass; negative: debt. */
  tokens: number;
  /** ms of the last refill. */
  at: number;
}

interface Limits {
  ulLimit: number;
  dlLimit: number;
  ulSpeed: number;
  dlSpeed: number;
}

const NO_LIMITS: Limits = Object.freeze({ ulLimit: 0, dlLimit: 0, ulSpeed: 0, dlSpeed: 0 });

interface Unit {
  readonly name: string;
  readonly in: Chain;
  readonly out: Chain;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  /** Bytes of the common path not added to the chains yet (added before anything reads them). */
  pendingIn: number;
  pendingOut: number;
  refused: number;
  limits: Limits;
  readonly inBucket: Bucket;
  readonly outBucket: Bucket;
}

/** What the monitor keeps per socket that carried a gated request. */
interface SocketMarks {
  readonly socket: net.Socket;
  /** The socket's byte counters where the last charge left them. */
  read: number;
  written: number;
  /** The gated request the bytes since the marks are charged to (lazy path); undefined: none yet. */
  unit: Unit | undefined;
}

export class TrafficMonitor {
  /** The gate to mount in front of every thing's HTTP requests. */
  readonly gate: ThingRequestGate;
  /** To be told of every request no gate sees (no thing, a route): its bytes are charged to nobody. */
  readonly ungated: (req: http.IncomingMessage) => void;
  private readonly store: TrafficStore;
  private readonly period: TrafficPeriod;
  private readonly now: () => number;
  private readonly unitOf: (thingName: string, thing: object) => string;
  private readonly units = new Map<string, Unit>();
  private readonly byThing = new WeakMap<object, Unit>();
  private readonly system: Unit;
  private limitsByUnit = new Map<string, Limits>();
  private periodStart = 0;
  private periodEnd = 0;
  private readonly stored = new Map<string, TrafficRow>();
  private readonly marks = new WeakMap<net.Socket, SocketMarks>();
  /** Open sockets with bytes not charged yet, charged before totals are read or saved. */
  private readonly open = new Set<SocketMarks>();
  /** The clock value at which every socket was last settled for a limit check. */
  private settledAt = Number.NaN;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(options: TrafficMonitorOptions) {
    this.store = options.store;
    this.period = options.period ?? DEFAULT_TRAFFIC_PERIOD;
    if (!Object.hasOwn(PERIODS, this.period))
      throw new VoInputError(
        `the traffic period must be one of ${Object.keys(PERIODS).join(", ")}, got ${describe(this.period)}`,
      );
    this.now = options.now ?? coarseClock(CLOCK_RESOLUTION_MS);
    this.unitOf = options.unitOf ?? defaultUnitOf;
    const interval = uint(options.persistIntervalMs ?? DEFAULT_PERSIST_INTERVAL_MS, "persistIntervalMs");
    this.roll(this.now());
    // A saved total that does not decode starts over at 0 (overwritten once its chain counts again)
    // rather than keeping the servient from starting.
    const corrupt = (err: Error) => log.error("%s: that chain starts over at 0", err.message);
    for (const row of this.store.getAllTrafficMonitorData(corrupt)) this.stored.set(row.chain, row);
    this.system = this.unit(SYSTEM_UNIT);
    for (const chain of this.stored.keys()) {
      const unit = unitOfChain(chain);
      if (unit !== undefined) this.unit(unit);
    }
    this.reloadLimits();
    this.unsubscribe = this.store.onServiceChange(() => this.reloadLimits());
    if (interval > 0) {
      this.timer = setInterval(() => this.tick(), interval);
      this.timer.unref();
    }
    this.gate = (thingName, thing, req, res) => this.handle(thingName, thing, req, res);
    this.ungated = (req) => this.passOver(req);
  }

  /** Saves every changed chain now (one transaction). Errors are logged; the values stay pending. */
  persist(): void {
    const now = this.now();
    if (now >= this.periodEnd || now < this.periodStart) this.roll(now);
    this.settle(now);
    const dirty: Chain[] = [];
    for (const unit of this.units.values()) {
      if (unit.in.dirty) dirty.push(unit.in);
      if (unit.out.dirty) dirty.push(unit.out);
    }
    if (dirty.length === 0) return;
    const rows = dirty.map((c) => ({ chain: c.name, time: new Date(c.time), value: c.value }));
    try {
      this.store.saveTrafficMonitorData(rows);
      for (const c of dirty) c.dirty = false;
    } catch (err) {
      log.error(
        "could not save the traffic of %d chains (kept for the next try): %s",
        rows.length,
        errorMessage(err),
      );
    }
  }

  /** Saves the totals and stops. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.persist();
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.unsubscribe();
  }

  /** Re-reads every service's limits and speeds from the store. */
  reloadLimits(): void {
    let services: Service[];
    try {
      services = this.store.getServices();
    } catch (err) {
      log.error(
        "could not read the services' traffic limits (the previous ones stay): %s",
        errorMessage(err),
      );
      return;
    }
    const next = new Map<string, Limits>();
    for (const s of services) {
      if (s.unit === "") continue;
      if (s.ulLimit || s.dlLimit || s.ulSpeed || s.dlSpeed)
        next.set(s.unit, { ulLimit: s.ulLimit, dlLimit: s.dlLimit, ulSpeed: s.ulSpeed, dlSpeed: s.dlSpeed });
    }
    this.limitsByUnit = next;
    for (const unit of this.units.values()) this.applyLimits(unit);
    // Every service's chains are listed, traffic or not.
    for (const s of services) if (s.unit !== "" && s.unit !== SYSTEM_UNIT) this.unit(s.unit);
  }

  /** Requests and bytes per unit since the process started (the SYSTEM totals not included). */
  counters(): ReadonlyArray<TrafficCounters> {
    this.settle(this.now());
    const out: TrafficCounters[] = [];
    for (const u of this.units.values())
      if (u !== this.system)
        out.push({ unit: u.name, requests: u.requests, bytesIn: u.bytesIn, bytesOut: u.bytesOut });
    return out.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
  }

  /** Requests answered 429 per unit since the process started. */
  refusals(): ReadonlyArray<{ unit: string; requests: number }> {
    return [...this.units.values()]
      .filter((u) => u.refused > 0)
      .map((u) => ({ unit: u.name, requests: u.refused }))
      .sort((a, b) => (a.unit < b.unit ? -1 : 1));
  }

  /** Every chain with its total in the current period, by name. */
  chains(): TrafficChainView[] {
    const now = this.now();
    if (now >= this.periodEnd || now < this.periodStart) this.roll(now);
    this.settle(now);
    const views: TrafficChainView[] = [];
    for (const u of this.units.values()) {
      views.push(this.view(u, u.in, "in"), this.view(u, u.out, "out"));
    }
    return views.sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
  }

  /** One chain (`<unit>_IN`, `<unit>_OUT`, `SYSTEM_IN`, `SYSTEM_OUT`) as held now. */
  chain(name: string): TrafficChainView {
    const unitName = unitOfChain(name);
    if (unitName === undefined) throw badChain(name);
    const u = this.unit(unitName);
    const now = this.now();
    if (now >= this.periodEnd || now < this.periodStart) this.roll(now);
    this.settle(now);
    return name.endsWith("_IN") ? this.view(u, u.in, "in") : this.view(u, u.out, "out");
  }

  /**
   * Sets a chain's total for the current period (the original's SetTrafficMonitorData, made
   * effective: the monitor counts on from it) and saves it at once.
   */
  setChainValue(name: string, value: number): TrafficChainView {
    const unitName = unitOfChain(name);
    if (unitName === undefined) throw badChain(name);
    uint(value, "the traffic value");
    const now = this.now();
    if (now >= this.periodEnd || now < this.periodStart) this.roll(now);
    const u = this.unit(unitName);
    this.settle(now); // bytes counted before the change stay before it
    const chain = name.endsWith("_IN") ? u.in : u.out;
    chain.value = value;
    chain.time = now;
    chain.dirty = true;
    this.persist();
    return this.chain(name);
  }

  private view(u: Unit, c: Chain, direction: "in" | "out"): TrafficChainView {
    return {
      chain: c.name,
      unit: u.name,
      direction,
      value: c.value,
      time: new Date(c.time),
      periodStart: new Date(this.periodStart),
      periodEnd: new Date(this.periodEnd),
      limit: direction === "in" ? u.limits.dlLimit : u.limits.ulLimit,
      speed: direction === "in" ? u.limits.dlSpeed : u.limits.ulSpeed,
    };
  }

  private tick(): void {
    this.reloadLimits();
    this.persist();
  }

  // ---- the hot path -------------------------------------------------------------------------

  private handle(
    thingName: string,
    thing: object,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): boolean {
    const now = this.now();
    if (now >= this.periodEnd || now < this.periodStart) this.roll(now);
    const unit = this.byThing.get(thing) ?? this.thingUnit(thingName, thing);
    const socket = req.socket;
    const marks = this.marks.get(socket) ?? this.watch(socket, req);
    const read = socket.bytesRead;
    const written = socket.bytesWritten ?? marks.written;
    const readSince = read - marks.read;
    const previous = marks.unit;
    if (previous === unit && unit.limits === NO_LIMITS) {
      // The common path: the same thing again on a keep-alive socket, all of it is that thing's.
      unit.pendingIn += readSince;
      unit.pendingOut += written - marks.written;
      marks.read = read;
      marks.written = written;
      unit.requests++;
      this.system.requests++;
      return true;
    }
    // This request's bytes read so far; what was read before them is the previous request's. For
    // the same thing again they all go to it in one count (a refusal below takes its own back).
    const same = previous === unit;
    const own = previous === undefined || same ? readSince : Math.min(readSince, requestBytes(req));
    if (previous !== undefined)
      this.count(previous, same ? readSince : readSince - own, written - marks.written, now);
    marks.unit = undefined;
    if (unit.limits !== NO_LIMITS) {
      // Limits see this socket's bytes at once and the other sockets' as of this clock tick.
      if (now !== this.settledAt) {
        this.settledAt = now;
        this.settle(now);
      }
      const retryAfter = this.blocked(unit, now);
      if (retryAfter !== undefined) {
        if (same) this.uncount(unit, Math.min(readSince, requestBytes(req)));
        this.refuse(unit, req, res, retryAfter);
        // Neither the refused request nor the 429 is counted.
        marks.read = socket.bytesRead;
        marks.written = socket.bytesWritten ?? written;
        return false;
      }
    }
    if (!same) this.count(unit, own, 0, now);
    marks.read = read;
    marks.written = written;
    marks.unit = unit;
    unit.requests++;
    this.system.requests++;
    return true;
  }

  /**
   * A request no gate saw, on a socket that carried gated ones: what came before it is charged to
   * the previous gated request, the request itself and its answer to nobody.
   */
  private passOver(req: http.IncomingMessage): void {
    const socket = req.socket;
    const marks = this.marks.get(socket);
    if (marks === undefined) return;
    const read = socket.bytesRead;
    const written = socket.bytesWritten ?? marks.written;
    const readSince = read - marks.read;
    if (marks.unit !== undefined) {
      const own = Math.min(readSince, requestBytes(req));
      this.count(marks.unit, readSince - own, written - marks.written, this.now());
    }
    marks.read = read;
    marks.written = written;
    marks.unit = undefined; // what is written next (this request's answer) is nobody's
  }

  /** Starts keeping marks for a socket: its bytes not charged yet are charged when it closes. */
  private watch(socket: net.Socket, req: http.IncomingMessage): SocketMarks {
    // A socket that answered requests no gate saw before this one: only this request is charged.
    const written = socket.bytesWritten ?? 0;
    const read = written > 0 ? Math.max(0, socket.bytesRead - requestBytes(req)) : 0;
    const marks: SocketMarks = { socket, read, written, unit: undefined };
    this.marks.set(socket, marks);
    this.open.add(marks);
    socket.once("close", () => {
      this.open.delete(marks);
      if (marks.unit !== undefined) this.chargeSocket(marks, marks.unit, this.now());
      marks.unit = undefined;
    });
    return marks;
  }

  /** Charges what the socket read and wrote since its marks to `unit`, and moves the marks on. */
  private chargeSocket(marks: SocketMarks, unit: Unit, now: number): void {
    const read = marks.socket.bytesRead;
    const written = marks.socket.bytesWritten ?? marks.written;
    this.count(unit, read - marks.read, written - marks.written, now);
    marks.read = read;
    marks.written = written;
  }

  /** Brings every total up to date: open sockets' bytes charged, the common path's bytes added. */
  private settle(now: number): void {
    for (const marks of this.open) if (marks.unit !== undefined) this.chargeSocket(marks, marks.unit, now);
    for (const unit of this.units.values()) this.addPending(unit, now);
  }

  private addPending(unit: Unit, now: number): void {
    if (unit.pendingIn === 0 && unit.pendingOut === 0) return;
    const bytesIn = unit.pendingIn;
    const bytesOut = unit.pendingOut;
    unit.pendingIn = unit.pendingOut = 0;
    this.count(unit, bytesIn, bytesOut, now);
  }

  /** Takes back bytes in counted for a request that was then refused (chains, counters, bucket). */
  private uncount(unit: Unit, bytesIn: number): void {
    if (!(bytesIn > 0)) return;
    for (const chain of [unit.in, this.system.in]) chain.value = Math.max(0, chain.value - bytesIn);
    unit.bytesIn = Math.max(0, unit.bytesIn - bytesIn);
    this.system.bytesIn = Math.max(0, this.system.bytesIn - bytesIn);
    if (unit.limits.dlSpeed > 0) unit.inBucket.tokens += bytesIn;
  }

  /** Adds bytes to a unit's chains, the servient's, its counters and its speed buckets. */
  private count(unit: Unit, bytesIn: number, bytesOut: number, now: number): void {
    if (now >= this.periodEnd || now < this.periodStart) this.roll(now);
    add(unit.in, bytesIn, now);
    add(unit.out, bytesOut, now);
    add(this.system.in, bytesIn, now);
    add(this.system.out, bytesOut, now);
    if (bytesIn > 0) {
      unit.bytesIn += bytesIn;
      this.system.bytesIn += bytesIn;
    }
    if (bytesOut > 0) {
      unit.bytesOut += bytesOut;
      this.system.bytesOut += bytesOut;
    }
    if (unit.limits.dlSpeed > 0) spend(unit.inBucket, unit.limits.dlSpeed, bytesIn, now);
    if (unit.limits.ulSpeed > 0) spend(unit.outBucket, unit.limits.ulSpeed, bytesOut, now);
  }

  /** Seconds to wait, when the unit may not take a request now. */
  private blocked(unit: Unit, now: number): number | undefined {
    const l = unit.limits;
    if ((l.dlLimit > 0 && unit.in.value > l.dlLimit) || (l.ulLimit > 0 && unit.out.value > l.ulLimit))
      return Math.max(1, Math.ceil((this.periodEnd - now) / 1000));
    let wait = 0;
    if (l.dlSpeed > 0) wait = Math.max(wait, debtSeconds(unit.inBucket, l.dlSpeed, now));
    if (l.ulSpeed > 0) wait = Math.max(wait, debtSeconds(unit.outBucket, l.ulSpeed, now));
    return wait > 0 ? wait : undefined;
  }

  private refuse(unit: Unit, req: http.IncomingMessage, res: http.ServerResponse, retryAfter: number): void {
    unit.refused++;
    const l = unit.limits;
    const reason =
      l.dlLimit > 0 && unit.in.value > l.dlLimit
        ? `received ${unit.in.value} bytes this ${this.period}, past its download limit (dlLimit) of ${l.dlLimit}`
        : l.ulLimit > 0 && unit.out.value > l.ulLimit
          ? `sent ${unit.out.value} bytes this ${this.period}, past its upload limit (ulLimit) of ${l.ulLimit}`
          : `is over its speed cap (dlSpeed ${l.dlSpeed} B/s, ulSpeed ${l.ulSpeed} B/s; 0: none)`;
    const message = `'${unit.name}' ${reason}: try again in ${retryAfter} s`;
    const body = Buffer.from(message);
    const headers: http.OutgoingHttpHeaders = {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": body.length,
      "Retry-After": String(retryAfter),
    };
    // The body is never read: close the connection instead of draining it into the next request.
    if (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined)
      headers.Connection = "close";
    res.writeHead(429, "Too Many Requests", headers);
    res.end(body);
  }

  // ---- units, periods, limits ---------------------------------------------------------------

  private thingUnit(thingName: string, thing: object): Unit {
    let name: string;
    try {
      name = this.unitOf(thingName, thing);
    } catch (err) {
      log.warn("unitOf failed for '%s' (%s): counted under that name", thingName, errorMessage(err));
      name = thingName;
    }
    if (typeof name !== "string" || name === "") name = thingName;
    const unit = this.unit(name);
    this.byThing.set(thing, unit);
    return unit;
  }

  /** The unit of this name, created (with its saved totals of this period) when new. */
  private unit(name: string): Unit {
    let unit = this.units.get(name);
    if (unit === undefined) {
      const now = this.now();
      unit = {
        name,
        in: this.loadChain(`${name}_IN`, now),
        out: this.loadChain(`${name}_OUT`, now),
        requests: 0,
        bytesIn: 0,
        bytesOut: 0,
        pendingIn: 0,
        pendingOut: 0,
        refused: 0,
        limits: NO_LIMITS,
        inBucket: { tokens: 0, at: now },
        outBucket: { tokens: 0, at: now },
      };
      this.units.set(name, unit);
      this.applyLimits(unit);
    }
    return unit;
  }

  private loadChain(name: string, now: number): Chain {
    const row = this.stored.get(name);
    const time = row?.time.getTime();
    // A total saved in an earlier period (or, after the clock went back, a later one) starts over.
    if (row !== undefined && time !== undefined && time >= this.periodStart && time < this.periodEnd)
      return { name, value: row.value, time, periodStart: this.periodStart, dirty: false };
    return { name, value: 0, time: now, periodStart: this.periodStart, dirty: row !== undefined };
  }

  private applyLimits(unit: Unit): void {
    const limits = unit === this.system ? NO_LIMITS : (this.limitsByUnit.get(unit.name) ?? NO_LIMITS);
    this.addPending(unit, this.now()); // limits see every byte so far
    const before = unit.limits;
    unit.limits = limits;
    // A new or raised speed starts with a full bucket.
    const now = this.now();
    if (limits.dlSpeed !== before.dlSpeed) resetBucket(unit.inBucket, limits.dlSpeed, now);
    if (limits.ulSpeed !== before.ulSpeed) resetBucket(unit.outBucket, limits.ulSpeed, now);
  }

  /** Moves to the period `now` falls in; every chain of another period starts over at 0. */
  private roll(now: number): void {
    // Bytes of the common path not added yet belong to the period that ends.
    if (this.periodEnd > this.periodStart)
      for (const u of this.units.values()) this.addPending(u, this.periodEnd - 1);
    const [start, end] = PERIODS[this.period](now);
    this.periodStart = start;
    this.periodEnd = end;
    for (const u of this.units.values()) {
      for (const c of [u.in, u.out]) {
        if (c.periodStart === start) continue;
        c.periodStart = start;
        c.value = 0;
        c.time = now;
        c.dirty = true;
      }
    }
  }
}

function add(chain: Chain, bytes: number, now: number): void {
  if (!(bytes > 0)) return;
  chain.value += bytes;
  chain.time = now;
  chain.dirty = true;
}

/**
 * The bytes of a request's head as sent (request line and header lines, as node parsed them) plus
 * its declared body: how much of what a socket read belongs to this request rather than the one
 * before. Exact for the usual one-space `Name: value` form; only asked when a socket changes thing.
 */
function requestBytes(req: http.IncomingMessage): number {
  const raw = req.rawHeaders;
  // "METHOD SP target SP HTTP/x.y CRLF" (2 + 8 + 2 besides method and target), then the closing CRLF.
  let n = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12 + 2;
  for (let i = 0; i + 1 < raw.length; i += 2) n += raw[i].length + 2 + raw[i + 1].length + 2;
  const declared = Number(req.headers["content-length"]);
  return declared > 0 ? n + declared : n;
}

function refill(bucket: Bucket, speed: number, now: number): void {
  if (now > bucket.at) {
    bucket.tokens = Math.min(speed, bucket.tokens + ((now - bucket.at) * speed) / 1000);
  }
  bucket.at = now;
}

function spend(bucket: Bucket, speed: number, bytes: number, now: number): void {
  refill(bucket, speed, now);
  if (bytes > 0) bucket.tokens -= bytes;
}

/** Whole seconds until a bucket in debt is back at zero; 0 when it is not in debt. */
function debtSeconds(bucket: Bucket, speed: number, now: number): number {
  refill(bucket, speed, now);
  return bucket.tokens < 0 ? Math.max(1, Math.ceil(-bucket.tokens / speed)) : 0;
}

function resetBucket(bucket: Bucket, speed: number, now: number): void {
  bucket.tokens = speed;
  bucket.at = now;
}

function defaultUnitOf(thingName: string, thing: object): string {
  const title = (thing as { title?: unknown }).title;
  return typeof title === "string" && title !== "" ? title : thingName;
}

/** `<unit>_IN` / `<unit>_OUT` → unit; anything else → undefined. */
export function unitOfChain(chain: string): string | undefined {
  if (typeof chain !== "string") return undefined;
  const m = /^(.+)_(IN|OUT)$/s.exec(chain);
  return m === null ? undefined : m[1];
}

function badChain(name: unknown): VoInputError {
  return new VoInputError(
    `a traffic chain is named <unit>_IN or <unit>_OUT (SYSTEM_IN / SYSTEM_OUT for the whole servient), got ${describe(name)}`,
  );
}

/** [start, end) in ms of the UTC calendar period that `now` falls in. */
const PERIODS: Record<TrafficPeriod, (now: number) => [number, number]> = {
  minute: (now) => {
    const start = now - (((now % 60_000) + 60_000) % 60_000);
    return [start, start + 60_000];
  },
  hour: (now) => {
    const start = now - (((now % 3_600_000) + 3_600_000) % 3_600_000);
    return [start, start + 3_600_000];
  },
  day: (now) => {
    const d = new Date(now);
    return [
      Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()),
      Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1),
    ];
  },
  month: (now) => {
    const d = new Date(now);
    return [
      Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
      Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
    ];
  },
  year: (now) => {
    const d = new Date(now);
    return [Date.UTC(d.getUTCFullYear(), 0, 1), Date.UTC(d.getUTCFullYear() + 1, 0, 1)];
  },
};
