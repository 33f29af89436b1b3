/**
 * Options of the InfluxDB room: JSON-schema fragment, defaults and types in one place.
 * See docs/influxdb.md for what each option does to the point layout and the outbox.
 */
export interface InfluxOptions {
  /** Ship the history to InfluxDB. Off: `servient.influxdb` exists but every call says how to configure it. */
  enabled: boolean;
  /** `2`: InfluxDB 2.x / Cloud / 3 through the official client; `1`: InfluxDB 1.x `/write` and `/query`. */
  apiVersion: 1 | 2;
  url: string;
  /** API v2: token, org, bucket. */
  token?: string;
  org: string;
  bucket: string;
  /** Create the bucket(s) (v2) or database(s) (v1) on first use. */
  createBucket: boolean;
  /** API v1: database, retention policy, user and password. */
  database: string;
  retentionPolicy?: string;
  username?: string;
  password?: string;
  /**
   * `tagged`: one measurement per kind (`<measurementPrefix>property|action|event`) with thing / kind /
   * name tags and typed fields (default); `vo-wot`: vo-wot's layout (bucket per property,
   * measurement = name, field `value`, no tags; buckets `action` and `event`).
   */
  layout: "tagged" | "vo-wot";
  /** Prefix of the tagged layout's measurements. */
  measurementPrefix: string;
  /** Most leaf fields an object or array value is flattened into (the JSON text is always kept). */
  maxFlattenedFields: number;
  /** Language of the query helpers: `auto` = InfluxQL with apiVersion 1, Flux with apiVersion 2 (use `influxql` for InfluxDB 3). */
  queryLanguage: "auto" | "flux" | "influxql";
  /** Points per write request. */
  batchSize: number;
  /** Bytes of line protocol per write request. */
  maxBatchBytes: number;
  /** Write requests in flight at once (the next batch is read and built meanwhile). */
  maxInFlight: number;
  /**
   * Request bodies larger than this many bytes are sent gzipped (`Content-Encoding: gzip`); 0 never
   * gzips. Pays on a slow link; on loopback or a LAN it only costs CPU.
   */
  gzipThreshold: number;
  /** Rows read from SQLite and built into lines per synchronous step; the event loop gets a turn between steps. */
  readChunkRows: number;
  /**
   * Share of the event loop the shipper may take while interactions are being recorded (0…1]:
   * after a step that took t ms it waits t × (1 − share) / share ms. 1: no limit. An idle servient
   * ships at full speed.
   */
  busyShare: number;
  /** Longest a record waits before its batch is sent. */
  flushIntervalMs: number;
  /** How often the shipper looks for newly committed records (and checks the outbox bound). */
  pollIntervalMs: number;
  /** Backoff between retries: first delay, ceiling, and jitter (0…1). */
  retryDelayMs: number;
  maxRetryDelayMs: number;
  retryJitter: number;
  /** Longest wait a server's Retry-After can impose. */
  maxRetryAfterMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
  /** Bound of unshipped records kept in the outbox; the oldest are dropped (counted, logged) beyond it. */
  outbox: {
    maxRows: number;
    maxBytes: number;
    /** Rows summed per step when the outbox's size is counted at start (a turn of the event loop after each). */
    countChunkRows: number;
  };
  /** How long shutdown waits for the outbox to drain. */
  shutdownFlushMs: number;
}

export const influxSchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: "boolean", default: false },
    apiVersion: { enum: [1, 2], default: 2 },
    url: { type: "string", pattern: "^https?://", default: "http://localhost:8086" },
    token: { type: "string" },
    org: { type: "string", minLength: 1, default: "wot" },
    bucket: { type: "string", minLength: 1, default: "vo" },
    createBucket: { type: "boolean", default: false },
    database: { type: "string", minLength: 1, default: "vo" },
    retentionPolicy: { type: "string", minLength: 1 },
    username: { type: "string" },
    password: { type: "string" },
    layout: { enum: ["tagged", "vo-wot"], default: "tagged" },
    measurementPrefix: { type: "string", default: "wot_" },
    maxFlattenedFields: { type: "integer", minimum: 0, maximum: 1000, default: 64 },
    queryLanguage: { enum: ["auto", "flux", "influxql"], default: "auto" },
    batchSize: { type: "integer", minimum: 1, maximum: 100000, default: 5000 },
    maxBatchBytes: { type: "integer", minimum: 1024, default: 4000000 },
    maxInFlight: { type: "integer", minimum: 1, maximum: 16, default: 2 },
    gzipThreshold: { type: "integer", minimum: 0, default: 0 },
    readChunkRows: { type: "integer", minimum: 1, maximum: 100000, default: 1000 },
    busyShare: { type: "number", exclusiveMinimum: 0, maximum: 1, default: 0.1 },
    flushIntervalMs: { type: "integer", minimum: 1, default: 1000 },
    pollIntervalMs: { type: "integer", minimum: 1, maximum: 60000, default: 50 },
    retryDelayMs: { type: "integer", minimum: 1, default: 500 },
    maxRetryDelayMs: { type: "integer", minimum: 1, default: 30000 },
    retryJitter: { type: "number", minimum: 0, maximum: 1, default: 0.2 },
    maxRetryAfterMs: { type: "integer", minimum: 0, default: 600000 },
    timeoutMs: { type: "integer", minimum: 1, default: 10000 },
    outbox: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        maxRows: { type: "integer", minimum: 1, default: 10000000 },
        maxBytes: { type: "integer", minimum: 1, default: 2147483648 },
        countChunkRows: { type: "integer", minimum: 1, default: 20000 },
      },
    },
    shutdownFlushMs: { type: "integer", minimum: 0, default: 5000 },
  },
} as const;
