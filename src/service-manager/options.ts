/**
 * The service manager's options (`serviceManager` in the config): the room owns its schema, config.ts
 * assembles it with the others.
 */
export interface ServiceManagerOptions {
  /** Run the service manager (its database, traffic monitor, Thing and services). Unset: on in the
   *  launcher, off in `attach()`. */
  enabled?: boolean;
  /** Where service packages live; default `<dataDir>/services`. */
  servicesDir?: string;
  /** Where installed layers are copied; default `<dataDir>/layers`. */
  layersDir?: string;
  /** Root of the services' storage folders; default `<dataDir>/service-storage`. */
  storageDir?: string;
  /** Calendar period of the traffic totals and limits. */
  period: "minute" | "hour" | "day" | "month" | "year";
  /** How often traffic totals are saved and recorded into the history (ms). */
  persistIntervalMs: number;
  /** How often limits, alert rules and TTLs are checked (ms). */
  checkIntervalMs: number;
  /** The users list a service is started for when none is given. */
  defaultUsers: string[];
}

export const serviceManagerSchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: "boolean" },
    servicesDir: { type: "string", minLength: 1 },
    layersDir: { type: "string", minLength: 1 },
    storageDir: { type: "string", minLength: 1 },
    period: { enum: ["minute", "hour", "day", "month", "year"], default: "day" },
    persistIntervalMs: { type: "integer", minimum: 100, default: 60000 },
    checkIntervalMs: { type: "integer", minimum: 100, default: 10000 },
    defaultUsers: {
      type: "array",
      items: { type: "string", minLength: 1 },
      minItems: 1,
      default: ["local"],
    },
  },
} as const;
