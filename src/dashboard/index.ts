/** The browser dashboard and the Prometheus metrics: one call mounts both (see docs/dashboard.md). */
export {
  mountDashboard,
  thingUrls,
  type DashboardHost,
  type DashboardOptions,
  type MountedDashboard,
} from "./mount";
export {
  createMetrics,
  METRIC_PREFIX,
  SHIPPER_STATES,
  type MetricsHost,
  type VoMetrics,
} from "../metrics/metrics";
export {
  HttpCounters,
  countHttpTraffic,
  type HttpCounter,
  type HttpCountersProvider,
} from "../metrics/http-counters";
