/** Options of the TD room: which affordances the plugin adds to every TD. */

export interface TdRoomOptions {
  /** Add the history affordances (`history`, `historyAggregate`, `queryHistory`) to every thing. */
  historyAffordances: boolean;
  /** Add the VO status / observers / redirect IPs / device IP affordances to every thing. */
  voAffordances: boolean;
}

export const tdSchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    historyAffordances: { type: "boolean", default: true },
    voAffordances: { type: "boolean", default: true },
  },
} as const;
