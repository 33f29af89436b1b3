/**
 * The dashboard's static files: the `dashboard/` directory of the package, plus uPlot served from
 * its installed package (never copied into this one). Read once at mount, served from memory.
 */
import fs from "node:fs";
import path from "node:path";

export interface StaticFile {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

/** The `dashboard/` directory at the package root (next to `dist/`). */
export const DASHBOARD_DIR = path.join(__dirname, "..", "..", "dashboard");

/** File name (as requested under the dashboard path) → content. */
export function loadStaticFiles(dir = DASHBOARD_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new Error(
      `the dashboard's files are missing (${dir}: ${(err as Error).message}); reinstall node-wot-vo`,
    );
  }
  for (const name of names) {
    const type = TYPES[path.extname(name)];
    if (type === undefined) continue;
    files.set(name, { body: fs.readFileSync(path.join(dir, name)), type });
  }
  // uPlot from its own package: `vendor/uPlot.iife.min.js`, `vendor/uPlot.min.css`.
  for (const name of ["uPlot.iife.min.js", "uPlot.min.css"]) {
    const file = require.resolve(`uplot/dist/${name}`);
    files.set(`vendor/${name}`, { body: fs.readFileSync(file), type: TYPES[path.extname(name)] });
  }
  return files;
}
