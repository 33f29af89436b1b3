/**
 * Mounts the browser dashboard (`/dashboard/`) and the Prometheus metrics (`/metrics`) on every
 * HTTP server of a servient:
 *
 *   mountDashboard(servient, servient.vo);
 *
 * The dashboard is a Thing Description client: these routes serve only its static files and a
 * small `config.json`; every figure it shows is read through the TDs' own forms (history,
 * historyAggregate, voStatus, voHealth, observers, …), with the credentials the TDs require.
 * Nothing runs on the server while nobody watches: the page polls, and metrics are collected at
 * scrape time.
 */
import type * as http from "node:http";
import { authorizationMatches } from "../node-wot/authorization";
import type { Servient } from "@node-wot/core";
import { addHttpRoute, addThingRequestGate } from "../node-wot/http-server";
import { createMetrics, type MetricsHost, type VoMetrics } from "../metrics/metrics";
import { countHttpTraffic, type HttpCountersProvider } from "../metrics/http-counters";
import { loadStaticFiles } from "./static";
import { VoInputError } from "../errors";

type Credential = { username?: string; password?: string; token?: string };

/** What the dashboard needs of the plugin (a VoPlugin fits: `mountDashboard(servient, servient.vo)`). */
export interface DashboardHost extends MetricsHost {
  /** Credentials by thing id: when any are configured, `/metrics` needs one of them. */
  options?: { credentials?: Record<string, Credential> };
}

export interface DashboardOptions {
  /** Where the dashboard is served; default `/dashboard/`. */
  path?: string;
  /** Serve Prometheus metrics; default true. */
  metrics?: boolean;
  /** Where the metrics are served; default `/metrics`. */
  metricsPath?: string;
  /**
   * Per-thing HTTP traffic for the metrics; default: a counter installed on the servient's HTTP
   * servers (the service manager's traffic monitor has the same shape).
   */
  traffic?: HttpCountersProvider;
  /**
   * URLs of extra ES modules the dashboard loads (extension point, e.g. the service manager's
   * page). Each default-exports `register(dashboard)`; see docs/dashboard.md.
   */
  modules?: string[];
  /** Answer `GET /` with the TD URLs of the exposed things (node-wot 0.9.2 answers `[]`); default true. */
  listThings?: boolean;
}

export interface MountedDashboard {
  /** Path of the dashboard, e.g. `/dashboard/`. */
  readonly path: string;
  /** Path of the metrics, or undefined when they are off. */
  readonly metricsPath: string | undefined;
  readonly metrics: VoMetrics | undefined;
  /** Stops the metrics' commit listener (the routes stay; they answer 404 afterwards). */
  close(): void;
}

/** Header the dashboard sends with its requests (and what it gets back without a login prompt). */
export const DASHBOARD_REQUEST_HEADER = "x-requested-with";
export const DASHBOARD_REQUEST_VALUE = "node-wot-vo-dashboard";

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Content-Security-Policy":
    "default-src 'self'; connect-src 'self' http: https:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

const mounted = new WeakSet<Servient>();

