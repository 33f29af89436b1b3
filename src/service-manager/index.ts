/** The service-manager room's face for the composition root (servient.ts) and the public API. */
export { ServiceManager, runAsScript, isExternal, LAUNCHER_PROVIDER, SERVIENT_PROVIDER } from "./manager";
export type { ServiceManagerRunOptions } from "./manager";
export type { ServiceManagerHost } from "./host";
export type { ServiceManagerOptions } from "./options";
export { ServiceManagerStore, serviceManagerFile } from "./store";
export { TrafficMonitor } from "./traffic-monitor";
export { exposeServiceManagerThing, SERVICE_MANAGER_TITLE } from "./thing";
