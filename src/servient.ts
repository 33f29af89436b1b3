/**
 * Attaching the plugin to a node-wot Servient — the composition root: opens the SQLite file, builds
 * the rooms, decorates the servient with `sqlite_db`, `influxdb` and `vo`, instruments every thing
 * it adds, and ties the plugin's lifecycle (retention, shipping, VO checks, final commit) to the
 * servient's start and shutdown. Every hook into node-wot goes through the adapter (src/node-wot/);
 * the TD and VO rooms get the plugin through their own ports (td/host.ts, vo/host.ts), which
 * VoPlugin implements.
 */
import path from "node:path";
import type { ExposedThing, Servient } from "@node-wot/core";
import { resolveOptions, type VoOptions, type VoOptionsInput } from "./config";
import { movedAsideOf, openDatabase, type SqliteDatabase } from "./store/database";
import { HistoryStore } from "./store/history";
import { HistorySize } from "./store/history-size";
import { Retention } from "./store/retention";
import { SqliteDb } from "./store/sqlite-db";
import { InfluxDb } from "./influx/influxdb";
import { Recorder } from "./recorder/recorder";
import { installTdAffordances } from "./td";
import { HealthMonitor } from "./td/health";
import type { TdHost } from "./td/host";
import { startVoRuntime, type VoRuntime } from "./vo";
import type { VoHost } from "./vo/host";
import { checkMayChange } from "./td/vo-state";
import { ServiceManager, type ServiceManagerHost } from "./service-manager";
import { VoError, errorMessage } from "./errors";
import { createLogger } from "./log";
import { adoptLegacySeries } from "./store/identity";
import { advertiseServedAddresses } from "./node-wot/address";
import { beforeExpose, decorateThing } from "./node-wot/exposed-thing";
import { interceptHttpRequests } from "./node-wot/http-server";
import { reject } from "./node-wot/request-context";
import { decorateServient, decorateWoT, onAddThing, onShutdown, onStart } from "./node-wot/servient-hooks";

const log = createLogger("servient");

declare module "@node-wot/core/dist/servient" {
  export default interface Servient {
    /** SQLite helpers of node-wot-vo (vo-wot `servient.sqlite_db`). Present after `attach()`. */
    readonly sqlite_db: SqliteDb;
    /** InfluxDB helpers of node-wot-vo (vo-wot `servient.influxdb`). Present after `attach()`. */
    readonly influxdb: InfluxDb;
    /** The node-wot-vo plugin itself: history, options, lifecycle. Present after `attach()`. */
    readonly vo: VoPlugin;
  }
}

/** What a servient gains from `attach()`. */
export interface VoHelpers {
  readonly sqlite_db: SqliteDb;
  readonly influxdb: InfluxDb;
  readonly vo: VoPlugin;
}

export type VoServient = Servient & VoHelpers;

export class VoPlugin implements TdHost, VoHost, ServiceManagerHost {
  readonly sqliteDb: SqliteDb;
  readonly history: HistoryStore;
  readonly influxdb: InfluxDb;
  readonly recorder: Recorder;
  readonly retention: Retention;
  private readonly historySize: HistorySize;
  /** The health view and its change events (voHealth / voHealthChanged on every TD). */
  readonly health: HealthMonitor;
  /** The service manager (`serviceManager.enabled`): its database, traffic monitor, Thing and services. */
  serviceManager: ServiceManager | undefined;
  private runtime: VoRuntime | undefined;
  private closed = false;

  constructor(
    readonly servient: Servient,
    readonly options: VoOptions,
    readonly database: SqliteDatabase,
  ) {
    this.sqliteDb = new SqliteDb(database);
    this.history = new HistoryStore(database, options.history);
    this.influxdb = new InfluxDb(options.influxdb, this.history, database);
    // Field types come from the TD data schemas of the things of this servient.
    this.influxdb.useThings((id) => servient.getThing(id));
    this.recorder = new Recorder(this.history, options.recorder);
    this.historySize = new HistorySize(database);
    this.retention = new Retention(
      database,
      options.history.retention,
      () => this.influxdb.shippedUpTo(),
      () => this.historySize.invalidate(),
    );
    this.health = new HealthMonitor({
      recorder: () => this.history.health(),
      pending: () => this.history.pendingCount,
      shipping: () => this.influxdb.status(),
      movedAside: () => movedAsideOf(database),
      onRecorderChange: (listener) => this.history.onStateChange(() => listener()),
    });
  }

  /** The rule of the VO-state actions, for the ServiceManager Thing: credentials when configured, loopback otherwise. */
  checkMayChange(thing: ExposedThing): void {
    checkMayChange(thing, this.servient);
  }

  /** Bytes of the things' committed history, for the service manager's storageLimit. */
  historyBytes(thingIds: readonly string[]): Promise<number> {
    return this.historySize.bytesOf(thingIds);
  }

  /** The SQLite file in use. */
  get file(): string {
    return this.database.name;
  }

