/**
 * Work-arounds for node-wot 0.9.2, each in one place (see docs/node-wot-quirks.md).
 *
 * Loading @node-wot/core compiles the TD JSON schema with ajv, which prints 44 lines of
 * `unknown format "iri-reference" ignored in schema …` through console.warn. They are harmless and
 * drown the launcher's output, so they are dropped while the module loads — and only those lines.
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