/** Mounts the dashboard and the metrics on the servient's HTTP servers (before or after start). */
export function mountDashboard(
  servient: Servient,
  host: DashboardHost,
  options: DashboardOptions = {},
): MountedDashboard {
  if (mounted.has(servient))
    throw new VoInputError("mountDashboard: the dashboard is already mounted on this servient");
  const base = checkPath(options.path ?? "/dashboard/", "path").replace(/\/?$/, "/");
  const metricsPath =
    options.metrics === false ? undefined : checkPath(options.metricsPath ?? "/metrics", "metricsPath");
  const files = loadStaticFiles();
  const config = Buffer.from(
    JSON.stringify({
      thingsUrl: "/",
      metricsPath: metricsPath ?? null,
      modules: options.modules ?? [],
    }),
  );
  files.set("config.json", { body: config, type: "application/json" });

  mounted.add(servient);
  let metrics: VoMetrics | undefined;
  if (metricsPath !== undefined) metrics = createMetrics(host, options.traffic ?? countHttpTraffic(servient));
  let open = true;

  // A 401 with `WWW-Authenticate` makes browsers show their own login prompt; the dashboard asks
  // for the credentials itself, so its requests get the 401 without the header.
  addThingRequestGate(servient, (_name, _thing, req, res) => {
    if (req.headers[DASHBOARD_REQUEST_HEADER] === DASHBOARD_REQUEST_VALUE) withoutLoginPrompt(res);
    return true;
  });

  addHttpRoute(servient, (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const pathname = q < 0 ? url : url.slice(0, q);
    if (!open) return false;
    if (metrics !== undefined && pathname === metricsPath) {
      serveMetrics(metrics, host, req, res);
      return true;
    }
    if (options.listThings !== false && pathname === "/" && req.method === "GET") {
      send(res, 200, "application/json", JSON.stringify(thingUrls(servient)));
      return true;
    }
    if (pathname === base.slice(0, -1)) {
      res.writeHead(301, { Location: base + (q < 0 ? "" : url.slice(q)) });
      res.end();
      return true;
    }
    if (!pathname.startsWith(base)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end(`the dashboard only answers GET, got ${req.method}`);
      return true;
    }
    const name = pathname.slice(base.length) || "index.html";
    const file = files.get(name);
    if (file === undefined) {
      send(res, 404, "text/plain; charset=utf-8", `no dashboard file '${name.slice(0, 80)}'`);
      return true;
    }
    res.writeHead(200, {
      "Content-Type": file.type,
      "Content-Length": file.body.length,
      "Cache-Control": "no-cache",
      ...SECURITY_HEADERS,
    });
    res.end(req.method === "HEAD" ? undefined : file.body);
    return true;
  });

  return {
    path: base,
    metricsPath,
    metrics,
    close() {
      open = false;
      metrics?.close();
    },
  };
}

function checkPath(p: string, option: string): string {
  if (typeof p !== "string" || !p.startsWith("/") || /[?#\s]/.test(p))
    throw new VoInputError(
      `mountDashboard: '${option}' must be a URL path starting with '/', got ${JSON.stringify(p)}`,
    );
  return p;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function withoutLoginPrompt(res: http.ServerResponse): void {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = ((name: string, value: number | string | readonly string[]) =>
    name.toLowerCase() === "www-authenticate" ? res : setHeader(name, value)) as typeof res.setHeader;
}

function serveMetrics(
  metrics: VoMetrics,
  host: DashboardHost,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
    res.end(`/metrics only answers GET, got ${req.method}`);
    return;
  }
  const credentials = Object.values(host.options?.credentials ?? {});
  if (credentials.length > 0 && !authorizationMatches(req.headers.authorization, credentials)) {
    res.writeHead(401, {
      "WWW-Authenticate": 'Basic realm="node-wot-vo metrics"',
      "Content-Type": "text/plain; charset=utf-8",
    });
    res.end(
      "the metrics need credentials: those of any thing in the servient's credentials (HTTP Basic or a Bearer token)",
    );
    return;
  }
  metrics.metrics().then(
    (text) => {
      res.writeHead(200, { "Content-Type": metrics.contentType, "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : text);
    },
    (err: unknown) =>
      send(res, 500, "text/plain; charset=utf-8", `collecting the metrics failed: ${String(err)}`),
  );
}

/**
 * TD URLs of the exposed things, from their TDs alone: the thing's URL is the part of an
 * affordance form's href before `/properties/`, `/actions/` or `/events/`.
 */
export function thingUrls(servient: Servient): string[] {
  const urls: string[] = [];
  for (const td of Object.values(servient.getThings()) as Record<string, unknown>[]) {
    const url = thingUrlOf(td);
    if (url !== undefined && !urls.includes(url)) urls.push(url);
  }
  return urls;
}

function thingUrlOf(td: Record<string, unknown>): string | undefined {
  for (const kind of ["properties", "actions", "events"]) {
    for (const a of Object.values((td[kind] ?? {}) as Record<string, { forms?: { href?: unknown }[] }>)) {
      for (const form of a.forms ?? []) {
        if (typeof form.href !== "string") continue;
        const m = /^(https?:\/\/[^/]+\/[^/?#]+)\/(properties|actions|events)\//.exec(form.href);
        if (m) return m[1];
      }
    }
  }
  return undefined;
}
