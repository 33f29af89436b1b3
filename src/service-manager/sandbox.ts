/**
 * One run of a service's Thing script in a context of its own (`node:vm`), in the servient that
 * gave it its `WoT`. Ordinary node-wot scripts — a global `WoT`, `setInterval` — run unchanged,
 * and stop cleanly:
 *
 * * `WoT` is a per-sandbox wrapper around the servient's WoT object: `produce()` records every
 *   thing the script makes; the thing it returns is a wrapper whose `destroy()` is recorded too.
 *   stop() destroys what is left, so the things' URLs answer 404. node-wot's classes are not
 *   touched.
 * * Timers (`setTimeout`, `setInterval`, `setImmediate`, their clear functions, `timers`,
 *   `timers/promises`) are the context's own: stop() clears every one still pending.
 * * `require` reaches Node built-ins, the project's dependencies (resolved from the project root
 *   and shared with the host), files inside the service directory and modules of the service's
 *   layers; anything else throws SandboxError SM_REQUIRE. Files of the service and its layers
 *   are compiled into the context and cached per run, so nothing of them outlives stop().
 * * Errors are attributed to the service: a throw while the script starts, a rejected promise
 *   nobody handled, a throw in a timer or in a handler it gave node-wot. Before start() resolves
 *   they make it reject; afterwards they go to `onError`. The process keeps running.
 *
 * `vm` is not a security boundary: services are trusted code (docs/service-manager.md).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import path from "node:path";
import timersPromises from "node:timers/promises";
import nodeTimers from "node:timers";
import util from "node:util";
import vm from "node:vm";
import type { ExposedThing } from "@node-wot/core";
import { VoError } from "../errors";
import { createLogger } from "../log";
import { isInside } from "./paths";

const log = createLogger("service-manager:sandbox");

export type SandboxState = "created" | "starting" | "running" | "stopping" | "stopped" | "failed";

/** What a failing service, a refused module or a call after stop throws or reports. */
export class SandboxError extends VoError {
  constructor(
    message: string,
    code: "SM_SCRIPT" | "SM_REQUIRE" | "SM_STOPPED" | "SM_EXIT" | "SM_BUSY",
    readonly serviceId: string,
    options?: { cause?: unknown },
  ) {
    super(message, code);
    this.name = "SandboxError";
    if (options && "cause" in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The part of node-wot's WoT object the sandbox needs. Everything else passes through. */
export interface WoTLike {
  produce(init: WoT.ExposedThingInit): Promise<WoT.ExposedThing>;
}

export interface SandboxOptions {
  /** Service id (names errors, logs and the context). */
  id: string;
  version?: number;
  provider?: string;
  /** Real path of the script to run. */
  scriptPath: string;
  /** Real path of the service directory: its files may be required. Unset for a single script,
   *  which may require no file. */
  serviceDir?: string;
  /** `WoT` from `servient.start()`. */
  wot: WoTLike;
  /** Layer directories, in `layerList` order, already verified (layers-digest.resolveLayers). */
  layers?: readonly string[];
  /** The storage folder (storage.prepareStorageFolder): `STORAGE_DIR` and `service.storageDir`. */
  storageDir?: string;
  /** `process.env` as the script sees it; default a copy of the host's, taken at start. */
  env?: Record<string, string | undefined>;
  /** The script's `console`; default the host's. */
  console?: Console;
  /** Errors after start() resolved. */
  onError?(err: SandboxError): void;
  /** Each thing the script produces, and each one destroyed (by the script or by stop()). */
  onThing?(thing: ExposedThing, event: "produced" | "destroyed"): void;
  /** Directory of the package.json whose dependencies scripts may require; default this package's. */
  projectRoot?: string;
  /** Bound on the script's synchronous top-level run (ms, default 5000): a loop that never ends
   *  fails the start instead of freezing every service. */
  syncTimeoutMs?: number;
  /** How long start() waits for the WoT calls the script started to settle (ms, default 10000). */
  settleTimeoutMs?: number;
  /** Bound on the `service.onStop` callbacks at stop (ms, default 5000). */
  stopTimeoutMs?: number;
}

/** The `service` global of a script. */
export interface ServiceInfo {
  readonly id: string;
  readonly version?: number;
  readonly provider?: string;
  readonly storageDir?: string;
  /** Runs `fn` at stop, before the things are destroyed (for resources other than timers). */
  onStop(fn: () => unknown): void;
}

// ---------------------------------------------------------------------------------------------
// Attribution of asynchronous errors: every callback of a service runs in its async context, and
// Node 20 runs 'unhandledRejection' and 'uncaughtException' listeners in the context of the
// promise or callback that failed. One pair of process listeners serves every sandbox.

const FAIL = Symbol("fail");
const current = new AsyncLocalStorage<ServiceSandbox>();
let guarded = false;

function installGuard(): void {
  if (guarded) return;
  guarded = true;
  process.on("unhandledRejection", sandboxGuardRejection);
  process.on("uncaughtException", sandboxGuardUncaught);
}

/**
 * The id of the service whose code is running — in the current async context, so also inside a
 * host's own 'unhandledRejection' / 'uncaughtException' listener for that service's error.
 * Such a listener should leave those errors alone: the sandbox reports them already.
 */
export function currentServiceId(): string | undefined {
  return current.getStore()?.id;
}

function sandboxGuardRejection(reason: unknown): void {
  const sandbox = current.getStore();
  if (sandbox) return sandbox[FAIL](reason, "a promise rejection nobody handled");
  // Not a service's. With no other listener Node would raise it as an uncaught exception.
  if (process.listenerCount("unhandledRejection") === 1)
    process.nextTick(() => {
      throw reason;
    });
}

function sandboxGuardUncaught(err: unknown, origin: string): void {
  const sandbox = current.getStore();
  if (sandbox)
    return sandbox[FAIL](
      err,
      origin === "unhandledRejection" ? "a promise rejection" : "an uncaught exception",
    );
  if (process.listenerCount("uncaughtException") === 1) {
    // Ours is the only listener: do what Node does without one (print it, exit 1).
    process.off("uncaughtException", sandboxGuardUncaught);
    process.off("unhandledRejection", sandboxGuardRejection);
    guarded = false;
    process.nextTick(() => {
      throw err;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The project whose dependencies scripts may require.

interface Project {
  root: string;
  name: string;
  main: string;
  deps: ReadonlySet<string>;
  require: NodeJS.Require;
}

const projects = new Map<string, Project>();

function projectAt(root?: string): Project {
  const dir = root ?? findProjectRoot(__dirname);
  let p = projects.get(dir);
  if (!p) {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as {
      name: string;
      main?: string;
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    p = {
      root: dir,
      name: pkg.name,
      main: path.join(dir, pkg.main ?? "index.js"),
      deps: new Set([
        ...Object.keys(pkg.dependencies ?? {}),
        ...Object.keys(pkg.peerDependencies ?? {}),
        ...Object.keys(pkg.optionalDependencies ?? {}),
      ]),
      require: createRequire(path.join(dir, "package.json")),
    };
    projects.set(dir, p);
  }
  return p;
}

function findProjectRoot(from: string): string {
  for (let dir = from; ;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
}

/** "@scope/name/sub" → "@scope/name"; "name/sub" → "name". */
function packageName(request: string): string {
  const parts = request.split("/");
  return request.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

// ---------------------------------------------------------------------------------------------

interface SandboxModule {
  id: string;
  filename: string;
  path: string;
  exports: unknown;
  loaded: boolean;
  children: SandboxModule[];
  paths: string[];
  require: SandboxRequire;
}

interface SandboxRequire {
  (request: string): unknown;
  resolve(request: string): string;
  main: SandboxModule | undefined;
}

type Resolved =
  | { kind: "builtin"; id: string }
  | { kind: "host"; file: string }
  | { kind: "file"; file: string; root: string };

/** How long teardown waits for produce() calls in flight (they settle in microseconds). */
const PRODUCE_WAIT_MS = 2000;

const WRAPPER_PARAMS = ["exports", "require", "module", "__filename", "__dirname"];
const EXTENSIONS = [".js", ".cjs", ".json"];

/**
 * One run of a service. start() once, stop() once; start the service again with a new sandbox.
 */
export class ServiceSandbox {
  readonly id: string;
  readonly #o: SandboxOptions;
  #state: SandboxState = "created";
  readonly #things = new Set<ExposedThing>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #immediates = new Set<NodeJS.Immediate>();
  readonly #listeners: {
    event: string | symbol;
    fn: (...a: unknown[]) => unknown;
    wrapped: (...a: unknown[]) => void;
  }[] = [];
  readonly #onStop: (() => unknown)[] = [];
  readonly #pending = new Set<PromiseLike<unknown>>();
  readonly #producing = new Set<PromiseLike<unknown>>();
  readonly #subscriptions = new Set<Subscription>();
  readonly #abort = new AbortController();
  #modules = new Map<string, SandboxModule>();
  #context: vm.Context | undefined;
  #roots: string[] = [];
  #startError: SandboxError | undefined;
  #wake: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #errors = 0;
  #lastError: SandboxError | undefined;

  constructor(options: SandboxOptions) {
    this.#o = options;
    this.id = options.id;
  }

  get state(): SandboxState {
    return this.#state;
  }

  /** The things the script produced and that are not destroyed. */
  get things(): ReadonlySet<ExposedThing> {
    return this.#things;
  }

  /** Errors attributed to the service while it started or ran, and the last one. */
  get errors(): number {
    return this.#errors;
  }

  get lastError(): SandboxError | undefined {
    return this.#lastError;
  }

  /** Timers, intervals and immediates of the script still pending. */
  activeTimers(): number {
    return this.#timers.size + this.#immediates.size;
  }

  /**
   * Runs the script: its top level (bounded by syncTimeoutMs), then its exported function if it
   * exports one (called with `{ WoT, service, servient }`), then waits until the WoT calls it
   * started (produce, expose, …) settle (bounded by settleTimeoutMs). Rejects with SandboxError
   * when any of that throws or a promise of the service rejects unhandled meanwhile; the run is
   * then torn down (state "failed").
   */
  start(): Promise<void> {
    if (this.#state !== "created")
      return Promise.reject(
        new SandboxError(
          `service '${this.id}' was already started (a sandbox runs once)`,
          "SM_BUSY",
          this.id,
        ),
      );
    this.#state = "starting";
    installGuard();
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const started = Date.now();
    const o = this.#o;
    try {
      this.#roots = [o.serviceDir, ...(o.layers ?? [])]
        .filter((d): d is string => d !== undefined)
        .map((d) => fs.realpathSync(d));
      this.#context = this.#createContext();
      const exported = current.run(this, () => this.#runMain());
      const fn =
        typeof exported === "function"
          ? exported
          : typeof (exported as { default?: unknown } | null)?.default === "function"
            ? (exported as { default: unknown }).default
            : undefined;
      if (typeof fn === "function") {
        const servient = (o.wot as { servient?: unknown }).servient;
        const result = current.run(this, () =>
          (fn as (api: unknown) => unknown)({
            WoT: this.#context!.WoT,
            service: this.#context!.service,
            servient,
          }),
        );
        if (isThenable(result))
          this.#track(
            result.then(undefined, (err: unknown) => this[FAIL](err, "its exported function rejected")),
          );
      }
      await this.#settle(o.settleTimeoutMs ?? 10_000);
    } catch (err) {
      this[FAIL](err, "it threw while starting");
    }
    const failure = this.#startError;
    if (failure) {
      this.#state = "failed";
      await this.#teardown();
      throw failure;
    }
    this.#state = "running";
    log.debug("service %s started in %d ms (%d things)", this.id, Date.now() - started, this.#things.size);
  }

  /** Waits for the tracked WoT calls, turn after turn, until none is left (or time is up). */
  async #settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    for (;;) {
      // One macrotask turn: the script's callbacks on what just settled start their next calls,
      // and Node reports rejections nobody handled.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#startError || this.#pending.size === 0) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        log.debug(
          "service %s: %d WoT calls still pending after %d ms; running",
          this.id,
          this.#pending.size,
          timeoutMs,
        );
        break;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#pending]),
        woken,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
    this.#wake = undefined;
  }

  /**
   * Stops the run: the script's `service.onStop` callbacks (bounded), then every thing it
   * produced is destroyed, every timer cleared, every process listener removed, and the context
   * released. Stopping while starting waits for the start first. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#starting) await this.#starting.catch(() => undefined);
      if (this.#state !== "running") {
        if (this.#state === "created") this.#state = "stopped";
        return;
      }
      this.#state = "stopping";
      await this.#runStopHooks(this.#o.stopTimeoutMs ?? 5000);
      await this.#teardown();
      this.#state = "stopped";
      log.debug("service %s stopped", this.id);
    })();
    return this.#stopping;
  }

  async #runStopHooks(timeoutMs: number): Promise<void> {
    if (this.#onStop.length === 0) return;
    const runs = this.#onStop.map((fn) =>
      current.run(this, async () => {
        try {
          await fn();
        } catch (err) {
          log.warn("service %s: an onStop callback failed: %s", this.id, describeError(err));
        }
      }),
    );
    if (!(await settleWithin(runs, timeoutMs)))
      log.warn("service %s: onStop callbacks still running after %d ms; stopping anyway", this.id, timeoutMs);
  }

  async #teardown(): Promise<void> {
    this.#abort.abort(new SandboxError(`service '${this.id}' stopped`, "SM_STOPPED", this.id));
    this.#clearTimers();
    for (const l of this.#listeners.splice(0)) process.removeListener(l.event, l.wrapped);
    if (this.#producing.size > 0) await settleWithin([...this.#producing], PRODUCE_WAIT_MS);
    for (const sub of [...this.#subscriptions]) {
      if (sub.active)
        await sub.stop().catch((err: unknown) => log.debug("service %s: %s", this.id, describeError(err)));
    }
    this.#subscriptions.clear();
    for (const thing of [...this.#things]) {
      try {
        await this.#destroyThing(thing);
      } catch (err) {
        log.warn("service %s: destroying thing '%s' failed: %s", this.id, thing.title, describeError(err));
      }
    }
    this.#clearTimers();
    // One turn for what the abort and the destroys set off (waits that reject, handlers that
    // fail): their rejections are reported, as this run's, before stop() returns.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#pending.clear();
    this.#onStop.length = 0;
    this.#modules = new Map();
    this.#ownBuiltins = new Map();
    this.#context = undefined;
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const i of this.#immediates) clearImmediate(i);
    this.#immediates.clear();
  }

  /** An error of this service: fails a start in progress, else goes to onError. */
  [FAIL](err: unknown, how: string): void {
    const e = this.#wrapError(err, how);
    if (this.#state === "starting" || this.#state === "running") {
      this.#errors++;
      this.#lastError = e;
    }
    if (this.#state === "starting") {
      this.#startError ??= e;
      this.#wake?.();
    } else if (this.#state === "running") {
      try {
        // Outside the service's async context: what the callback leaves behind is the host's.
        current.exit(() => this.#o.onError?.(e));
      } catch (cbErr) {
        log.error("service %s: onError threw: %s", this.id, describeError(cbErr));
      }
      if (!this.#o.onError) log.error("%s", e.message);
    } else {
      log.debug("service %s (%s): %s", this.id, this.#state, e.message);
    }
  }

  #wrapError(err: unknown, how: string): SandboxError {
    if (err instanceof SandboxError && err.serviceId === this.id) return err;
    let what: string;
    try {
      const at = this.#where(err);
      what = `${describeError(err)}${at ? ` (${at})` : ""}`;
    } catch {
      what = "a value that cannot be described (its message or stack threw)";
    }
    return new SandboxError(`service '${this.id}' failed: ${how}: ${what}`, "SM_SCRIPT", this.id, {
      cause: err,
    });
  }

  /** The first stack line in the service's own files (or its layers'). */
  #where(err: unknown): string | undefined {
    const stack = isErrorLike(err) && typeof err.stack === "string" ? err.stack : "";
    const lines = stack.split("\n");
    const ours = (l: string) => l.includes(this.#o.scriptPath) || this.#roots.some((r) => l.includes(r));
    if (lines[0] && ours(lines[0]) && !lines[0].trim().startsWith("at ")) return `at ${lines[0].trim()}`;
    return lines.map((l) => l.trim()).find((l) => l.startsWith("at ") && ours(l));
  }

  /** Throws SM_STOPPED once the run is over; timers stay allowed while the onStop callbacks run. */
  #assertLive(what: string, whileStopping = false): void {
    if (this.#state === "stopping" && whileStopping) return;
    if (this.#state !== "starting" && this.#state !== "running")
      throw new SandboxError(
        `service '${this.id}' is ${this.#state}: ${what} refused`,
        "SM_STOPPED",
        this.id,
      );
  }

  /** Runs a script callback (timer, listener) in the service's context; a throw is the service's
   *  error. What it calls is not waited for by start(): a fast interval would keep it waiting. */
  #invoke(fn: (...a: unknown[]) => unknown, args: unknown[], how: string, self?: unknown): unknown {
    return current.run(this, () => {
      this.#callbacks++;
      try {
        return fn.apply(self, args);
      } catch (err) {
        this[FAIL](err, how);
        return undefined;
      } finally {
        this.#callbacks--;
      }
    });
  }

  /** `fn` (a handler or listener given to node-wot) as the service's code, whoever calls it. */
  #asCallback(fn: Fn): Fn {
    return (...args: unknown[]) =>
      current.run(this, () => {
        this.#callbacks++;
        try {
          return fn(...args);
        } finally {
          this.#callbacks--;
        }
      });
  }

  #callbacks = 0;

  /** A WoT call of the script's start: start() waits for it (see #settle). */
  #track<T>(p: PromiseLike<T>): void {
    if (this.#state !== "starting" || this.#callbacks > 0) return;
    this.#pending.add(p);
    const done = () => void this.#pending.delete(p);
    p.then(done, done);
  }

  // -------------------------------------------------------------------------------------------
  // The context

  #createContext(): vm.Context {
    const o = this.#o;
    const service: ServiceInfo = Object.freeze({
      id: o.id,
      version: o.version,
      provider: o.provider,
      storageDir: o.storageDir,
      onStop: (fn: () => unknown) => {
        if (typeof fn !== "function") throw new TypeError("service.onStop needs a function");
        this.#onStop.push(fn);
      },
    });
    const timers = this.#timerFunctions();
    const g: Record<string, unknown> = {
      WoT: this.#wotWrapper(),
      service,
      console: o.console ?? console,
      process: this.#processFacade(),
      ...timers,
      queueMicrotask: (fn: () => void) => {
        if (typeof fn !== "function") throw new TypeError("queueMicrotask needs a function");
        queueMicrotask(() => void this.#invoke(fn, [], "a microtask threw"));
      },
      Buffer,
      URL,
      URLSearchParams,
      TextEncoder,
      TextDecoder,
      AbortController,
      AbortSignal,
      EventTarget,
      Event,
      structuredClone,
      atob,
      btoa,
      performance,
      fetch,
      Headers,
      Request,
      Response,
      FormData,
      Blob,
      crypto: globalThis.crypto,
    };
    if (o.storageDir !== undefined) g.STORAGE_DIR = o.storageDir;
    const context = vm.createContext(g, { name: `service ${o.id}` });
    g.global = vm.runInContext("globalThis", context);
    return context;
  }

  #timerFunctions() {
    const setTimeoutFn = (fn: (...a: unknown[]) => unknown, ms?: number, ...args: unknown[]) => {
      checkCallback(fn, "setTimeout");
      this.#assertLive("setTimeout", true);
      const t: NodeJS.Timeout = setTimeout(() => {
        this.#timers.delete(t);
        this.#invoke(fn, args, "a setTimeout callback threw", t);
      }, ms);
      this.#timers.add(t);
      return t;
    };
    const setIntervalFn = (fn: (...a: unknown[]) => unknown, ms?: number, ...args: unknown[]) => {
      checkCallback(fn, "setInterval");
      this.#assertLive("setInterval", true);
      const t: NodeJS.Timeout = setInterval(
        () => this.#invoke(fn, args, "a setInterval callback threw", t),
        ms,
      );
      this.#timers.add(t);
      return t;
    };
    const setImmediateFn = (fn: (...a: unknown[]) => unknown, ...args: unknown[]) => {
      checkCallback(fn, "setImmediate");
      this.#assertLive("setImmediate", true);
      const i: NodeJS.Immediate = setImmediate(() => {
        this.#immediates.delete(i);
        this.#invoke(fn, args, "a setImmediate callback threw", i);
      });
      this.#immediates.add(i);
      return i;
    };
    const clearTimer = (h: unknown) => {
      if (h === null || h === undefined) return;
      const t =
        typeof h === "object"
          ? (h as NodeJS.Timeout)
          : [...this.#timers].find((x) => Number(x) === Number(h));
      if (!t) return;
      this.#timers.delete(t);
      clearTimeout(t);
    };
    const clearImmediateFn = (h: unknown) => {
      if (h === null || typeof h !== "object") return;
      this.#immediates.delete(h as NodeJS.Immediate);
      clearImmediate(h as NodeJS.Immediate);
    };
    return {
      setTimeout: setTimeoutFn,
      setInterval: setIntervalFn,
      setImmediate: setImmediateFn,
      clearTimeout: clearTimer,
      clearInterval: clearTimer,
      clearImmediate: clearImmediateFn,
    };
  }

  /** `timers/promises` with the run's abort signal: stop() rejects what is pending (AbortError). */
  #timersPromises() {
    const withSignal = (options?: { signal?: AbortSignal; ref?: boolean }) => {
      this.#assertLive("a timers/promises call", true);
      const mine = this.#abort.signal;
      return { ...options, signal: options?.signal ? AbortSignal.any([mine, options.signal]) : mine };
    };
    return {
      setTimeout: (ms?: number, value?: unknown, options?: { signal?: AbortSignal; ref?: boolean }) =>
        timersPromises.setTimeout(ms, value, withSignal(options)),
      setImmediate: (value?: unknown, options?: { signal?: AbortSignal; ref?: boolean }) =>
        timersPromises.setImmediate(value, withSignal(options)),
      setInterval: (ms?: number, value?: unknown, options?: { signal?: AbortSignal; ref?: boolean }) =>
        timersPromises.setInterval(ms, value, withSignal(options)),
      scheduler: {
        wait: (ms: number, options?: { signal?: AbortSignal }) =>
          timersPromises.scheduler.wait(ms, withSignal(options)),
        yield: () => timersPromises.scheduler.yield(),
      },
    };
  }

  #processFacade(): Record<string, unknown> {
    const env = { ...(this.#o.env ?? process.env) };
    const facade: Record<string, unknown> = {
      env,
      argv: [process.execPath, this.#o.scriptPath],
      execPath: process.execPath,
      platform: process.platform,
      arch: process.arch,
      version: process.version,
      versions: process.versions,
      release: process.release,
      pid: process.pid,
      ppid: process.ppid,
      stdout: process.stdout,
      stderr: process.stderr,
      cwd: () => process.cwd(),
      hrtime: process.hrtime,
      uptime: () => process.uptime(),
      memoryUsage: process.memoryUsage,
      cpuUsage: (prev?: NodeJS.CpuUsage) => process.cpuUsage(prev),
      emitWarning: (...a: unknown[]) => (process.emitWarning as (...x: unknown[]) => void)(...a),
      nextTick: (fn: (...a: unknown[]) => unknown, ...args: unknown[]) => {
        checkCallback(fn, "process.nextTick");
        process.nextTick(() => void this.#invoke(fn, args, "a process.nextTick callback threw"));
      },
      exit: (code?: number) => {
        throw new SandboxError(
          `service '${this.id}' called process.exit(${code ?? ""}); a service does not end the process: ` +
            "throw an error (the service gets an error status) or let the service manager stop it",
          "SM_EXIT",
          this.id,
        );
      },
    };
    const on = (event: string | symbol, fn: (...a: unknown[]) => unknown, once = false) => {
      checkCallback(fn, "process.on");
      this.#assertLive("process.on");
      if (event === "uncaughtException" || event === "unhandledRejection")
        throw new SandboxError(
          `service '${this.id}' cannot listen to process '${String(event)}': the service manager ` +
            "attributes those errors to the service that caused them",
          "SM_SCRIPT",
          this.id,
        );
      const entry = {
        event,
        fn,
        wrapped: (...a: unknown[]) => {
          if (once) off(event, fn);
          this.#invoke(fn, a, `a process '${String(event)}' listener threw`);
        },
      };
      this.#listeners.push(entry);
      process.on(event, entry.wrapped);
      return facade;
    };
    const off = (event: string | symbol, fn: unknown) => {
      const i = this.#listeners.findIndex((l) => l.event === event && l.fn === fn);
      if (i >= 0) process.removeListener(event, this.#listeners.splice(i, 1)[0].wrapped);
      return facade;
    };
    facade.on = facade.addListener = (e: string | symbol, fn: (...a: unknown[]) => unknown) => on(e, fn);
    facade.once = (e: string | symbol, fn: (...a: unknown[]) => unknown) => on(e, fn, true);
    facade.off = facade.removeListener = off;
    return facade;
  }

  // -------------------------------------------------------------------------------------------
  // WoT and the things

  #wotWrapper(): object {
    const produce = (init: WoT.ExposedThingInit) => {
      this.#assertLive("WoT.produce");
      const p = this.#o.wot.produce(init).then((thing) => this.#adopt(thing as unknown as ExposedThing));
      this.#track(p);
      // Whatever the state, teardown waits for it: a thing must not appear after its service stopped.
      this.#producing.add(p);
      const done = () => void this.#producing.delete(p);
      p.then(done, done);
      return p;
    };
    const refuse = (): never => {
      throw new SandboxError(
        `service '${this.id}': WoT is shared by every service and cannot be changed`,
        "SM_SCRIPT",
        this.id,
      );
    };
    return methodProxy(
      this.#o.wot as object,
      (prop, fn, target) => {
        if (prop === "produce") return produce as Fn;
        return (...args: unknown[]) => {
          const r = fn.apply(target, args);
          if (prop === "consume" && isThenable(r)) {
            const consumed = r.then((c) => this.#consumed(c as object));
            this.#track(consumed);
            return consumed;
          }
          if (isThenable(r)) this.#track(r);
          return r;
        };
      },
      { set: refuse, defineProperty: refuse, deleteProperty: refuse },
    );
  }

  /** A thing the script produced: recorded, and handed to it behind a wrapper. */
  #adopt(thing: ExposedThing): ExposedThing | Promise<never> {
    if (this.#state !== "starting" && this.#state !== "running") {
      // Produced while the service was stopping: it must not outlive it.
      const refused = new SandboxError(
        `service '${this.id}' is ${this.#state}: WoT.produce refused`,
        "SM_STOPPED",
        this.id,
      );
      return thing.destroy().then(
        () => Promise.reject(refused),
        () => Promise.reject(refused),
      );
    }
    this.#things.add(thing);
    this.#notify(thing, "produced");
    return methodProxy(thing, (prop, fn, target, proxy) => {
      if (prop === "destroy") return () => this.#destroyThing(target);
      // Handlers run when a client calls, outside the script's own turns: bind them to the
      // service so what they leave unhandled is attributed to it.
      const setsHandler = typeof prop === "string" && /^set\w*Handler$/.test(prop);
      return (...args: unknown[]) => {
        if (setsHandler) args = args.map((a) => (typeof a === "function" ? this.#asCallback(a as Fn) : a));
        const r = fn.apply(target, args);
        if (isThenable(r)) this.#track(r);
        return r === target ? proxy : r;
      };
    });
  }

  /** A thing the script consumed: its subscriptions (events, observed properties) are stopped
   *  at stop, and their listeners run as the service's code. */
  #consumed(thing: object): object {
    return methodProxy(thing, (prop, fn, target, proxy) => {
      const subscribes = prop === "subscribeEvent" || prop === "observeProperty";
      return (...args: unknown[]) => {
        if (subscribes) {
          this.#assertLive(String(prop));
          args = args.map((a) => (typeof a === "function" ? this.#asCallback(a as Fn) : a));
        }
        const r = fn.apply(target, args);
        if (subscribes && isThenable(r))
          r.then((sub) => {
            for (const s of this.#subscriptions) if (!s.active) this.#subscriptions.delete(s);
            if (this.#state === "starting" || this.#state === "running")
              this.#subscriptions.add(sub as Subscription);
            else void (sub as Subscription).stop().catch(noop);
          }, noop);
        if (isThenable(r)) this.#track(r);
        return r === target ? proxy : r;
      };
    });
  }

  /** Destroys a thing of this service once; a thing it no longer holds is left alone (its id may
   *  belong to another service's thing by now). */
  async #destroyThing(thing: ExposedThing): Promise<void> {
    if (!this.#things.delete(thing)) return;
    try {
      await thing.destroy();
    } finally {
      this.#notify(thing, "destroyed");
    }
  }

  #notify(thing: ExposedThing, event: "produced" | "destroyed"): void {
    try {
      current.exit(() => this.#o.onThing?.(thing, event));
    } catch (err) {
      log.error("service %s: onThing threw: %s", this.id, describeError(err));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Modules

  /** Loads the main script within the synchronous time bound; returns its exports. */
  #runMain(): unknown {
    const context = this.#context!;
    const main = this.#o.scriptPath;
    const root = this.#o.serviceDir === undefined ? undefined : this.#roots[0];
    let exported: unknown;
    context.__nwvoMain = () => (exported = this.#load(fs.realpathSync(main), root));
    try {
      new vm.Script("__nwvoMain()", { filename: `service ${this.id} (start)` }).runInContext(context, {
        timeout: this.#o.syncTimeoutMs ?? 5000,
      });
    } finally {
      delete context.__nwvoMain;
    }
    return exported;
  }

  #load(file: string, root: string | undefined): unknown {
    const cached = this.#modules.get(file);
    if (cached) return cached.exports;
    const ext = path.extname(file);
    if (ext === ".mjs")
      throw this.#refuse(
        `'${file}' is an ES module; services and layers are CommonJS (require, module.exports)`,
      );
    if (ext === ".node")
      throw this.#refuse(`'${file}' is a native addon; a service cannot load one from its files`);
    const mod: SandboxModule = {
      id: file,
      filename: file,
      path: path.dirname(file),
      exports: {},
      loaded: false,
      children: [],
      paths: [],
      require: this.#makeRequire(file, root),
    };
    if (this.#modules.size === 0) this.#mainModule = mod; // the first file of a run is its main
    this.#modules.set(file, mod);
    try {
      const source = stripBom(fs.readFileSync(file, "utf8"));
      if (ext === ".json") {
        mod.exports = (vm.runInContext("JSON", this.#context!) as JSON).parse(source);
      } else {
        let fn: (...a: unknown[]) => unknown;
        try {
          fn = vm.compileFunction(source.startsWith("#!") ? "//" + source : source, WRAPPER_PARAMS, {
            filename: file,
            parsingContext: this.#context,
          }) as (...a: unknown[]) => unknown;
        } catch (err) {
          if (isErrorLike(err) && /import statement|export/.test(String(err.message)))
            err.message += "; services and layers are CommonJS (require, module.exports)";
          throw err;
        }
        fn.call(mod.exports, mod.exports, mod.require, mod, file, mod.path);
      }
      mod.loaded = true;
    } catch (err) {
      this.#modules.delete(file);
      throw err;
    }
    return mod.exports;
  }

  #mainModule: SandboxModule | undefined;

  #makeRequire(from: string, root: string | undefined): SandboxRequire {
    const req = ((request: string) => {
      if (typeof request !== "string" || request === "")
        throw new TypeError(`require needs a module name, got ${JSON.stringify(request)}`);
      const r = this.#resolve(request, from, root);
      if (r.kind === "builtin") return this.#builtin(r.id);
      if (r.kind === "host") return projectAt(this.#o.projectRoot).require(r.file);
      return this.#load(r.file, r.root);
    }) as SandboxRequire;
    req.resolve = (request: string) => {
      const r = this.#resolve(request, from, root);
      return r.kind === "builtin" ? r.id : r.file;
    };
    Object.defineProperty(req, "main", { get: () => this.#mainModule, enumerable: true });
    return req;
  }

  /** Built-ins are the host's, except those that would reach around the run's own timers and process. */
  #builtin(id: string): unknown {
    const name = id.startsWith("node:") ? id.slice(5) : id;
    if (name === "process") return this.#context!.process;
    if (name !== "timers" && name !== "timers/promises")
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a built-in the script asked for
      return require(id);
    let promises = this.#ownBuiltins.get("timers/promises");
    if (!promises) this.#ownBuiltins.set("timers/promises", (promises = this.#timersPromises()));
    if (name === "timers/promises") return promises;
    let timers = this.#ownBuiltins.get("timers");
    if (!timers)
      this.#ownBuiltins.set("timers", (timers = { ...nodeTimers, ...this.#timerFunctions(), promises }));
    return timers;
  }

  #ownBuiltins = new Map<string, unknown>();

  #resolve(request: string, from: string, root: string | undefined): Resolved {
    if (isBuiltin(request)) return { kind: "builtin", id: request };
    const project = projectAt(this.#o.projectRoot);
    if (request === "." || request === ".." || /^\.{1,2}[\\/]/.test(request) || path.isAbsolute(request)) {
      if (root === undefined)
        throw this.#refuse(
          `require('${request}') from ${from}: a single-script service requires no file; make it a ` +
            "directory with service.json, or put shared code in a layer",
        );
      const target = path.resolve(path.dirname(from), request);
      if (!isInside(root, target))
        throw this.#refuse(
          `require('${request}') from ${from} resolves to ${target}, outside ${root}; ${this.#allowed()}`,
        );
      const file = this.#findFile(target, root);
      if (!file) throw this.#refuse(`require('${request}') from ${from}: no file ${target}(.js|.cjs|.json)`);
      return { kind: "file", file, root };
    }
    // A bare name: the service's node_modules, its layers, then the project's dependencies.
    if (request.split(/[\\/]/).includes(".."))
      throw this.#refuse(`require('${request}'): a module name cannot contain '..'`);
    const own = this.#o.serviceDir !== undefined ? this.#roots[0] : undefined;
    const places: { dir: string; root: string }[] = [];
    if (own) places.push({ dir: path.join(own, "node_modules"), root: own });
    for (const layer of own ? this.#roots.slice(1) : this.#roots) places.push({ dir: layer, root: layer });
    for (const p of places) {
      const file = this.#findFile(path.join(p.dir, request), p.root);
      if (file) return { kind: "file", file, root: p.root };
    }
    const name = packageName(request);
    if (name === project.name) {
      const file = request === name ? project.main : path.join(project.root, request.slice(name.length + 1));
      return { kind: "host", file };
    }
    if (project.deps.has(name)) {
      try {
        return { kind: "host", file: project.require.resolve(request) };
      } catch (err) {
        throw this.#refuse(`require('${request}'): ${describeError(err)}`);
      }
    }
    throw this.#refuse(`require('${request}') from ${from}: no such module; ${this.#allowed()}`);
  }

  #allowed(): string {
    const project = projectAt(this.#o.projectRoot);
    return (
      "a service can require Node built-ins, the project's dependencies " +
      `(${[project.name, ...project.deps].join(", ")}), files inside its own directory and modules of its layers`
    );
  }

  #refuse(message: string): SandboxError {
    return new SandboxError(`service '${this.id}': ${message}`, "SM_REQUIRE", this.id);
  }

  /** Node's file, extension and directory rules, then the real path must stay inside `root`. */
  #findFile(base: string, root: string): string | undefined {
    const candidates = [base, ...EXTENSIONS.map((e) => base + e)];
    let found = candidates.find(isFile);
    if (!found && isDirectory(base)) {
      const main = packageMain(base);
      const inDir = main
        ? [main, ...EXTENSIONS.map((e) => main + e), ...EXTENSIONS.map((e) => path.join(main, "index" + e))]
        : [];
      found = [...inDir, ...EXTENSIONS.map((e) => path.join(base, "index" + e))].find(isFile);
    }
    if (!found) return undefined;
    const real = fs.realpathSync(found);
    if (!isInside(root, real))
      throw this.#refuse(
        `'${found}' leads to ${real}, outside ${root} (through a symlink); ${this.#allowed()}`,
      );
    return real;
  }
}

type Fn = (...a: unknown[]) => unknown;

/** What consumed things' subscribeEvent / observeProperty resolve to. */
interface Subscription {
  active: boolean;
  stop(): Promise<void>;
}

function noop(): void {}

/**
 * A proxy of `target` whose methods run on `target` itself (node-wot keeps private fields that a
 * proxy as `this` cannot read), each replaced once by `wrap` — again if the target's method
 * changes (another room may wrap it on the instance). Other properties pass through.
 */
function methodProxy<T extends object>(
  target: T,
  wrap: (prop: PropertyKey, fn: Fn, target: T, proxy: T) => Fn,
  traps: ProxyHandler<T> = {},
): T {
  const methods = new Map<PropertyKey, { orig: unknown; wrapped: Fn }>();
  const proxy: T = new Proxy(target, {
    ...traps,
    get: (t, prop) => {
      const v = Reflect.get(t, prop, t);
      if (typeof v !== "function" || prop === "constructor") return v;
      const known = methods.get(prop);
      if (known && known.orig === v) return known.wrapped;
      const wrapped = wrap(prop, v as Fn, t, proxy);
      methods.set(prop, { orig: v, wrapped });
      return wrapped;
    },
  });
  return proxy;
}

/** Waits until every promise settled (true), or `ms` passed (false). */
async function settleWithin(promises: PromiseLike<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    Promise.allSettled(promises).then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false))),
  ]);
  clearTimeout(timer);
  return settled;
}

function packageMain(dir: string): string | undefined {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { main?: unknown };
    return typeof pkg.main === "string" && pkg.main !== "" ? path.join(dir, pkg.main) : undefined;
  } catch {
    return undefined;
  }
}

function isFile(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

function isDirectory(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

function checkCallback(fn: unknown, what: string): void {
  if (typeof fn !== "function") throw new TypeError(`${what} needs a function, got ${typeof fn}`);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as { then?: unknown }).then === "function"
  );
}

/** Errors of a script come from its context: `instanceof Error` is false for them. */
function isErrorLike(err: unknown): err is Error {
  return util.types.isNativeError(err) || (typeof err === "object" && err !== null && "message" in err);
}

function describeError(err: unknown): string {
  if (isErrorLike(err)) return `${err.name ?? "Error"}: ${err.message}`;
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
