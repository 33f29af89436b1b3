/**
 * The layering of ARCHITECTURE §3 written down as code: `npm run lint` runs
 * `depcruise src --config .dependency-cruiser.cjs` and fails on a cycle or a wrong-way import.
 * docs/design.md draws the same rooms; `node tools/rooms.js` prints who imports whom.
 *
 * Flow, top to bottom (a room imports only rooms below it; none imports upwards):
 *
 *   index, cli, script-api      public API, launcher, script typings
 *   servient                    the composition root (VoPlugin satisfies td/host.ts and vo/host.ts)
 *   config                      options; takes each room's option schema from that room
 *   td/  vo/                    the faces: TD affordances, VO runtime — independent of each other
 *   service-manager/            seed-000 database, traffic monitor, services (VoPlugin satisfies its host.ts)
 *   recorder/                   node-wot interactions → records
 *   influx/                     outbox → shipper (reads the store)
 *   store/                      SQLite (knows nothing of node-wot)
 *   node-wot/                   the one adapter: every patch of node-wot and read of its private state
 *   errors, log, types, json-depth, sqlite-file   shared leaves (a leaf imports only leaves)
 *
 * Type imports count: tsPreCompilationDeps keeps `import type` edges, so a cycle through types
 * alone fails too. Importing node-wot's *types* (`import type { ExposedThing } from
 * "@node-wot/core"`) is allowed in every room except store/; importing its *values* (classes,
 * Helpers, ContentSerdes) is the adapter's alone.
 */
const SHARED_LEAVES = "^src/(errors|log|types|json-depth|sqlite-file)\\.ts$";
const NODE_WOT = "(^|/)node_modules/(@node-wot/|wot-typescript-definitions/)";

/** A room may import itself, the shared leaves and the rooms listed. */
function onlyBelow(name, room, below, comment) {
  return {
    name,
    severity: "error",
    comment,
    from: { path: room },
    to: { path: "^src/", pathNot: [room, SHARED_LEAVES, ...below] },
  };
}

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No import cycles in src/, type-only imports included: a room that needs the plugin declares " +
        "a small host interface of its own (td/host.ts, vo/host.ts) instead of importing VoPlugin.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-orphans",
      severity: "error",
      comment: "A module nothing imports and that imports nothing is dead code (or a forgotten entry point).",
      from: { orphan: true, path: "^src/", pathNot: "\\.d\\.ts$" },
      to: {},
    },
    {
      name: "shared-leaves-import-no-room",
      severity: "error",
      comment: "The shared leaves are used by every room, so they import no room (only other leaves).",
      from: { path: SHARED_LEAVES },
      to: { path: "^src/", pathNot: SHARED_LEAVES },
    },
    onlyBelow(
      "node-wot-adapter-imports-no-room",
      "^src/node-wot/",
      [],
      "The adapter is the bottom of the house: rooms call its named functions, it calls none of theirs.",
    ),
    onlyBelow(
      "store-imports-no-room",
      "^src/store/",
      [],
      "SQLite knows nothing of the rooms above it (ARCHITECTURE §3: nothing below src/store knows node-wot).",
    ),
    {
      name: "store-knows-no-node-wot",
      severity: "error",
      comment: "Not even node-wot's types: the store is usable (and tested) without a servient.",
      from: { path: "^src/store/" },
      to: { path: NODE_WOT },
    },
    onlyBelow(
      "influx-reads-only-the-store",
      "^src/influx/",
      ["^src/store/"],
      "Data moves one way, recorder → store → outbox → shipper: the shipper reads the store, nothing else.",
    ),
    onlyBelow(
      "recorder-writes-only-to-the-store",
      "^src/recorder/",
      ["^src/store/", "^src/node-wot/"],
      "The recorder turns node-wot interactions (through the adapter) into records for the store; " +
        "queries never read the recorder.",
    ),
    onlyBelow(
      "td-room-uses-only-rooms-below",
      "^src/td/",
      ["^src/store/", "^src/recorder/", "^src/node-wot/"],
      "The TD room reaches the plugin through td/host.ts, never through servient.ts, and never reaches into vo/.",
    ),
    onlyBelow(
      "vo-room-uses-only-rooms-below",
      "^src/vo/",
      ["^src/store/", "^src/node-wot/"],
      "The VO room reaches the plugin through vo/host.ts, never through servient.ts, and never reaches into td/.",
    ),
    onlyBelow(
      "service-manager-uses-only-the-adapter",
      "^src/service-manager/",
      ["^src/node-wot/"],
      "The service manager has its own database (it needs nothing of store/), reaches the plugin through " +
        "service-manager/host.ts and node-wot through the adapter; it never reaches into td/, vo/ or the recorder.",
    ),
    onlyBelow(
      "config-reads-only-option-schemas",
      "^src/config\\.ts$",
      ["^src/(influx|td|vo|store|service-manager)/options\\.ts$"],
      "Each room owns its options; config.ts assembles their schemas and nothing else.",
    ),
    {
      name: "only-the-adapter-imports-node-wot-values",
      severity: "error",
      comment:
        "Every patch of a node-wot object and every read of its private state lives in src/node-wot/; " +
        "elsewhere only `import type` of node-wot's typings is allowed.",
      from: { path: "^src/", pathNot: "^src/node-wot/" },
      to: { path: NODE_WOT, dependencyTypesNot: ["type-only"] },
    },
    {
      name: "nobody-imports-the-composition-root",
      severity: "error",
      comment:
        "servient.ts, cli.ts and index.ts sit on top: only the public entry points (index.ts, cli.ts) and " +
        "the script typings (script-api.ts) may import servient.ts; nothing imports cli.ts or index.ts.",
      from: { path: "^src/", pathNot: "^src/(index|cli|script-api)\\.ts$" },
      to: { path: "^src/(servient|cli|index)\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["main", "types", "typings"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
