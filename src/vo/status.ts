/**
 * Periodic checks: the VO's self-check (its own HTTP endpoint at the advertised address) and the
 * device liveness check. Each check:
 *  - never overlaps itself: the next run is scheduled when the previous one has finished;
 *  - is bounded: the probe gets an AbortSignal that fires after `timeoutMs`, and the run gives up
 *    waiting after that time even if a probe ignores its signal, so a hung device never stalls it;
 *  - appends one row per run to its status table (`vo_status` / `device_status`), pruned to
 *    `vo.keepStatusRows`;
 *  - emits the plugin's connection event (`voConnection` / `deviceConnection`) on every thing that
 *    declares it, when the state changes (lost / restored).
 */
import net from "node:net";
import type { ExposedThing, Servient } from "@node-wot/core";
import type { SqliteDb } from "../store/sqlite-db";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { PLUGIN_ANNOTATION } from "../types";

const log = createLogger("vo");

export interface CheckResult<T = unknown> {
  online: boolean;
  error?: string;
  /** What the probe returned (the device's TD for a TD URL probe). */
  value?: T;
}

export type Probe<T> = (signal: AbortSignal) => Promise<T>;

export class PeriodicCheck<T = unknown> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private stopped = false;
  /** Completed runs (tests wait on it). */
  runs = 0;

  constructor(
    readonly name: string,
    private readonly periodMs: number,
    private readonly timeoutMs: number,
    private readonly probe: Probe<T>,
    private readonly onResult: (result: CheckResult<T>) => Promise<void> | void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Runs a check now unless one is running (used when a forwarded request just failed). */
  kick(): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort(new Error("the VO is shutting down"));
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref();
  }

  private run(): void {
    const abort = (this.abort = new AbortController());
    this.running = (async () => {
      let result: CheckResult<T>;
      try {
        const value = await bounded(
          this.probe(AbortSignal.any([abort.signal, AbortSignal.timeout(this.timeoutMs)])),
          this.timeoutMs + 50,
          `${this.name} did not answer within ${this.timeoutMs} ms`,
        );
        result = { online: true, value };
      } catch (err) {
        result = { online: false, error: describe(err, this.timeoutMs) };
      }
      if (!this.stopped) {
        try {
          await this.onResult(result);
        } catch (err) {
          log.error("%s: handling the result failed: %s", this.name, errorMessage(err));
        }
      }
      this.runs++;
    })().finally(() => {
      this.running = undefined;
      this.schedule(this.periodMs);
    });
  }
}

/** Tracks one status table: appends rows, prunes, and emits the connection event on changes. */
export class StatusTracker {
  private online: boolean | undefined;
  private appended = 0;

  constructor(
    private readonly db: SqliteDb,
    private readonly servient: Servient,
    private readonly table: "vo_status" | "device_status",
    private readonly event: string,
    /** vo-wot's event name, emitted on losses when a thing declares it itself. */
    private readonly voWotEvent: string,
    private readonly target: string,
    private readonly keepRows: number,
  ) {
    const latest = table === "vo_status" ? db.latestVoStatus() : db.latestDeviceStatus();
    this.online = latest === undefined ? undefined : latest.status === 1;
  }

  get current(): boolean | undefined {
    return this.online;
  }

  record(result: CheckResult): void {
    if (this.table === "vo_status") this.db.recordVoStatus(result.online);
    else this.db.recordDeviceStatus(result.online);
    if (this.keepRows > 0 && ++this.appended % 50 === 0) this.prune();
    const before = this.online;
    this.online = result.online;
    if (before === result.online || (before === undefined && result.online)) return;
    const state = result.online ? "restored" : "lost";
    if (result.online) log.info("%s: connection to %s restored", this.table, this.target);
    else log.warn("%s: connection to %s lost: %s", this.table, this.target, result.error ?? "no answer");
    const data: Record<string, unknown> = {
      state,
      online: result.online,
      at: new Date().toISOString(),
      target: this.target,
    };
    if (!result.online && result.error) data.error = result.error;
    for (const thing of things(this.servient)) {
      const events = thing.events as Record<string, Record<string, unknown>>;
      try {
        if (events[this.event]?.[PLUGIN_ANNOTATION] === true) thing.emitEvent(this.event, data);
        if (!result.online && events[this.voWotEvent] && events[this.voWotEvent][PLUGIN_ANNOTATION] !== true)
          thing.emitEvent(this.voWotEvent, false);
      } catch (err) {
        log.warn("could not emit %s on '%s': %s", this.event, thing.title, errorMessage(err));
      }
    }
  }

  private prune(): void {
    try {
      this.db.executeQuery(`DELETE FROM ${this.table} WHERE id <= (SELECT MAX(id) FROM ${this.table}) - ?`, [
        this.keepRows,
      ]);
    } catch (err) {
      log.warn("could not prune %s: %s", this.table, errorMessage(err));
    }
  }
}

export function things(servient: Servient): ExposedThing[] {
  return Object.keys(servient.getThings())
    .map((id) => servient.getThing(id))
    .filter((t): t is ExposedThing => t !== undefined);
}

/** GET `url`; any answer below 500 means the endpoint is answering. */
export async function httpAlive(url: string, signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { signal, redirect: "manual" });
  await res.body?.cancel().catch(() => undefined);
  if (res.status >= 500) throw new Error(`${url} answered ${res.status} ${res.statusText}`);
}

/** GET a TD; it must answer 200 with a JSON object. */
export async function fetchTd(url: string, signal: AbortSignal): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal, headers: { accept: "application/td+json, application/json" } });
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`${url} answered ${res.status} ${res.statusText}`);
  }
  const td = (await res.json()) as unknown;
  if (td === null || typeof td !== "object" || Array.isArray(td))
    throw new Error(`${url} did not return a TD object`);
  return td as Record<string, unknown>;
}

/** TCP connect to host:port. */
export function tcpAlive(host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (err?: Error) => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => done(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => done());
    socket.once("error", (err) => done(err));
  });
}

/** The probe for `vo.device.address`: a URL (HTTP), `host:port`, `[v6]:port` or a bare host (port 80). */
export function addressProbe(address: string): Probe<void> {
  if (/^https?:\/\//i.test(address)) return (signal) => httpAlive(address, signal);
  const { host, port } = splitHostPort(address);
  return (signal) => tcpAlive(host, port ?? 80, signal);
}

export function splitHostPort(address: string): { host: string; port?: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : undefined };
  if (net.isIPv6(address)) return { host: address };
  const m = /^([^:]+):(\d+)$/.exec(address);
  if (m) return { host: m[1], port: Number(m[2]) };
  return { host: address };
}

/** Rejects when `promise` has not settled within `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
    return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const base = errorMessage(err);
  return cause?.code ? `${base} (${cause.code})` : cause?.message ? `${base} (${cause.message})` : base;
}
