/**
 * Options of the store room (the `history` section): JSON-schema fragment, defaults and type in one
 * place. `config.ts` composes it into the whole schema; the store reads its defaults from here.
 */
export interface HistoryOptions {
  defaultLimit: number;
  maxLimit: number;
  maxWindows: number;
  /** An explicit time (script points) may be at most this far ahead of the clock. */
  maxFutureSkewMs: number;
  retention: { maxAgeMs: number; maxRows: number; intervalMs: number; chunkRows: number };
}

export const historySchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    defaultLimit: { type: "integer", minimum: 1, default: 100 },
    maxLimit: { type: "integer", minimum: 1, maximum: 1000000, default: 10000 },
    maxWindows: { type: "integer", minimum: 1, default: 10000 },
    maxFutureSkewMs: { type: "integer", minimum: 0, default: 300000 },
    retention: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        maxAgeMs: { type: "integer", minimum: 0, default: 0 },
        maxRows: { type: "integer", minimum: 0, default: 0 },
        intervalMs: { type: "integer", minimum: 1000, default: 60000 },
        chunkRows: { type: "integer", minimum: 1, default: 5000 },
      },
    },
  },
} as const;
