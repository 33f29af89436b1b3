/** Options of the VO room: status checks, device mirroring. */

export interface VoRoomOptions {
  /** Periodic self-check of the VO's own HTTP endpoint at its advertised address → `vo_status`. */
  selfCheck: {
    enabled: boolean;
    periodMs: number;
    timeoutMs: number;
    /** URL to check instead of `<advertised base URL>/` (e.g. behind a reverse proxy). */
    url?: string;
  };
  /**
   * Rows kept in each of `vo_status` and `device_status` (every check appends one); older rows are
   * pruned. 0 keeps every row.
   */
  keepStatusRows: number;
  /** The device this VO stands in for (deployment type A: the device runs a WoT runtime). */
  device?: {
    /** URL of the device's TD; the VO consumes it and mirrors the device. */
    tdUrl?: string;
    /**
     * Address checked for liveness when no TD URL is given: a URL (HTTP GET), `host:port` (TCP
     * connect) or a bare host (TCP port 80).
     */
    address?: string;
    /** Liveness check → `device_status`. */
    periodMs: number;
    timeoutMs: number;
    /**
     * Affordances re-exposed by the VO (vo-wot `proxy` maps): name on the VO → name on the device.
     * Absent: every affordance of the device under its own name. Present: only those listed.
     */
    mirror?: {
      properties?: Record<string, string>;
      actions?: Record<string, string>;
      events?: Record<string, string>;
    };
    /** Title of the thing that mirrors the device; default `<device title> VO`. */
    thingTitle?: string;
    /** Id of the mirror thing (credentials are keyed by it); default derived from `tdUrl`. */
    thingId?: string;
  };
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
        url: { type: "string", pattern: "^https?://" },
      },
    },
    keepStatusRows: { type: "integer", minimum: 0, default: 10000 },
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
            properties: { type: "object", additionalProperties: { type: "string", minLength: 1 } },
            actions: { type: "object", additionalProperties: { type: "string", minLength: 1 } },
            events: { type: "object", additionalProperties: { type: "string", minLength: 1 } },
          },
        },
        thingTitle: { type: "string", minLength: 1 },
        thingId: { type: "string", minLength: 1 },
      },
    },
  },
} as const;
