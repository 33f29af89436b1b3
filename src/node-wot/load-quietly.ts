/**
 * Loads @node-wot/core without its start-up noise. Imported first by the entry points (index.ts,
 * cli.ts), before anything else requires node-wot.
 *
 * Quirk (docs/node-wot-quirks.md): loading @node-wot/core compiles the TD JSON schema with ajv,
 * which prints 44 lines of `unknown format "iri-reference" ignored in schema …` through
 * console.warn. They are harmless and drown the launcher's output, so they are dropped while the
 * module loads — and only those lines.
 * Pinned by test/launcher.test.js ("loading the plugin prints nothing").
 */
const NOISE = /^unknown format "iri-reference" ignored in schema/;

const warn = console.warn;
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && NOISE.test(args[0])) return;
  warn.apply(console, args);
};
try {
  require("@node-wot/core");
} finally {
  console.warn = warn;
}

export {};
