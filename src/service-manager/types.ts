/** The rows of the service-manager file, as the typed API gives and takes them. */

/** `services.state`: stored as INTEGER init = 0, running = 1, stopped = 2 (the original's values). */
export type ServiceState = "init" | "running" | "stopped";

/** `services.status`: stored as INTEGER ok = 0, error = 1; an error's message in `service_status_messages`. */
export type ServiceStatus = "ok" | "error";

/** One hardware resource a service may use: a name, or a name with its permissions. */
export type DeviceResource = string | { name: string; permissions?: string };

/** JSON values as stored in the JSON text columns. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A row of `services` with its status message. Limits and speeds of 0 mean "none". */
export interface Service {
  /** Service ID (primary key). */
  id: string;
  version: number;
  /** `serviceProvider` (the seed's "serviceProvide" is a typo). */
  serviceProvider: string;
  /** Where the service's package (its Thing scripts) lives. */
  path: string;
  /** Unit name: the title of the Thing the service serves; its traffic chains are `<unit>_IN`/`_OUT`. */
  unit: string;
  user: string;
  hostname: string;
  /** Permissions text, stored verbatim. */
  permissions: string;
  state: ServiceState;
  status: ServiceStatus;
  /** Why the status is "error"; "" when the status is "ok". */
  statusMessage: string;
  /** When the service was last started; null: never. */
  startAt: Date | null;
  /** Time to live in days. */
  ttl: number;
  /** Alert rules (a JSON object), or null for none. */
  alertRules: { [key: string]: JsonValue } | null;
  /** Bytes per period the thing may send (uplink, its `_OUT` chain); 0: no limit. */
  ulLimit: number;
  /** Bytes per period the thing may receive (downlink, its `_IN` chain); 0: no limit. */
  dlLimit: number;
  /** Bytes per second the thing may send; 0: no cap. */
  ulSpeed: number;
  /** Bytes per second the thing may receive; 0: no cap. */
  dlSpeed: number;
  storageLimit: number;
  stateLimit: number;
  /** Layer paths the service's `require` may load from, in order. */
  layerList: string[];
  deviceResources: DeviceResource[];
}

/** What `addService` takes: an id, and any other field (the rest get their defaults). */
export type NewService = Pick<Service, "id"> & Partial<Omit<Service, "id">>;

/** The fields `updateService` may change. */
export type ServiceChanges = Partial<Omit<Service, "id">>;

/** The four traffic limits of a service. */
export type TrafficLimits = Pick<Service, "ulLimit" | "dlLimit" | "ulSpeed" | "dlSpeed">;

/** A row of `users`: a service used by a users list. */
export interface UsersService {
  users: string[];
  serviceId: string;
  storageFolder: string;
  /** Raw checksum bytes (empty until set). */
  stateChecksum: Buffer;
}

/** A row of `trafficmonitor`. */
export interface TrafficRow {
  chain: string;
  /** When the value was last updated. */
  time: Date;
  /** Bytes counted in the period that `time` falls in. */
  value: number;
}

/** A row of `layers`. */
export interface Layer {
  digest: string;
  layerId: string;
  path: string;
  osVersion: string;
}
