/** node-wot-vo: durable memory for node-wot servients. Public API and types. */
import "./node-wot/load-quietly";
// Types only: `WoT.sqlite_db`, `WoT.influxdb`, `thing.servient` (declaration merging).
import "./script-api";
export { attach, pluginOf, VoPlugin, type VoServient, type VoHelpers } from "./servient";
export {
  resolveOptions,
  loadConfigFile,
  fromVoWotDescriptor,
  applyEnvironment,
  ENVIRONMENT,
  type VoOptions,
  type VoOptionsInput,
  type RecorderOptions,
  type HistoryOptions,
  type SqliteOptions,
  type HttpOptions,
} from "./config";
export {
  SqliteDb,
  normaliseAddress,
  COLUMN_TYPES,
  type ColumnType,
  type StatusRow,
  type RunResult,
  type SqlRow,
} from "./store/sqlite-db";
export {
  HistoryStore,
  type HistoryQuery,
  type AggregateQuery,
  type AggregateWindow,
  type SeriesInfo,
} from "./store/history";
export { InfluxDb, InfluxNotConfiguredError, type InfluxStatus } from "./influx/influxdb";
export type { InfluxOptions } from "./influx/options";
export { RECORD_ANNOTATION, PLUGIN_ANNOTATION } from "./types";
export { VoError, VoInputError, VoConfigError } from "./errors";
export type { InteractionRecord, HistoryRow, AffordanceKind, RecordOp, JsonValue } from "./types";
export {
  mountDashboard,
  createMetrics,
  type DashboardOptions,
  type DashboardHost,
  type MountedDashboard,
  type HttpCountersProvider,
} from "./dashboard";
