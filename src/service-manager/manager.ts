/**
 * The service manager: composes the seed-000 store, the traffic monitor, the sandbox, layers,
 * storage folders and alert rules into the thing a servient runs (docs/service-manager.md).
 *
 * - Every thing the servient exposes is a service row: things of the services it runs belong to
 *   their service (the first thing's title is its `unit`); any other thing (the launcher's scripts,
 *   things a library user exposes) gets a row of its own — id = its URL name, unit = its title,
 *   path = the absolute path of the script that produced it (or ""), provider `launcher` (or
 *   `servient`), version = the TD's `version.instance` read as an integer, else 1. Such "external"
 *   rows are told apart by their path (absolute or empty; packages have relative paths): the
 *   manager does not start or stop them, the launcher does, and marks them stopped at shutdown.
 * - `state` is what a service should be (running / stopped), `status` what it is (ok / error with
 *   its message), `startAt` its last start. At start, every package service whose state is running
 *   is started with what its row says (path, version, layers).
 * - Traffic totals are saved every `persistIntervalMs` and announced as the Thing's `trafficTotals`
 *   property, so the recorder keeps them in the history like any measurement.
 * - Every `checkIntervalMs`: limits (`stateLimit` on the storage folder, `storageLimit` on the
 *   recorded history of the service's things), alert rules, and TTLs of stopped services.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { ExposedThing } from "@node-wot/core";
import { VoError, VoInputError, errorMessage } from "../errors";
import { createLogger } from "../log";
import { addThingRequestGate, addUngatedRequestObserver } from "../node-wot/http-server";
import { afterDestroy, afterExpose } from "../node-wot/servient-hooks";
import { AlertEvaluator, parseAlertRules, type AlertChange } from "./alerts";
import { SmNotFoundError } from "./errors";
import type { ServiceManagerHost } from "./host";
import { installLayer, layerDirName, resolveLayers } from "./layers-digest";
import { readServicePackage, type ServicePackage } from "./package";
import { isInside, resolveInside, resolveServicePath } from "./paths";
import { ServiceSandbox, type SandboxError } from "./sandbox";
import {
  checkLimits,
  compareStateChecksum,
  folderBytes,
  prepareStorageFolder,
  removeStorageFolder,
  stateChecksum,
  storageFolderName,
} from "./storage";
import { ServiceManagerStore, serviceManagerFile } from "./store";
import { exposeServiceManagerThing, SERVICE_MANAGER_TITLE, type ServiceRuntimeActions } from "./thing";
import { TrafficMonitor } from "./traffic-monitor";
import type { JsonValue, Layer, Service, ServiceChanges } from "./types";

const log = createLogger("service-manager");

/** Provider of rows for things the launcher's scripts expose, and for any other thing. */
export const LAUNCHER_PROVIDER = "launcher";
export const SERVIENT_PROVIDER = "servient";

export interface ServiceManagerRunOptions {
  /** The clock (ms since the epoch) of traffic periods, alerts and TTLs. Default Date.now. */
  now?: () => number;
  /** Reject (the plugin's HTTP context) so errors carry their status. */
  onError?: (err: unknown) => unknown;
}

interface Run {
  sandbox: ServiceSandbox;
  storageDir: string;
  users: string[];
  alerts?: AlertEvaluator;
}

const scriptContext = new AsyncLocalStorage<string>();

/** Runs `fn` (a launcher script) so that the things it exposes are registered with `path` = script. */
export function runAsScript<T>(script: string, fn: () => T): T {
  return scriptContext.run(script, fn);
}

/** A row the launcher (or the library user), not the manager, runs: its path is absolute or empty. */
export function isExternal(service: Pick<Service, "path">): boolean {
  return service.path === "" || path.isAbsolute(service.path);
}