  /**
   * A thing whose id the plugin derived from its title: rows recorded under the random ids an
   * earlier version (or node-wot) gave it are moved to the derived id.
   */
  adoptHistory(thing: ExposedThing): void {
    try {
      const adopted = adoptLegacySeries(this.database, thing.title, thing.id);
      if (adopted.rowsMoved > 0) this.historySize.invalidate();
      if (adopted.renamed + adopted.merged > 0)
        log.info(
          "'%s' now has the stable id %s: adopted %d earlier series (%d rows moved) recorded under random ids",
          thing.title,
          thing.id,
          adopted.renamed + adopted.merged,
          adopted.rowsMoved,
        );
    } catch (err) {
      log.error("could not adopt the earlier history of '%s': %s", thing.title, errorMessage(err));
    }
  }

  /** Called for every thing the servient adds, before the script sees it. */
  thingAdded(thing: ExposedThing): void {
    installTdAffordances(this, thing);
    this.recorder.instrument(thing);
    // InfluxDB field types must not depend on when shipping runs: keep the data schemas now, and
    // again on expose in case the script added affordances after produce.
    this.influxdb.rememberThing(thing);
    beforeExpose(thing, () => this.influxdb.rememberThing(thing));
    // vo-wot scripts reach the helpers as `exposed_thing.servient.sqlite_db`.
    decorateThing(thing, { servient: this.servient });
  }

  async started(wot: typeof WoT): Promise<void> {
    this.retention.start();
    this.health.start();
    await this.influxdb.start();
    this.runtime = await startVoRuntime(this, wot);
    await this.serviceManager?.start(wot);
  }

  /** Commits everything pending, stops background work and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serviceManager
      ?.close()
      .catch((err) => log.error("stopping the service manager failed: %s", errorMessage(err)));
    await this.runtime
      ?.stop()
      .catch((err) => log.error("stopping the VO runtime failed: %s", errorMessage(err)));
    this.retention.stop();
    this.health.stop();
    this.history.flush();
    await this.influxdb
      .stop()
      .catch((err) => log.error("stopping the InfluxDB shipper failed: %s", errorMessage(err)));
    this.history.close();
    this.database.close();
  }
}

const ATTACHED = Symbol.for("node-wot-vo.attached");

/**
 * Attaches node-wot-vo to a servient. Call it once, before `servient.start()` and before things are
 * produced. Returns the same servient, typed with its new helpers.
 */
export function attach(servient: Servient, input: VoOptionsInput = {}): VoServient {
  const target = servient as Servient & { [ATTACHED]?: VoPlugin };
  if (target[ATTACHED]) throw new VoError("node-wot-vo is already attached to this servient", "VO_ATTACHED");
  const options = resolveOptions(input);
  const file = options.sqlite.file ?? path.join(options.dataDir, "vo.sqlite");
  const database = openDatabase({
    file,
    synchronous: options.sqlite.synchronous,
    busyTimeoutMs: options.sqlite.busyTimeoutMs,
  });
  const plugin = new VoPlugin(servient, options, database);
  if (options.serviceManager.enabled === true) {
    try {
      plugin.serviceManager = new ServiceManager(plugin, { onError: reject });
    } catch (err) {
      database.close();
      throw err;
    }
  }
  decorateServient(servient, {
    [ATTACHED]: plugin,
    sqlite_db: plugin.sqliteDb,
    influxdb: plugin.influxdb,
    vo: plugin,
  });
  // Body limit, 4xx instead of node-wot's 500 for the plugin's handlers, on every HTTP server.
  interceptHttpRequests(servient, { maxBodyBytes: options.recorder.maxBodyBytes });

  onAddThing(servient, (thing, idDerived) => {
    // A derived id replaced node-wot's random one: the history must be reachable after a restart.
    if (idDerived) plugin.adoptHistory(thing);
    plugin.thingAdded(thing);
  });
  const existing = Object.keys(servient.getThings());
  if (existing.length > 0) {
    log.warn("attach() after things were produced: instrumenting %d existing things", existing.length);
    for (const id of existing) {
      const thing = servient.getThing(id);
      if (thing) plugin.thingAdded(thing);
    }
  }

  onStart(servient, {
    // TDs advertise the address actually served (node-wot would list every interface).
    beforeServersStart: () => advertiseServedAddresses(servient),
    started: async (wot) => {
      // Scripts that only see `WoT` reach the helpers as `WoT.servient.sqlite_db` or `WoT.sqlite_db`.
      decorateWoT(wot, { servient, sqlite_db: plugin.sqliteDb, influxdb: plugin.influxdb });
      await plugin.started(wot);
    },
  });
  onShutdown(servient, () => plugin.close());
  return servient as VoServient;
}

/** The plugin of a servient, or an error that says to attach it. */
export function pluginOf(servient: Servient): VoPlugin {
  const plugin = (servient as Servient & { [ATTACHED]?: VoPlugin })[ATTACHED];
  if (!plugin)
    throw new VoError(
      "node-wot-vo is not attached to this servient: call attach(servient, options) first",
      "VO_NOT_ATTACHED",
    );
  return plugin;
}
