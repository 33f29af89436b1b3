/** Options of the VO room (status checks, device mirroring) and of the TD room (history affordances). */

export interface VoRoomOptions {
  /** Periodic self-check of the VO's own HTTP endpoint → `vo_status`. */
  selfCheck: { enabled: boolean; periodMs: number; timeoutMs: number };
  /** The device this VO stands in for (deployment type A: the device runs a WoT runtime). */
  device?: {
    /** URL of the device's TD; the VO consumes it. */
    tdUrl?: string;
    /** Address checked for liveness when no TD URL is given (`host:port` or a URL). */
    address?: string;
    /** Liveness check → `device_status`. */
    periodMs: number;
    timeoutMs: number;
    /** Affordances re-exposed by the VO (vo-wot `proxy` maps): name on the VO → name on the device. */
    mirror?: {
      properties?: Record<string, string>;
      actions?: Record<string, string>;
      events?: Record<string, string>;
    };
    /** Title of the thing that mirrors the device; default `<device title> VO`. */
    thingTitle?: string;
  };
}

export interface TdRoomOptions {
  /** Add history and VO-state affordances to every exposed thing's TD. */
  historyAffordances: boolean;
  /** Add the VO status / observers / redirect IPs / device IP affordances. */
  voAffordances: boolean;
}

export const voSchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    selfCheck: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: true },
        periodMs: { type: "integer", minimum: 100, default: 10000 },
        timeoutMs: { type: "integer", minimum: 10, default: 2000 },
      },
    },
    device: {
      type: "object",
      additionalProperties: false,
      properties: {
        tdUrl: { type: "string", pattern: "^https?://" },
        address: { type: "string", minLength: 1 },
        periodMs: { type: "integer", minimum: 100, default: 5000 },
        timeoutMs: { type: "integer", minimum: 10, default: 2000 },
        mirror: {
          type: "object",
          additionalProperties: false,
          properties: {
            properties: { type: "object", additionalProperties: { type: "string" } },
            actions: { type: "object", additionalProperties: { type: "string" } },
            events: { type: "object", additionalProperties: { type: "string" } },
          },
        },
        thingTitle: { type: "string", minLength: 1 },
      },
    },
  },
} as const;

export const tdSchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    historyAffordances: { type: "boolean", default: true },
    voAffordances: { type: "boolean", default: true },
  },
} as const;