export class ServiceManager implements ServiceRuntimeActions {
  readonly store: ServiceManagerStore;
  readonly traffic: TrafficMonitor;
  readonly servicesDir: string;
  readonly layersDir: string;
  readonly storageDir: string;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => unknown;
  private readonly runs = new Map<string, Run>();
  private readonly owned = new Map<ExposedThing, string>();
  private readonly externalThings = new Map<ExposedThing, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private wot: typeof WoT | undefined;
  private thing: WoT.ExposedThing | undefined;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly host: ServiceManagerHost,
    options: ServiceManagerRunOptions = {},
  ) {
    const o = host.options.serviceManager;
    const dataDir = host.options.dataDir;
    this.servicesDir = path.resolve(o.servicesDir ?? path.join(dataDir, "services"));
    this.layersDir = path.resolve(o.layersDir ?? path.join(dataDir, "layers"));
    this.storageDir = path.resolve(o.storageDir ?? path.join(dataDir, "service-storage"));
    for (const dir of [this.servicesDir, this.layersDir, this.storageDir])
      fs.mkdirSync(dir, { recursive: true });
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? ((err) => err);
    this.store = ServiceManagerStore.open({ file: serviceManagerFile(dataDir) });
    this.traffic = new TrafficMonitor({
      store: this.store,
      period: o.period,
      persistIntervalMs: 0, // the manager's own tick persists, and records the totals
      now: options.now, // undefined: the monitor's own coarse clock, cheap on the request path
    });
    addThingRequestGate(host.servient, this.traffic.gate);
    addUngatedRequestObserver(host.servient, this.traffic.ungated);
    afterExpose(host.servient, (thing) => this.thingExposed(thing));
    afterDestroy(host.servient, (thingId) => this.thingDestroyed(thingId));
  }

  /** After `servient.start()`: exposes the ServiceManager Thing and starts what the database says. */
  async start(wot: typeof WoT): Promise<void> {
    this.wot = wot;
    // Rows of things the launcher runs come back when the launcher exposes them again.
    for (const s of this.store.getServices())
      if (isExternal(s) && s.state === "running") this.store.setServiceState(s.id, "stopped");
    this.thing = await exposeServiceManagerThing({
      wot,
      store: this.store,
      traffic: this.traffic,
      runtime: this,
      authorize: () => this.host.checkMayChange(this.thing as unknown as ExposedThing),
      onError: (err) => this.onError(clientError(err)),
    });
    for (const s of this.store.getServices())
      if (!isExternal(s) && s.state === "running")
        await this.lock(s.id, () => this.run(s)).catch((err) =>
          log.error("could not restart service '%s': %s", s.id, errorMessage(err)),
        );
    const o = this.host.options.serviceManager;
    this.timers.push(setInterval(() => void this.tick(), o.persistIntervalMs));
    this.timers.push(setInterval(() => void this.check(), o.checkIntervalMs));
    for (const t of this.timers) t.unref();
  }

  /** The exposed ServiceManager Thing (after start). */
  get exposedThing(): WoT.ExposedThing | undefined {
    return this.thing;
  }

  /** Saves the traffic totals and announces them (recorded into the history). */
  async tick(): Promise<void> {
    if (this.closed) return;
    this.traffic.persist();
    this.traffic.reloadLimits();
    if (!this.thing) return;
    try {
      await (this.thing.emitPropertyChange("trafficTotals") as unknown as Promise<void> | undefined);
    } catch (err) {
      log.error("recording the traffic totals failed: %s", errorMessage(err));
    }
  }

  /** One round of the periodic checks: state limits, alert rules, TTLs. */
  async check(): Promise<void> {
    if (this.closed) return;
    for (const [id, run] of [...this.runs]) {
      try {
        const row = this.store.getService(id);
        const bytes = await folderBytes(run.storageDir);
        // Counted only under a limit: the first count reads the whole history (in chunks).
        const historyBytes =
          row.storageLimit > 0
            ? await this.host.historyBytes([...run.sandbox.things].map((t) => t.id))
            : undefined;
        if (this.runs.get(id) !== run) continue; // stopped or restarted while it was counted
        const over = checkLimits(
          { stateBytes: bytes, historyBytes },
          { stateLimit: row.stateLimit, storageLimit: row.storageLimit },
        );
        if (over) {
          await this.lock(id, () => this.stopRun(id));
          this.store.updateService(id, {
            state: "stopped",
            status: "error",
            statusMessage: `stopped: ${over.reason}`,
          });
          this.emit("serviceEvent", { service: id, kind: "limit", message: over.reason });
          continue;
        }
        if (run.alerts && row.unit !== "") {
          const chain = (name: string) => {
            try {
              return this.traffic.chain(name).value;
            } catch {
              return 0;
            }
          };
          const sample = {
            inTraffic: chain(`${row.unit}_IN`),
            outTraffic: chain(`${row.unit}_OUT`),
            storage: bytes,
          };
          for (const change of run.alerts.evaluate(sample, this.now())) this.alert(id, change);
        }
      } catch (err) {
        log.error("checking service '%s' failed: %s", id, errorMessage(err));
      }
    }
    const now = this.now();
    for (const s of this.store.getServices()) {
      if (s.state === "running" || s.ttl <= 0 || s.startAt === null || isExternal(s)) continue;
      if (now - s.startAt.getTime() <= s.ttl * 86_400_000) continue;
      const message = `removed: stopped and last started ${s.startAt.toISOString()}, over its ttl of ${s.ttl} days`;
      log.info("service '%s' %s", s.id, message);
      this.emit("serviceEvent", { service: s.id, kind: "ttl", message });
      await this.removeService(s.id).catch((err) =>
        log.error("TTL removal of '%s' failed: %s", s.id, errorMessage(err)),
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Things the servient exposes

  private thingExposed(thing: ExposedThing): void {
    if (this.closed || (this.thing as unknown) === thing || this.owned.has(thing)) return;
    if ((thing.title ?? "") === SERVICE_MANAGER_TITLE && this.thing === undefined) return;
    const script = scriptContext.getStore();
    const id = urlName(thing.title ?? "") || thing.id;
    const fields: ServiceChanges = {
      version: tdVersion(thing),
      serviceProvider: script ? LAUNCHER_PROVIDER : SERVIENT_PROVIDER,
      path: script ?? "",
      unit: thing.title ?? "",
      state: "running",
      status: "ok",
      startAt: new Date(this.now()),
    };
    try {
      let existing: Service | undefined;
      try {
        existing = this.store.getService(id);
      } catch (err) {
        if (!(err instanceof SmNotFoundError)) throw err;
      }
      if (existing && !isExternal(existing)) {
        log.warn("thing '%s' is not registered: service id '%s' is a package service", thing.title, id);
        return;
      }
      if (existing) this.store.updateService(id, fields);
      else this.store.addService({ id, ...fields });
      this.externalThings.set(thing, id);
    } catch (err) {
      log.error("could not register thing '%s' as a service: %s", thing.title, errorMessage(err));
    }
  }

  /** A launcher's (or library user's) thing destroyed mid-run: its row is stopped once none of its things is left. */
  private thingDestroyed(thingId: string): void {
    if (this.closed) return;
    for (const [thing, id] of this.externalThings) {
      if (thing.id !== thingId) continue;
      this.externalThings.delete(thing);
      if ([...this.externalThings.values()].includes(id)) continue;
      try {
        this.store.setServiceState(id, "stopped");
      } catch (err) {
        log.debug("could not mark '%s' stopped: %s", id, errorMessage(err));
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The Thing's actions

  async installService(input: { path: string; digest?: string }): Promise<Service> {
    await resolveServicePath(this.servicesDir, input.path, input.digest);
    const pkg = readServicePackage(this.servicesDir, input.path);
    return this.lock(pkg.id, async () => {
      const service = this.store.addService({
        id: pkg.id,
        ...packageFields(pkg),
        state: "init",
        status: "ok",
      });
      this.store.addServiceToUsers(this.defaultUsers(), pkg.id);
      return service;
    });
  }

  startService(id: string): Promise<Service> {
    return this.lock(id, async () => {
      this.managed(id);
      this.store.setServiceState(id, "running");
      if (!this.runs.has(id)) await this.run(this.store.getService(id));
      return this.store.getService(id);
    });
  }

  stopService(id: string): Promise<Service> {
    return this.lock(id, async () => {
      this.managed(id);
      await this.stopRun(id);
      return this.store.updateService(id, { state: "stopped", status: "ok" });
    });
  }

  updateServicePackage(input: { id: string; path?: string; digest?: string }): Promise<Service> {
    return this.lock(input.id, async () => {
      const old = this.managed(input.id);
      const nextPath = input.path ?? old.path;
      await resolveServicePath(this.servicesDir, nextPath, input.digest);
      const pkg = readServicePackage(this.servicesDir, nextPath);
      if (pkg.id !== old.id)
        throw new VoInputError(
          `the package at '${nextPath}' is service '${pkg.id}', not '${old.id}'; install it as a service of its own`,
          "SM_PACKAGE",
        );
      if (pkg.version < old.version)
        throw new VoInputError(
          `the package at '${nextPath}' has version ${pkg.version}, lower than the installed ${old.version}; an update never goes back`,
          "SM_PACKAGE",
        );
      const wasRunning = old.state === "running";
      await this.stopRun(old.id);
      const updated = this.store.updateService(old.id, packageFields(pkg));
      if (!wasRunning) return updated;
      if (await this.run(updated)) return this.store.getService(old.id);
      const failure = this.store.getService(old.id).statusMessage;
      this.store.updateService(old.id, {
        path: old.path,
        version: old.version,
        serviceProvider: old.serviceProvider,
        layerList: old.layerList,
        alertRules: old.alertRules,
      });
      const back = await this.run(this.store.getService(old.id));
      const message =
        `update to version ${pkg.version} ('${nextPath}') failed: ${failure}; rolled back to version ${old.version}` +
        (back ? "" : `, which failed too: ${this.store.getService(old.id).statusMessage}`);
      this.emit("serviceEvent", { service: old.id, kind: "error", message });
      return this.store.updateService(old.id, { status: "error", statusMessage: message });
    });
  }

  removeService(id: string): Promise<void> {
    return this.lock(id, async () => {
      const row = this.store.getService(id);
      if (isExternal(row) && row.state === "running")
        throw new VoInputError(
          `service '${id}' is a thing the launcher runs (${row.path || "no script"}); stop the launcher's script instead`,
          "SM_EXTERNAL",
        );
      await this.stopRun(id, false);
      for (const u of this.store.getUsersServicesByServiceId(id))
        if (u.storageFolder !== "")
          await removeStorageFolder(this.storageDir, u.storageFolder).catch((err) =>
            log.error("could not remove the storage folder of '%s': %s", id, errorMessage(err)),
          );
      await fsp.rmdir(path.join(this.storageDir, id)).catch(() => undefined);
      this.store.removeServiceFromAllUsers(id);
      if (row.unit !== "")
        for (const chain of [`${row.unit}_IN`, `${row.unit}_OUT`])
          try {
            // The monitor's total goes back to 0 (it would save its in-memory value again), then the row goes.
            this.traffic.setChainValue(chain, 0);
            this.store.removeTrafficMonitorData(chain);
          } catch (err) {
            if (!(err instanceof SmNotFoundError)) throw err;
          }
      this.store.removeService(id);
    });
  }

  async addLayer(input: {
    path: string;
    digest: string;
    layerId?: string;
    osVersion?: string;
  }): Promise<Layer> {
    const source = resolveInside(this.servicesDir, input.path, "layer path");
    const dest = await installLayer(source, input.digest, this.layersDir);
    this.store.addLayer({
      digest: input.digest,
      layerId: input.layerId ?? input.path,
      path: path.relative(this.layersDir, dest),
      osVersion: input.osVersion ?? "",
    });
    return this.store.getLayer(input.digest);
  }

  async removeLayer(digest: string): Promise<void> {
    const users = this.store.getServices().filter((s) => s.layerList.includes(digest));
    if (users.length > 0)
      throw new VoError(
        `layer ${digest} is used by ${users.map((s) => `'${s.id}'`).join(", ")}; update or remove them first`,
        "VO_DUPLICATE",
      );
    const layer = this.store.getLayer(digest);
    this.store.deleteLayerByDigest(digest);
    const dir = path.resolve(this.layersDir, layer.path);
    if (layer.path !== "" && isInside(this.layersDir, dir) && path.basename(dir) === layerDirName(digest))
      await fsp.rm(dir, { recursive: true, force: true });
  }

  serviceExtras(service: Service): Record<string, unknown> {
    const value = (chain: string) => {
      try {
        return this.traffic.chain(chain).value;
      } catch {
        return 0;
      }
    };
    const run = this.runs.get(service.id);
    return {
      running: run !== undefined || (isExternal(service) && service.state === "running"),
      traffic:
        service.unit === ""
          ? { in: 0, out: 0 }
          : { in: value(`${service.unit}_IN`), out: value(`${service.unit}_OUT`) },
    };
  }

  trafficTotals(): Record<string, unknown> {
    const units: Record<string, { in: number; out: number }> = {};
    let total = { in: 0, out: 0 };
    for (const c of this.traffic.chains()) {
      const u = (units[c.unit] ??= { in: 0, out: 0 });
      u[c.direction] = c.value;
    }
    if (units.SYSTEM) total = units.SYSTEM;
    delete units.SYSTEM;
    return { in: total.in, out: total.out, units: JSON.stringify(units) };
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Stops every running service (their state stays: they come back at the next start) and marks
   * the launcher's things stopped. Call before the servient shuts down.
   */
  async stopAll(): Promise<void> {
    for (const id of [...this.runs.keys()])
      await this.lock(id, () => this.stopRun(id)).catch((err) =>
        log.error("stopping service '%s' failed: %s", id, errorMessage(err)),
      );
    for (const id of new Set(this.externalThings.values()))
      try {
        this.store.setServiceState(id, "stopped");
      } catch (err) {
        log.debug("could not mark '%s' stopped: %s", id, errorMessage(err));
      }
    this.externalThings.clear();
  }

  /** Stops the services, saves the traffic totals, closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stopAll();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.traffic.close();
    this.store.close();
  }

  // -------------------------------------------------------------------------------------------

  private defaultUsers(): string[] {
    return [...this.host.options.serviceManager.defaultUsers];
  }

  /** A package service (404 when absent; 400 for a thing the launcher runs). */
  private managed(id: string): Service {
    const row = this.store.getService(id);
    if (isExternal(row))
      throw new VoInputError(
        `service '${id}' is a thing the launcher runs (${row.path || "no script"}), not a package of the services directory; the service manager does not start or stop it`,
        "SM_EXTERNAL",
      );
    return row;
  }

  /** Starts a run of the service as its row says; false (status error with the reason) when it failed. */
  private async run(row: Service): Promise<boolean> {
    const id = row.id;
    if (this.closed) return false;
    if (!this.wot) throw new VoError("the service manager has not started yet", "SM_NOT_STARTED");
    try {
      const pkg = readServicePackage(this.servicesDir, row.path);
      if (pkg.id !== id)
        throw new VoInputError(
          `the package at '${row.path}' is now service '${pkg.id}', not '${id}'`,
          "SM_PACKAGE",
        );
      const layers = await resolveLayers(row.layerList, (digest) => {
        try {
          return path.resolve(this.layersDir, this.store.getLayerPathByDigest(digest));
        } catch {
          return undefined;
        }
      });
      let usersRow = this.store.getUsersServicesByServiceId(id)[0];
      if (!usersRow) {
        this.store.addServiceToUsers(this.defaultUsers(), id);
        usersRow = this.store.getUsersServicesByServiceId(id)[0];
      }
      const users = usersRow.users;
      const storageDir = await prepareStorageFolder(this.storageDir, id, users);
      const folder = storageFolderName(id, users);
      if (usersRow.storageFolder !== folder) this.store.setUsersStorageFolder(users, id, folder);
      const compared = compareStateChecksum(
        usersRow.stateChecksum,
        (await stateChecksum(storageDir)).checksum,
      );
      const rules = row.alertRules ? parseAlertRules(row.alertRules) : {};
      const sandbox = new ServiceSandbox({
        id,
        version: row.version,
        provider: row.serviceProvider,
        scriptPath: pkg.main,
        serviceDir: pkg.dir,
        wot: this.wot,
        layers,
        storageDir,
        onError: (err) => this.failed(id, sandbox, err),
        onThing: (thing, event) => this.serviceThing(id, thing, event),
      });
      const run: Run = {
        sandbox,
        storageDir,
        users,
        alerts: Object.keys(rules).length > 0 ? new AlertEvaluator(rules, { now: this.now }) : undefined,
      };
      this.runs.set(id, run);
      try {
        await sandbox.start();
      } catch (err) {
        this.runs.delete(id);
        throw err;
      }
      this.store.setServiceStartTime(id, new Date(this.now()));
      if (compared === "mismatch") {
        const message = `the state folder ${folder} changed since the service last stopped (checksum mismatch)`;
        this.store.setServiceStatus(id, "error", message);
        this.emit("serviceEvent", { service: id, kind: "stateMismatch", message });
      } else this.store.setServiceStatus(id, "ok");
      return true;
    } catch (err) {
      const message = errorMessage(err);
      log.warn("service '%s' did not start: %s", id, message);
      this.store.setServiceStatus(id, "error", `start failed: ${message}`);
      return false;
    }
  }

  /** Stops a run; records the state checksum. */
  private async stopRun(id: string, checksum = true): Promise<void> {
    const run = this.runs.get(id);
    if (!run) return;
    this.runs.delete(id);
    await run.sandbox.stop();
    if (!checksum) return;
    try {
      const sum = await stateChecksum(run.storageDir);
      this.store.setUsersStateChecksum(run.users, id, sum.checksum);
    } catch (err) {
      log.error("could not record the state checksum of '%s': %s", id, errorMessage(err));
    }
  }

  private failed(id: string, sandbox: ServiceSandbox, err: SandboxError): void {
    if (this.runs.get(id)?.sandbox !== sandbox) return;
    const message = `running: ${errorMessage(err)}`;
    log.warn("service '%s' failed: %s", id, errorMessage(err));
    try {
      this.store.setServiceStatus(id, "error", message);
    } catch (e) {
      log.error("could not record the error of '%s': %s", id, errorMessage(e));
    }
    this.emit("serviceEvent", { service: id, kind: "error", message });
  }

  private serviceThing(id: string, thing: ExposedThing, event: "produced" | "destroyed"): void {
    if (event === "destroyed") {
      this.owned.delete(thing);
      return;
    }
    this.owned.set(thing, id);
    const title = thing.title ?? "";
    try {
      const row = this.store.getService(id);
      if (row.unit === "" && title !== "") this.store.updateService(id, { unit: title });
    } catch (err) {
      log.warn("service '%s': its thing '%s' is not its unit: %s", id, title, errorMessage(err));
    }
  }

  private alert(id: string, change: AlertChange): void {
    log.warn("service '%s': alert %s %s (value %d)", id, change.resource, change.kind, change.value);
    this.emit("alert", {
      service: id,
      resource: change.resource,
      kind: change.kind,
      value: change.value,
      at: new Date(change.at).toISOString(),
    });
  }

  private emit(event: string, data: Record<string, unknown>): void {
    try {
      this.thing?.emitEvent(event, data as WoT.InteractionInput);
    } catch (err) {
      log.error("could not emit %s: %s", event, errorMessage(err));
    }
  }

  /** Runs `fn` after every earlier operation on the same service. */
  private lock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return next;
  }
}

/** The row fields a package gives. */
function packageFields(pkg: ServicePackage): ServiceChanges {
  const q = pkg.quotas;
  return {
    version: pkg.version,
    serviceProvider: pkg.provider,
    path: pkg.path,
    layerList: pkg.layers,
    alertRules:
      Object.keys(pkg.alertRules).length > 0 ? (rawAlertRules(pkg) as { [k: string]: JsonValue }) : null,
    ...(q.stateLimit !== undefined ? { stateLimit: q.stateLimit } : {}),
    ...(q.storageLimit !== undefined ? { storageLimit: q.storageLimit } : {}),
    ...(q.ulLimit !== undefined ? { ulLimit: q.ulLimit } : {}),
    ...(q.dlLimit !== undefined ? { dlLimit: q.dlLimit } : {}),
    ...(q.ulSpeed !== undefined ? { ulSpeed: q.ulSpeed } : {}),
    ...(q.dlSpeed !== undefined ? { dlSpeed: q.dlSpeed } : {}),
  };
}

/** The alert rules as written in service.json (Aos's form), for `services.alertRules`. */
function rawAlertRules(pkg: ServicePackage): unknown {
  if (pkg.kind !== "directory" || !pkg.dir) return null;
  const json = JSON.parse(fs.readFileSync(path.join(pkg.dir, "service.json"), "utf8")) as {
    alertRules?: unknown;
  };
  return json.alertRules ?? null;
}

/** node-wot's URL name of a thing: its title in lower case, other runs of characters as "-". */
function urlName(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** The TD's `version.instance` as an integer ("2", "2.1.0" → 2), else 1. */
function tdVersion(thing: ExposedThing): number {
  const v = (thing as { version?: { instance?: unknown } }).version?.instance;
  const n = typeof v === "number" ? Math.trunc(v) : typeof v === "string" ? parseInt(v, 10) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : 1;
}

/**
 * Errors a client caused (bad paths, packages, layers, digests, rules) become 400s with their
 * message; the store's 404 / 409 and the guard's 401 / 403 keep theirs.
 */
function clientError(err: unknown): unknown {
  if (!(err instanceof VoError) || err.name === "VoInputError") return err;
  if (err.code.startsWith("SM_")) return new VoInputError(err.message, err.code);
  return err;
}
