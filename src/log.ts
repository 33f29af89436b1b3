/**
 * Logging through the `debug` package, one namespace per room, under `node-wot-vo:*` so that
 * `DEBUG=node-wot*` shows node-wot and us together. Warnings and errors are always printed
 * (through `console.warn` / `console.error`) because losing data must never be silent.
 */
import createDebug from "debug";

export interface Logger {
  debug: (fmt: string, ...args: unknown[]) => void;
  info: (fmt: string, ...args: unknown[]) => void;
  warn: (fmt: string, ...args: unknown[]) => void;
  error: (fmt: string, ...args: unknown[]) => void;
}

export function createLogger(room: string): Logger {
  const ns = `node-wot-vo:${room}`;
  const debug = createDebug(`${ns}:debug`);
  const info = createDebug(`${ns}:info`);
  const warn = createDebug(`${ns}:warn`);
  const error = createDebug(`${ns}:error`);
  // Warnings and errors must reach the operator even when DEBUG is unset.
  warn.enabled = warn.enabled || process.env.NODE_WOT_VO_QUIET !== "1";
  error.enabled = true;
  warn.log = console.warn.bind(console);
  error.log = console.error.bind(console);
  return { debug, info, warn, error };
}
