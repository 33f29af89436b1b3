/**
 * The service-manager database (seed 000): config, services, users, trafficmonitor and layers in
 * a SQLite file of its own, `<dataDir>/servicemanager.db`, opened like the original (WAL,
 * synchronous NORMAL, a 60 s busy timeout) and brought to the current schema by forward-only
 * migrations under `PRAGMA user_version`.
 *
 * Every call is synchronous (better-sqlite3), its statements prepared once. A missing row is an
 * SmNotFoundError (404) on every get, update, set and remove of a key; a taken key an
 * SmDuplicateError (409); a value that cannot be stored a VoInputError (400); a stored value that
 * does not decode an SmCorruptValueError. Read-modify-write calls run in IMMEDIATE transactions, so
 * several processes can write the same file: they wait for each other up to the busy timeout.
 */
import path from "node:path";
import type * as BetterSqlite3 from "better-sqlite3";
import { VoInputError, errorMessage } from "../errors";
import { createLogger } from "../log";
import { migrateTo, openSqliteFile, type MovedAside } from "../sqlite-file";
import {
  decodeJson,
  decodeTime,
  describe,
  encodeJson,
  encodeTime,
  stateCode,
  stateOf,
  statusCode,
  statusOf,
  storedText,
  storedUint,
  text,
  uint,
} from "./codec";
import { SmCorruptValueError, SmDuplicateError, SmNotFoundError } from "./errors";
import { SM_MIGRATIONS } from "./schema";
import type {
  Layer,
  NewService,
  Service,
  ServiceChanges,
  ServiceState,
  ServiceStatus,
  TrafficLimits,
  TrafficRow,
  UsersService,
} from "./types";

const log = createLogger("service-manager");

/** The file name under the data directory. */
export const SERVICE_MANAGER_FILE = "servicemanager.db";

/** `<dataDir>/servicemanager.db`. */
export function serviceManagerFile(dataDir: string): string {
  return path.join(dataDir, SERVICE_MANAGER_FILE);
}

export interface ServiceManagerStoreOptions {
  /** File path, or `:memory:`. The directory is created when missing. */
  file: string;
  /** Default 60,000 ms (the original's busyTimeout). */
  busyTimeoutMs?: number;
  /** Default `normal` (the original's). `full` also survives power loss. */
  synchronous?: "normal" | "full";
}

export const DEFAULT_BUSY_TIMEOUT_MS = 60_000;

/** A corrupt file found at open and renamed, so the servient started with a fresh one. */
export type SmMovedAside = MovedAside;

/** Called after a service row changed (added, updated, removed), with its id. */
export type ServiceChangeListener = (id: string) => void;

/** Fields in the order of the `services` columns; `statusMessage` lives in its companion table. */
const SERVICE_COLUMNS =
  "s.id, s.version, s.serviceProvider, s.path, s.unit, s.user, s.hostname, s.permissions, s.state, " +
  "s.status, s.startat, s.ttl, s.alertRules, s.ulLimit, s.dlLimit, s.ulSpeed, s.dlSpeed, " +
  "s.storageLimit, s.stateLimit, s.layerList, s.deviceResources, m.message AS statusMessage";
const SELECT_SERVICES = `SELECT ${SERVICE_COLUMNS} FROM services s LEFT JOIN service_status_messages m ON m.id = s.id`;

type Row = Record<string, unknown>;

/** The column values of a service, in a fixed order, for INSERT and UPDATE. */
interface ServiceColumns {
  id: string;
  version: number;
  serviceProvider: string;
  path: string;
  unit: string;
  user: string;
  hostname: string;
  permissions: string;
  state: number;
  status: number;
  startat: string | null;
  ttl: number;
  alertRules: string | null;
  ulLimit: number;
  dlLimit: number;
  ulSpeed: number;
  dlSpeed: number;
  storageLimit: number;
  stateLimit: number;
  layerList: string;
  deviceResources: string;
}

const SERVICE_DEFAULTS: Omit<Service, "id"> = {
  version: 0,
  serviceProvider: "",
  path: "",
  unit: "",
  user: "",
  hostname: "",
  permissions: "",
  state: "init",
  status: "ok",
  statusMessage: "",
  startAt: null,
  ttl: 0,
  alertRules: null,
  ulLimit: 0,
  dlLimit: 0,
  ulSpeed: 0,
  dlSpeed: 0,
  storageLimit: 0,
  stateLimit: 0,
  layerList: [],
  deviceResources: [],
};

