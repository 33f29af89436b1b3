/**
 * The servient the launcher runs: one node-wot HttpServer, an HTTP client factory (the VO consumes
 * its device, scripts may consume other things), and the two work-arounds its construction needs.
 */
import type http from "node:http";
import { Servient } from "@node-wot/core";
import { HttpClientFactory, HttpServer } from "@node-wot/binding-http";

export interface HttpServientConfig {
  port: number;
  address: string;
  baseUri?: string;
  security?: { scheme: string }[];
  /** Runs before node-wot (and before this package's routes) for every request. */
  middleware?: (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => Promise<void>;
}

export function createHttpServient(config: HttpServientConfig): {
  servient: Servient;
  httpServer: HttpServer;
} {
  const httpServer = withoutPortEnvironment(
    () =>
      new HttpServer({
        port: config.port,
        address: config.address,
        baseUri: config.baseUri,
        security: config.security as never,
        middleware: config.middleware,
      }),
  );
  // Quirk: node-wot 0.9.2 starts supportedSecuritySchemes as ["nosec"] even when `security` is
  // given, so things kept advertising nosec. Make "basic" the scheme things get when it is
  // configured. Not "bearer": 0.9.2's server compares it with "Bearer" and would refuse every
  // request; with bearer the plugin still guards its own state-changing actions
  // (docs/node-wot-quirks.md). Pinned by test/vo-state.test.js ("with credentials configured,
  // changes need them").
  if (config.security?.some((s) => s.scheme === "basic")) {
    (httpServer as unknown as { supportedSecuritySchemes: string[] }).supportedSecuritySchemes = ["basic"];
  }
  const servient = new Servient();
  servient.addServer(httpServer);
  servient.addClientFactory(new HttpClientFactory());
  return { servient, httpServer };
}

/**
 * Quirk: node-wot's HttpServer takes WOT_PORT / PORT from the environment over its config. The
 * launcher already folded NODE_WOT_VO_PORT and the config into one port, so those two are hidden
 * while the server is built. Pinned by test/launcher.test.js ("PORT / WOT_PORT in the environment do
 * not move the VO off its configured port").
 */
function withoutPortEnvironment<T>(build: () => T): T {
  const saved = { WOT_PORT: process.env.WOT_PORT, PORT: process.env.PORT };
  delete process.env.WOT_PORT;
  delete process.env.PORT;
  try {
    return build();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}
