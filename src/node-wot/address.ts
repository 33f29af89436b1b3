/**
 * The address a servient advertises in its TDs.
 *
 * node-wot 0.9.2 builds form hrefs from `Helpers.getAddresses()`: the process-wide static address
 * when one was set, otherwise every external interface address of the machine. An `HttpServer`
 * bound to `127.0.0.1` therefore advertises addresses it does not listen on, and clients (and the
 * VO's own self-check) that follow the TD fail. The launcher sets the static address from its
 * config; a servient built by hand (README "Use it in your own servient") gets it here, from the
 * address each HTTP server was configured with.
 */
import { Helpers, type Servient } from "@node-wot/core";

/** What we read of node-wot's `HttpServer` (private fields in its typings). */
interface HttpServerFields {
  scheme?: unknown;
  address?: unknown;
  baseUri?: unknown;
  getPort(): number;
}

const WILDCARDS = new Set(["0.0.0.0", "::", "0:0:0:0:0:0:0:0", ""]);
const patched = new WeakSet<object>();

/** True for a bind address that means "every interface": node-wot's behaviour is kept for those. */
export function isWildcardAddress(address: string): boolean {
  return WILDCARDS.has(address.trim());
}

/** The static address node-wot uses for every TD of the process, when someone set one. */
export function staticAddress(): string | undefined {
  return (Helpers as unknown as { staticAddress?: string }).staticAddress;
}

/**
 * Sets node-wot's process-wide static address (an IPv6 literal gets its brackets), or clears the one
 * an earlier launcher in this process left with `undefined`. Pinned by test/launcher.test.js ("the
 * demo VO starts, … the TD points at the served address …").
 */
export function setStaticAddress(address: string | undefined): void {
  Helpers.setStaticAddress((address === undefined ? undefined : uriHost(address)) as string);
}

/**
 * `<scheme>://<advertised host>:<port>/` of the servient's first listening HTTP server: its
 * `baseUri` when it has one (set here by `advertiseServedAddresses`, or by the user), else the first
 * address node-wot would advertise. The VO's self-check GETs it. Pinned by test/library.test.js
 * ("a library servient bound to 127.0.0.1 … its self-check finds the VO up").
 */
export function advertisedBaseUrl(servient: Servient): string | undefined {
  for (const server of servient.getServers()) {
    const s = server as unknown as { scheme?: string; baseUri?: string; getPort?: () => number };
    if ((s.scheme !== "http" && s.scheme !== "https") || typeof s.getPort !== "function") continue;
    if (s.baseUri) return s.baseUri.replace(/\/+$/, "") + "/";
    const port = s.getPort();
    if (port <= 0) continue;
    return `${s.scheme}://${uriHost(Helpers.getAddresses()[0] ?? "127.0.0.1")}:${port}/`;
  }
  return undefined;
}

/** An address as it appears in a URL: IPv6 literals in brackets. */
export function uriHost(address: string): string {
  return address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
}

/**
 * Makes every HTTP server of the servient that is bound to one specific address advertise that
 * address (and its actual port) in TD hrefs. Idempotent; call it when the server list is final
 * (before `servient.start()`).
 *
 * Left alone: servers with a `baseUri` (the user said what to advertise), servers bound to a
 * wildcard or to no address (node-wot lists the interfaces), and any server while a static address
 * is set with `Helpers.setStaticAddress` (checked at each use, so setting one later still wins).
 *
 * Why `baseUri` and not `Helpers.setStaticAddress`: the static address is global to the process
 * and would leak into every other servient in it; `baseUri` belongs to this one server, and both
 * HttpServer's `expose` and the VO's self-check already read it.
 */
export function advertiseServedAddresses(servient: Servient): void {
  for (const server of servient.getServers()) {
    const s = server as unknown as HttpServerFields;
    if (patched.has(s) || (s.scheme !== "http" && s.scheme !== "https")) continue;
    if (typeof s.getPort !== "function" || s.baseUri !== undefined) continue;
    if (typeof s.address !== "string" || isWildcardAddress(s.address)) continue;
    patched.add(s);
    const scheme = s.scheme;
    const host = uriHost(s.address);
    // An accessor, not a value: the port is only known once the server listens (port 0), and a
    // static address set after attach() must still take precedence.
    Object.defineProperty(s, "baseUri", {
      configurable: true,
      enumerable: true,
      get(this: HttpServerFields): string | undefined {
        const port = this.getPort();
        if (staticAddress() !== undefined || port <= 0) return undefined;
        return `${scheme}://${host}:${port}`;
      },
    });
  }
}