const SERVICE_KEYS = new Set(["id", ...Object.keys(SERVICE_DEFAULTS)]);

/** The unit name reserved for the servient-wide traffic chains (SYSTEM_IN / SYSTEM_OUT). */
export const RESERVED_UNIT = "SYSTEM";

export class ServiceManagerStore {
  /** The file in use (`:memory:` for an in-memory database). */
  readonly file: string;
  /** What the open moved aside, when the file was corrupt. */
  readonly movedAside: SmMovedAside | undefined;
  private readonly listeners = new Set<ServiceChangeListener>();
  private closed = false;
  private readonly st: ReturnType<typeof prepare>;

  private constructor(
    private readonly db: BetterSqlite3.Database,
    file: string,
    movedAside: SmMovedAside | undefined,
  ) {
    this.file = file;
    this.movedAside = movedAside;
    this.st = prepare(db);
  }

  /** Opens (creating and migrating as needed) the file. */
  static open(options: ServiceManagerStoreOptions): ServiceManagerStore {
    const { db, moved } = openSqliteFile({
      file: options.file,
      synchronous: options.synchronous ?? "normal",
      busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      label: "service-manager file",
      setting: "dataDir",
      migrate: migrateServiceManager,
    });
    if (moved !== undefined)
      log.error(
        "the service-manager file '%s' is corrupt (%s): moved it aside to '%s' and started a fresh file; " +
          "the services, users, layers and traffic recorded before are in the moved file",
        options.file,
        moved.reason,
        moved.movedTo,
      );
    try {
      return new ServiceManagerStore(db, options.file, moved);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.db.close();
  }

  /** The schema version of the file (`PRAGMA user_version`). */
  schemaVersion(): number {
    return this.db.pragma("user_version", { simple: true }) as number;
  }

  /** Calls `listener(id)` after every change of a service row; returns the unsubscribe function. */
  onServiceChange(listener: ServiceChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(id: string): void {
    for (const listener of this.listeners) {
      try {
        listener(id);
      } catch (err) {
        log.error("a service-change listener failed: %s", errorMessage(err));
      }
    }
  }

  // ---- config -------------------------------------------------------------------------------

  /** The operation version recorded last; null on a fresh file (never set). */
  getOperationVersion(): number | null {
    const row = this.configRow();
    if (row.version === null || row.version === undefined) return null;
    return storedUint(row.version, "config.version");
  }

  setOperationVersion(version: number): void {
    uint(version, "the operation version");
    if (this.st.setVersion.run(version).changes === 0) throw missingConfig();
  }

  /**
   * Compares the recorded operation version with `expected`. On a fresh file it records
   * `expected` and cleans nothing (the original's first start always cleaned up, because a fresh
   * file held 0). On a mismatch it runs `cleanup(recorded, expected)` and then records `expected`;
   * if `cleanup` throws, nothing is recorded, so it runs again at the next start. Returns whether
   * `cleanup` ran.
   */
  async checkOperationVersion(
    expected: number,
    cleanup: (recorded: number, expected: number) => void | Promise<void>,
  ): Promise<boolean> {
    uint(expected, "the expected operation version");
    const recorded = this.getOperationVersion();
    if (recorded === expected) return false;
    if (recorded === null) {
      this.setOperationVersion(expected);
      return false;
    }
    log.info("operation version %d recorded, %d expected: cleaning up", recorded, expected);
    await cleanup(recorded, expected);
    this.setOperationVersion(expected);
    return true;
  }

  /** The journal cursor ("" until set). */
  getJournalCursor(): string {
    return storedText(this.configRow().cursor, "config.cursor");
  }

  setJournalCursor(cursor: string): void {
    text(cursor, "the journal cursor");
    if (this.st.setCursor.run(cursor).changes === 0) throw missingConfig();
  }

  private configRow(): Row {
    const row = this.st.getConfig.get() as Row | undefined;
    if (row === undefined) throw missingConfig();
    return row;
  }

  // ---- services -----------------------------------------------------------------------------

  /** Adds a service; fields not given get their defaults. A taken id (or unit) is refused (409). */
  addService(service: NewService): Service {
    if (typeof service !== "object" || service === null)
      throw new VoInputError(`a service must be an object with at least an "id", got ${describe(service)}`);
    checkKeys(service);
    const id = text(service.id, "the service id", true);
    const full: Service = { ...SERVICE_DEFAULTS, ...stripUndefined(service), id };
    const columns = serviceColumns(full);
    const result = this.db
      .transaction(() => {
        if (this.st.serviceExists.get(id) !== undefined)
          throw new SmDuplicateError(`a service with id ${JSON.stringify(id)} already exists`);
        this.checkUnitFree(columns.unit, id);
        this.st.insertService.run(columns);
        this.writeStatusMessage(id, full.status, full.statusMessage);
        return this.getService(id);
      })
      .immediate();
    this.changed(id);
    return result;
  }

  /**
   * Changes the given fields of a service (all of them, to replace it whole) and returns it.
   * A missing id is an SmNotFoundError.
   */
  updateService(id: string, changes: ServiceChanges): Service {
    text(id, "the service id", true);
    if (typeof changes !== "object" || changes === null)
      throw new VoInputError(`the changes to a service must be an object, got ${describe(changes)}`);
    checkKeys(changes);
    if (Object.hasOwn(changes, "id") && (changes as { id?: unknown }).id !== id)
      throw new VoInputError("a service's id cannot be changed: remove it and add it under the new id");
    const result = this.db
      .transaction(() => {
        const current = this.getService(id);
        const next: Service = { ...current, ...stripUndefined(changes), id };
        // Back to ok: the old error message goes, unless one was given (refused below).
        if (changes.status === "ok" && changes.statusMessage === undefined) next.statusMessage = "";
        const columns = serviceColumns(next);
        if (columns.unit !== current.unit) this.checkUnitFree(columns.unit, id);
        this.st.updateService.run(columns);
        this.writeStatusMessage(id, next.status, next.statusMessage);
        return this.getService(id);
      })
      .immediate();
    this.changed(id);
    return result;
  }

  /** Removes a service (and its status message). Its users rows stay: see removeServiceFromAllUsers. */
  removeService(id: string): void {
    text(id, "the service id", true);
    if (this.st.deleteService.run(id).changes === 0) throw missingService(id);
    this.changed(id);
  }

  getService(id: string): Service {
    text(id, "the service id", true);
    const row = this.st.getService.get(id) as Row | undefined;
    if (row === undefined) throw missingService(id);
    return serviceFromRow(row);
  }

  /** Every service, by id. */
  getServices(): Service[] {
    return (this.st.getServices.all() as Row[]).map(serviceFromRow);
  }

  /** The services of one provider, by id. */
  getServiceProviderServices(serviceProvider: string): Service[] {
    text(serviceProvider, "the service provider");
    return (this.st.getProviderServices.all(serviceProvider) as Row[]).map(serviceFromRow);
  }

  /** The service whose unit is `unit`. */
  getServiceByUnitName(unit: string): Service {
    text(unit, "the unit name", true);
    const row = this.st.getServiceByUnit.get(unit) as Row | undefined;
    if (row === undefined) throw new SmNotFoundError(`no service has the unit name ${JSON.stringify(unit)}`);
    return serviceFromRow(row);
  }

  setServiceState(id: string, state: ServiceState): void {
    text(id, "the service id", true);
    if (this.st.setState.run(stateCode(state, "the state"), id).changes === 0) throw missingService(id);
    this.changed(id);
  }

  /** Status "ok", or "error" with its message (kept until the status is set to "ok" again). */
  setServiceStatus(id: string, status: "ok"): void;
  setServiceStatus(id: string, status: "error", message: string): void;
  setServiceStatus(id: string, status: ServiceStatus, message?: string): void;
  setServiceStatus(id: string, status: ServiceStatus, message = ""): void {
    text(id, "the service id", true);
    const code = statusCode(status, "the status");
    text(message, "the status message");
    checkStatusMessage(status, message);
    this.db
      .transaction(() => {
        if (this.st.setStatus.run(code, id).changes === 0) throw missingService(id);
        this.writeStatusMessage(id, status, message);
      })
      .immediate();
    this.changed(id);
  }

  setServiceStartTime(id: string, time: Date): void {
    text(id, "the service id", true);
    if (this.st.setStartTime.run(encodeTime(time, "the start time"), id).changes === 0)
      throw missingService(id);
    this.changed(id);
  }

  /** Changes some of a service's traffic limits and speeds; returns the service. */
  setServiceLimits(id: string, limits: Partial<TrafficLimits>): Service {
    if (typeof limits !== "object" || limits === null)
      throw new VoInputError(`limits must be an object, got ${describe(limits)}`);
    const changes: Partial<TrafficLimits> = {};
    for (const [key, value] of Object.entries(limits)) {
      if (key !== "ulLimit" && key !== "dlLimit" && key !== "ulSpeed" && key !== "dlSpeed")
        throw new VoInputError(
          `unknown limit ${JSON.stringify(key)}: expected ulLimit, dlLimit, ulSpeed, dlSpeed`,
        );
      if (value !== undefined) changes[key] = uint(value, key);
    }
    return this.updateService(id, changes);
  }

  private checkUnitFree(unit: string, id: string): void {
    if (unit === "") return;
    if (unit === RESERVED_UNIT)
      throw new VoInputError(
        `the unit name ${RESERVED_UNIT} is reserved for the servient-wide traffic chains (SYSTEM_IN, SYSTEM_OUT)`,
      );
    const other = this.st.serviceIdByUnit.get(unit, id) as { id: string } | undefined;
    if (other !== undefined)
      throw new SmDuplicateError(
        `the unit name ${JSON.stringify(unit)} is already used by the service ${JSON.stringify(other.id)}`,
      );
  }

  private writeStatusMessage(id: string, status: ServiceStatus, message: string): void {
    if (status === "error" && message !== "") this.st.setMessage.run(id, message);
    else this.st.deleteMessage.run(id);
  }

  // ---- users --------------------------------------------------------------------------------

  /** Adds a service to a users list. The service must exist; a pair already there is refused. */
  addServiceToUsers(users: string[], serviceId: string): void {
    const key = usersKey(users);
    text(serviceId, "the service id", true);
    this.db
      .transaction(() => {
        if (this.st.serviceExists.get(serviceId) === undefined) throw missingService(serviceId);
        if (this.st.usersExists.get(key, serviceId) !== undefined)
          throw new SmDuplicateError(
            `the service ${JSON.stringify(serviceId)} is already in the users list ${key}`,
          );
        this.st.insertUsers.run(key, serviceId, "", Buffer.alloc(0));
      })
      .immediate();
  }

  removeServiceFromUsers(users: string[], serviceId: string): void {
    const key = usersKey(users);
    text(serviceId, "the service id", true);
    if (this.st.deleteUsers.run(key, serviceId).changes === 0) throw missingUsers(key, serviceId);
  }

  /** Removes the service from every users list; returns how many rows went (0 is no error). */
  removeServiceFromAllUsers(serviceId: string): number {
    text(serviceId, "the service id", true);
    return this.st.deleteUsersOfService.run(serviceId).changes;
  }

  setUsersStorageFolder(users: string[], serviceId: string, storageFolder: string): void {
    const key = usersKey(users);
    text(serviceId, "the service id", true);
    text(storageFolder, "the storage folder");
    if (this.st.setStorageFolder.run(storageFolder, key, serviceId).changes === 0)
      throw missingUsers(key, serviceId);
  }

  setUsersStateChecksum(users: string[], serviceId: string, checksum: Uint8Array): void {
    const key = usersKey(users);
    text(serviceId, "the service id", true);
    if (!(checksum instanceof Uint8Array))
      throw new VoInputError(
        `the state checksum must be bytes (a Buffer or Uint8Array), got ${describe(checksum)}`,
      );
    const bytes = Buffer.from(checksum.buffer, checksum.byteOffset, checksum.byteLength);
    if (this.st.setChecksum.run(bytes, key, serviceId).changes === 0) throw missingUsers(key, serviceId);
  }

  getUsersService(users: string[], serviceId: string): UsersService {
    const key = usersKey(users);
    text(serviceId, "the service id", true);
    const row = this.st.getUsers.get(key, serviceId) as Row | undefined;
    if (row === undefined) throw missingUsers(key, serviceId);
    return usersFromRow(row);
  }

  /** The users rows of one service. */
  getUsersServicesByServiceId(serviceId: string): UsersService[] {
    text(serviceId, "the service id", true);
    return (this.st.getUsersOfService.all(serviceId) as Row[]).map(usersFromRow);
  }

  /** Every users row. */
  getAllUsersServices(): UsersService[] {
    return (this.st.getAllUsers.all() as Row[]).map(usersFromRow);
  }

  /** The services of a users list. */
  getUsersServices(users: string[]): Service[] {
    return (this.st.getServicesOfUsers.all(usersKey(users)) as Row[]).map(serviceFromRow);
  }

  // ---- traffic monitor ----------------------------------------------------------------------

  /** Stores a chain's value (insert or replace). */
  setTrafficMonitorData(chain: string, time: Date, value: number): void {
    this.st.upsertTraffic.run(
      text(chain, "the chain", true),
      encodeTime(time, "the traffic time"),
      uint(value, "the traffic value"),
    );
  }

  /** Adds `delta` to a chain's value atomically (a missing chain starts at 0); returns the row. */
  addTrafficMonitorData(chain: string, time: Date, delta: number): TrafficRow {
    const row = this.st.addTraffic.get(
      text(chain, "the chain", true),
      encodeTime(time, "the traffic time"),
      uint(delta, "the traffic delta"),
    ) as Row;
    return trafficFromRow(row);
  }

  /** Stores several chains in one transaction (the traffic monitor's periodic save). */
  saveTrafficMonitorData(rows: readonly TrafficRow[]): void {
    const values = rows.map((r) => [
      text(r.chain, "the chain", true),
      encodeTime(r.time, "the traffic time"),
      uint(r.value, "the traffic value"),
    ]);
    this.db
      .transaction(() => {
        for (const v of values) this.st.upsertTraffic.run(...v);
      })
      .immediate();
  }

  getTrafficMonitorData(chain: string): TrafficRow {
    const row = this.st.getTraffic.get(text(chain, "the chain", true)) as Row | undefined;
    if (row === undefined)
      throw new SmNotFoundError(`no traffic is stored for the chain ${JSON.stringify(chain)}`);
    return trafficFromRow(row);
  }

  /**
   * Every chain, by name. With `onCorrupt`, a row that does not decode is reported to it and
   * left out instead of failing the whole read.
   */
  getAllTrafficMonitorData(onCorrupt?: (err: SmCorruptValueError) => void): TrafficRow[] {
    const rows: TrafficRow[] = [];
    for (const row of this.st.getAllTraffic.all() as Row[]) {
      try {
        rows.push(trafficFromRow(row));
      } catch (err) {
        if (onCorrupt === undefined || !(err instanceof SmCorruptValueError)) throw err;
        onCorrupt(err);
      }
    }
    return rows;
  }

  removeTrafficMonitorData(chain: string): void {
    if (this.st.deleteTraffic.run(text(chain, "the chain", true)).changes === 0)
      throw new SmNotFoundError(`no traffic is stored for the chain ${JSON.stringify(chain)}`);
  }

  // ---- layers -------------------------------------------------------------------------------

  /** Adds a layer; a taken digest is refused (409). */
  addLayer(layer: Layer): void {
    if (typeof layer !== "object" || layer === null)
      throw new VoInputError(
        `a layer must be an object {digest, layerId, path, osVersion}, got ${describe(layer)}`,
      );
    for (const key of Object.keys(layer))
      if (!["digest", "layerId", "path", "osVersion"].includes(key))
        throw new VoInputError(
          `unknown layer field ${JSON.stringify(key)}: expected digest, layerId, path, osVersion`,
        );
    const values = [
      text(layer.digest, "the layer digest", true),
      text(layer.layerId ?? "", "the layer id"),
      text(layer.path ?? "", "the layer path"),
      text(layer.osVersion ?? "", "the layer's OS version"),
    ];
    try {
      this.st.insertLayer.run(...values);
    } catch (err) {
      if ((err as { code?: unknown }).code === "SQLITE_CONSTRAINT_PRIMARYKEY")
        throw new SmDuplicateError(`a layer with digest ${JSON.stringify(layer.digest)} already exists`);
      throw err;
    }
  }

  deleteLayerByDigest(digest: string): void {
    if (this.st.deleteLayer.run(text(digest, "the layer digest", true)).changes === 0)
      throw missingLayer(digest);
  }

  getLayerPathByDigest(digest: string): string {
    return this.getLayer(digest).path;
  }

  getLayer(digest: string): Layer {
    const row = this.st.getLayer.get(text(digest, "the layer digest", true)) as Row | undefined;
    if (row === undefined) throw missingLayer(digest);
    return layerFromRow(row);
  }

  /** Every layer, by digest (the original's GetLayersInfo, with every column). */
  getLayers(): Layer[] {
    return (this.st.getLayers.all() as Row[]).map(layerFromRow);
  }
}

function prepare(db: BetterSqlite3.Database) {
  const serviceValues =
    "@id, @version, @serviceProvider, @path, @unit, @user, @hostname, @permissions, @state, @status, " +
    "@startat, @ttl, @alertRules, @ulLimit, @dlLimit, @ulSpeed, @dlSpeed, @storageLimit, @stateLimit, " +
    "@layerList, @deviceResources";
  return {
    getConfig: db.prepare("SELECT version, cursor FROM config LIMIT 1"),
    setVersion: db.prepare("UPDATE config SET version = ?"),
    setCursor: db.prepare("UPDATE config SET cursor = ?"),

    serviceExists: db.prepare("SELECT 1 FROM services WHERE id = ?"),
    serviceIdByUnit: db.prepare("SELECT id FROM services WHERE unit = ? AND id <> ? LIMIT 1"),
    insertService: db.prepare(
      "INSERT INTO services (id, version, serviceProvider, path, unit, user, hostname, permissions, state, " +
        "status, startat, ttl, alertRules, ulLimit, dlLimit, ulSpeed, dlSpeed, storageLimit, stateLimit, " +
        `layerList, deviceResources) VALUES (${serviceValues})`,
    ),
    updateService: db.prepare(
      "UPDATE services SET version = @version, serviceProvider = @serviceProvider, path = @path, unit = @unit, " +
        "user = @user, hostname = @hostname, permissions = @permissions, state = @state, status = @status, " +
        "startat = @startat, ttl = @ttl, alertRules = @alertRules, ulLimit = @ulLimit, dlLimit = @dlLimit, " +
        "ulSpeed = @ulSpeed, dlSpeed = @dlSpeed, storageLimit = @storageLimit, stateLimit = @stateLimit, " +
        "layerList = @layerList, deviceResources = @deviceResources WHERE id = @id",
    ),
    deleteService: db.prepare("DELETE FROM services WHERE id = ?"),
    getService: db.prepare(`${SELECT_SERVICES} WHERE s.id = ?`),
    getServices: db.prepare(`${SELECT_SERVICES} ORDER BY s.id`),
    getProviderServices: db.prepare(`${SELECT_SERVICES} WHERE s.serviceProvider = ? ORDER BY s.id`),
    getServiceByUnit: db.prepare(`${SELECT_SERVICES} WHERE s.unit = ? ORDER BY s.id LIMIT 1`),
    setState: db.prepare("UPDATE services SET state = ? WHERE id = ?"),
    setStatus: db.prepare("UPDATE services SET status = ? WHERE id = ?"),
    setStartTime: db.prepare("UPDATE services SET startat = ? WHERE id = ?"),
    setMessage: db.prepare(
      "INSERT INTO service_status_messages (id, message) VALUES (?, ?) " +
        "ON CONFLICT (id) DO UPDATE SET message = excluded.message",
    ),
    deleteMessage: db.prepare("DELETE FROM service_status_messages WHERE id = ?"),

    usersExists: db.prepare("SELECT 1 FROM users WHERE users = ? AND serviceid = ?"),
    insertUsers: db.prepare(
      "INSERT INTO users (users, serviceid, storageFolder, stateCheckSum) VALUES (?, ?, ?, ?)",
    ),
    deleteUsers: db.prepare("DELETE FROM users WHERE users = ? AND serviceid = ?"),
    deleteUsersOfService: db.prepare("DELETE FROM users WHERE serviceid = ?"),
    setStorageFolder: db.prepare("UPDATE users SET storageFolder = ? WHERE users = ? AND serviceid = ?"),
    setChecksum: db.prepare("UPDATE users SET stateCheckSum = ? WHERE users = ? AND serviceid = ?"),
    getUsers: db.prepare(
      "SELECT users, serviceid, storageFolder, stateCheckSum FROM users WHERE users = ? AND serviceid = ?",
    ),
    getUsersOfService: db.prepare(
      "SELECT users, serviceid, storageFolder, stateCheckSum FROM users WHERE serviceid = ? ORDER BY users",
    ),
    getAllUsers: db.prepare(
      "SELECT users, serviceid, storageFolder, stateCheckSum FROM users ORDER BY serviceid, users",
    ),
    getServicesOfUsers: db.prepare(
      `${SELECT_SERVICES} WHERE s.id IN (SELECT serviceid FROM users WHERE users = ?) ORDER BY s.id`,
    ),

    upsertTraffic: db.prepare(
      "INSERT INTO trafficmonitor (chain, time, value) VALUES (?, ?, ?) " +
        "ON CONFLICT (chain) DO UPDATE SET time = excluded.time, value = excluded.value",
    ),
    addTraffic: db.prepare(
      "INSERT INTO trafficmonitor (chain, time, value) VALUES (?, ?, ?) " +
        "ON CONFLICT (chain) DO UPDATE SET time = excluded.time, value = COALESCE(value, 0) + excluded.value " +
        "RETURNING chain, time, value",
    ),
    getTraffic: db.prepare("SELECT chain, time, value FROM trafficmonitor WHERE chain = ?"),
    getAllTraffic: db.prepare("SELECT chain, time, value FROM trafficmonitor ORDER BY chain"),
    deleteTraffic: db.prepare("DELETE FROM trafficmonitor WHERE chain = ?"),

    insertLayer: db.prepare("INSERT INTO layers (digest, layerId, path, osVersion) VALUES (?, ?, ?, ?)"),
    deleteLayer: db.prepare("DELETE FROM layers WHERE digest = ?"),
    getLayer: db.prepare("SELECT digest, layerId, path, osVersion FROM layers WHERE digest = ?"),
    getLayers: db.prepare("SELECT digest, layerId, path, osVersion FROM layers ORDER BY digest"),
  };
}

/** Runs every migration above the file's `user_version` (sqlite-file.ts). */
export function migrateServiceManager(db: BetterSqlite3.Database): number {
  return migrateTo(db, SM_MIGRATIONS, "service-manager file");
}

function checkKeys(value: object): void {
  for (const key of Object.keys(value))
    if (!SERVICE_KEYS.has(key))
      throw new VoInputError(
        `unknown service field ${JSON.stringify(key)}; the fields are ${[...SERVICE_KEYS].join(", ")}`,
      );
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkStatusMessage(status: ServiceStatus, message: string): void {
  if (status === "ok" && message !== "")
    throw new VoInputError('a status message goes with the status "error" only; status "ok" has none');
}

/** Validates every field of a service and gives its column values. */
function serviceColumns(s: Service): ServiceColumns {
  const status = s.status;
  const columns: ServiceColumns = {
    id: text(s.id, "the service id", true),
    version: uint(s.version, "version"),
    serviceProvider: text(s.serviceProvider, "serviceProvider"),
    path: text(s.path, "path"),
    unit: text(s.unit, "unit"),
    user: text(s.user, "user"),
    hostname: text(s.hostname, "hostname"),
    permissions: text(s.permissions, "permissions"),
    state: stateCode(s.state, "state"),
    status: statusCode(status, "status"),
    startat: s.startAt === null ? null : encodeTime(s.startAt, "startAt"),
    ttl: uint(s.ttl, "ttl"),
    alertRules: encodeJson("alertRules", s.alertRules, "alertRules"),
    ulLimit: uint(s.ulLimit, "ulLimit"),
    dlLimit: uint(s.dlLimit, "dlLimit"),
    ulSpeed: uint(s.ulSpeed, "ulSpeed"),
    dlSpeed: uint(s.dlSpeed, "dlSpeed"),
    storageLimit: uint(s.storageLimit, "storageLimit"),
    stateLimit: uint(s.stateLimit, "stateLimit"),
    layerList: encodeJson("layerList", s.layerList, "layerList") as string,
    deviceResources: encodeJson("deviceResources", s.deviceResources, "deviceResources") as string,
  };
  text(s.statusMessage, "statusMessage");
  checkStatusMessage(status, s.statusMessage);
  return columns;
}

function serviceFromRow(row: Row): Service {
  const id = storedText(row.id, "services.id");
  const at = (column: string) => `services.${column} of ${JSON.stringify(id)}`;
  const status = statusOf(row.status, at("status"));
  return {
    id,
    version: storedUint(row.version, at("version")),
    serviceProvider: storedText(row.serviceProvider, at("serviceProvider")),
    path: storedText(row.path, at("path")),
    unit: storedText(row.unit, at("unit")),
    user: storedText(row.user, at("user")),
    hostname: storedText(row.hostname, at("hostname")),
    permissions: storedText(row.permissions, at("permissions")),
    state: stateOf(row.state, at("state")),
    status,
    statusMessage: status === "error" ? storedText(row.statusMessage, "service_status_messages.message") : "",
    startAt: decodeTime(row.startat, at("startat")),
    ttl: storedUint(row.ttl, at("ttl")),
    alertRules: decodeJson("alertRules", row.alertRules, at("alertRules")),
    ulLimit: storedUint(row.ulLimit, at("ulLimit")),
    dlLimit: storedUint(row.dlLimit, at("dlLimit")),
    ulSpeed: storedUint(row.ulSpeed, at("ulSpeed")),
    dlSpeed: storedUint(row.dlSpeed, at("dlSpeed")),
    storageLimit: storedUint(row.storageLimit, at("storageLimit")),
    stateLimit: storedUint(row.stateLimit, at("stateLimit")),
    layerList: decodeJson("layerList", row.layerList, at("layerList")),
    deviceResources: decodeJson("deviceResources", row.deviceResources, at("deviceResources")),
  };
}

/** The stored form of a users list: its JSON text, compared as a whole (order matters). */
function usersKey(users: unknown): string {
  return encodeJson("users", users, "the users list") as string;
}

function usersFromRow(row: Row): UsersService {
  const serviceId = storedText(row.serviceid, "users.serviceid");
  const where = `users.users of the service ${JSON.stringify(serviceId)}`;
  const checksum = row.stateCheckSum;
  if (checksum !== null && checksum !== undefined && !Buffer.isBuffer(checksum))
    throw new SmCorruptValueError(
      `users.stateCheckSum of ${JSON.stringify(serviceId)} holds ${describe(checksum)}, not bytes`,
    );
  return {
    users: decodeJson("users", row.users, where),
    serviceId,
    storageFolder: storedText(row.storageFolder, `users.storageFolder of ${JSON.stringify(serviceId)}`),
    stateChecksum: Buffer.isBuffer(checksum) ? checksum : Buffer.alloc(0),
  };
}

function trafficFromRow(row: Row): TrafficRow {
  const chain = storedText(row.chain, "trafficmonitor.chain");
  const time = decodeTime(row.time, `trafficmonitor.time of ${JSON.stringify(chain)}`);
  if (time === null)
    throw new SmCorruptValueError(`trafficmonitor.time of ${JSON.stringify(chain)} is NULL; expected a time`);
  return { chain, time, value: storedUint(row.value, `trafficmonitor.value of ${JSON.stringify(chain)}`) };
}

function layerFromRow(row: Row): Layer {
  const digest = storedText(row.digest, "layers.digest");
  const at = (column: string) => `layers.${column} of ${JSON.stringify(digest)}`;
  return {
    digest,
    layerId: storedText(row.layerId, at("layerId")),
    path: storedText(row.path, at("path")),
    osVersion: storedText(row.osVersion, at("osVersion")),
  };
}

function missingService(id: string): SmNotFoundError {
  return new SmNotFoundError(`no service has the id ${JSON.stringify(id)}`);
}

function missingUsers(key: string, serviceId: string): SmNotFoundError {
  return new SmNotFoundError(`the service ${JSON.stringify(serviceId)} is not in the users list ${key}`);
}

function missingLayer(digest: string): SmNotFoundError {
  return new SmNotFoundError(`no layer has the digest ${JSON.stringify(digest)}`);
}

function missingConfig(): SmNotFoundError {
  return new SmNotFoundError(
    "the config table of the service-manager file has no row (it holds one from creation)",
  );
}
