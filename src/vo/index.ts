/**
 * The VO room: the VO's self-check, the device liveness check, device mirroring, and the device IP
 * from the configuration. Started after the servient started; stopped before it shuts down.
 */
import dns from "node:dns/promises";
import net from "node:net";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { DEVICE_CONNECTION, VO_CONNECTION } from "../types";
import { advertisedBaseUrl } from "../node-wot/address";
import type { VoHost } from "./host";
import { DeviceMirror } from "./mirror";
import {
  PeriodicCheck,
  StatusTracker,
  addressProbe,
  fetchTd,
  httpAlive,
  splitHostPort,
  type Probe,
} from "./status";

export { DeviceMirror, MIRROR_STATUS, mirrorId } from "./mirror";
export { PeriodicCheck, StatusTracker } from "./status";
export type { VoHost } from "./host";

const log = createLogger("vo");

export interface VoRuntime {
  stop(): Promise<void>;
  /** The self-check, when enabled. */
  readonly selfCheck?: PeriodicCheck<unknown>;
  /** The device liveness check, when a device is configured. */
  readonly deviceCheck?: PeriodicCheck<unknown>;
  /** The device mirror, when `vo.device.tdUrl` is configured. */
  readonly mirror?: DeviceMirror;
  /** URL the self-check GETs. */
  readonly selfCheckUrl?: string;
}

export async function startVoRuntime(host: VoHost, wot: typeof WoT): Promise<VoRuntime> {
  const { vo } = host.options;
  const runtime: {
    -readonly [K in keyof VoRuntime]: VoRuntime[K];
  } = { stop: async () => undefined };

  if (vo.selfCheck.enabled) {
    const url = vo.selfCheck.url ?? advertisedBaseUrl(host.servient);
    if (url === undefined) {
      log.warn("self-check enabled but the servient has no HTTP server: vo_status stays empty");
    } else {
      runtime.selfCheckUrl = url;
      const tracker = new StatusTracker(
        host.sqliteDb,
        host.servient,
        "vo_status",
        VO_CONNECTION,
        "VO_Connection_Error",
        url,
        vo.keepStatusRows,
      );
      runtime.selfCheck = new PeriodicCheck<unknown>(
        "self-check",
        vo.selfCheck.periodMs,
        vo.selfCheck.timeoutMs,
        (signal) => httpAlive(url, signal),
        (r) => tracker.record(r),
      );
    }
  }

  const device = vo.device;
  if (device && (device.tdUrl || device.address)) {
    const target = device.tdUrl ?? device.address!;
    await fillDeviceIp(host, target);
    const tracker = new StatusTracker(
      host.sqliteDb,
      host.servient,
      "device_status",
      DEVICE_CONNECTION,
      "Device_Connection_Error",
      target,
      vo.keepStatusRows,
    );
    let probe: Probe<unknown>;
    if (device.tdUrl) {
      const tdUrl = device.tdUrl;
      const mirror = new DeviceMirror(host, wot, { ...device, tdUrl }, () => runtime.deviceCheck?.kick());
      runtime.mirror = mirror;
      await mirror.start();
      probe = (signal) => fetchTd(tdUrl, signal);
      runtime.deviceCheck = new PeriodicCheck(
        "device check",
        device.periodMs,
        device.timeoutMs,
        probe,
        async (r) => {
          tracker.record(r);
          if (r.online) {
            try {
              await mirror.deviceUp(r.value as Record<string, unknown>);
            } catch (err) {
              log.warn(
                "could not mirror the device at %s (retrying at the next check): %s",
                tdUrl,
                errorMessage(err),
              );
            }
          } else mirror.deviceDown(r.error);
        },
      );
    } else {
      probe = addressProbe(device.address!);
      runtime.deviceCheck = new PeriodicCheck("device check", device.periodMs, device.timeoutMs, probe, (r) =>
        tracker.record(r),
      );
    }
  }

  runtime.selfCheck?.start();
  runtime.deviceCheck?.start();
  runtime.stop = async () => {
    await Promise.all([runtime.selfCheck?.stop(), runtime.deviceCheck?.stop()]);
    await runtime.mirror?.stop();
  };
  return runtime;
}

/** The device IP (seed table `info`) from the configured TD URL or address; DNS names resolved. */
async function fillDeviceIp(vo: VoHost, target: string): Promise<void> {
  try {
    let host: string;
    let port: number | undefined;
    if (/^https?:\/\//i.test(target)) {
      const u = new URL(target);
      host = u.hostname.replace(/^\[|\]$/g, "");
      port = u.port ? Number(u.port) : undefined;
    } else ({ host, port } = splitHostPort(target));
    if (net.isIP(host) === 0) host = (await dns.lookup(host)).address;
    const address = port === undefined ? host : net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    vo.sqliteDb.setDeviceIp(address);
  } catch (err) {
    log.warn("could not fill the device IP from '%s': %s", target, errorMessage(err));
  }
}
