// Generates docs/configuration.md from the options schema (src/config.ts), so the document lists
// every option with its real type and default. `node tools/config-doc.js` writes it;
// `node tools/config-doc.js --check` fails when the document is stale or an option has no text.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { OPTIONS_SCHEMA, ENVIRONMENT } = require("../dist/config.js");

const TEXT = {
  name: "Name of this VO (vo-wot descriptor `name`); informational.",
  dataDir:
    "Directory of the SQLite file (`vo.sqlite`). Relative paths are relative to the working directory.",
  sqlite: "The SQLite file that holds the VO tables, the history and the outbox.",
  "sqlite.file": "SQLite file path; default `<dataDir>/vo.sqlite`. `:memory:` keeps nothing across restarts.",
  "sqlite.synchronous":
    "`normal`: a committed record survives a crash of the process (WAL). `full`: it also survives power loss, at the price of one fsync per group commit.",
  "sqlite.busyTimeoutMs": "How long a statement waits for a lock held by another connection (e.g. a reader).",
  recorder: "What is recorded.",
  "recorder.enabled": "Record interactions at all.",
  "recorder.include":
    'Globs over `<thing title>/<affordance name>` (also tried with the thing id). A record is kept when it matches an `include` and no `exclude`. The TD annotation `"vo:record": false` on a thing or an affordance opts out too.',
  "recorder.exclude": 'Globs that drop records, e.g. `["*/heartbeat"]`.',
  "recorder.maxValueBytes":
    'A payload larger than this is stored as `{"$truncated":true,"bytes":n}` instead of its value.',
  "recorder.maxDepth":
    'A value nested deeper than this (arrays and objects) is stored as `{"$tooDeep":true,"maxDepth":n,"bytes":n}`, so no stored value can overflow a reader\'s stack or SQLite\'s JSON functions (which stop at depth 1,000).',
  "recorder.maxBodyBytes":
    "Request bodies larger than this are refused with 413: a declared `Content-Length` before any byte is read (not recorded), a chunked body when it passes the limit (reading stops; a recorded affordance's write is recorded with `ok: false`).",
  history: "Local history queries and retention.",
  "history.defaultLimit": "Rows a history query returns when it gives no `limit`.",
  "history.maxLimit": "Largest `limit` a history query may ask for (queries above it get a clear error).",
  "history.maxWindows": "Most windows one aggregate may return.",
  "history.maxFutureSkewMs":
    "An explicit time given by a script (`influxdb.writePoint(…, time)`) may be at most this far ahead of the clock; later times are refused with a clear error. Explicit times never move the clock of live records.",
  "history.retention": "Background purge of old records, in chunks, never blocking interactions.",
  "history.retention.maxAgeMs": "Delete records older than this (0: keep forever).",
  "history.retention.maxRows": "Keep at most this many records (0: no limit).",
  "history.retention.intervalMs": "How often retention runs.",
  "history.retention.chunkRows": "Rows deleted per transaction before yielding to the event loop.",
  influxdb:
    "Shipping the history to InfluxDB (see docs/influxdb.md). Unshipped records are never purged by retention.",
  "influxdb.enabled":
    "Ship records to InfluxDB. Off: `servient.influxdb` exists but every call says how to configure it.",
  "influxdb.apiVersion":
    "`2`: InfluxDB 2.x / Cloud / 3 through the official client. `1`: InfluxDB 1.x `/write` and `/query`.",
  "influxdb.url": "Server URL.",
  "influxdb.token":
    "API v2 token (required with apiVersion 2). Prefer `NODE_WOT_VO_INFLUX_TOKEN`; never logged.",
  "influxdb.org": "API v2 organisation (vo-wot hard-coded `wot`).",
  "influxdb.bucket": "API v2 bucket of the tagged layout.",
  "influxdb.createBucket": "Create missing buckets on first use (v2; the token must be allowed to).",
  "influxdb.database": "API v1 database of the tagged layout.",
  "influxdb.retentionPolicy": "API v1 retention policy (server default when absent).",
  "influxdb.username": "API v1 user. Prefer `NODE_WOT_VO_INFLUX_USERNAME`.",
  "influxdb.password": "API v1 password. Prefer `NODE_WOT_VO_INFLUX_PASSWORD`; never logged.",
  "influxdb.layout":
    "`tagged`: one measurement per kind with thing / kind / name tags. `vo-wot`: vo-wot's layout (bucket per property, field `value`, buckets `action` and `event`).",
  "influxdb.measurementPrefix":
    "Prefix of the tagged layout's measurements (`wot_property`, `wot_action`, `wot_event`).",
  "influxdb.maxFlattenedFields":
    "Most leaf fields an object value is flattened into (the JSON text is always kept).",
  "influxdb.queryLanguage":
    "Language of the query helpers: `auto` (Flux on v2, InfluxQL on v1), `flux` or `influxql`.",
  "influxdb.batchSize": "Points per write request.",
  "influxdb.maxBatchBytes": "Bytes of line protocol per write request.",
  "influxdb.maxInFlight":
    "Write requests in flight at once; the next batch is read from SQLite and built while they are. The cursor still moves in order.",
  "influxdb.gzipThreshold":
    "Request bodies larger than this many bytes are gzipped (`Content-Encoding: gzip`); 0 never gzips. Pays on a slow link only: on loopback or a LAN it costs more CPU than it saves (see docs/influxdb.md).",
  "influxdb.readChunkRows":
    "Rows read from SQLite and built into lines per synchronous step; the event loop gets a turn after each.",
  "influxdb.busyShare":
    "Share of the event loop (0…1] the shipper may take while interactions are being recorded, so a backlog never starves them; 1 = no limit. An idle servient ships at full speed.",
  "influxdb.flushIntervalMs": "Longest a record waits before its (partial) batch is sent.",
  "influxdb.pollIntervalMs": "How often the shipper looks for newly committed records (an in-memory check).",
  "influxdb.retryDelayMs": "First delay after a failed write; doubles each failure.",
  "influxdb.maxRetryDelayMs": "Ceiling of the retry delay (a server's `Retry-After` wins).",
  "influxdb.retryJitter": "Random part of each retry delay (0…1).",
  "influxdb.maxRetryAfterMs": "Longest wait a server's `Retry-After` can impose.",
  "influxdb.timeoutMs": "Timeout of one write or query request.",
  "influxdb.outbox":
    "Bound of unshipped records; beyond it the oldest are skipped (counted and logged once), never silently.",
  "influxdb.outbox.maxRows": "Most unshipped records kept for InfluxDB.",
  "influxdb.outbox.maxBytes": "Most bytes of unshipped records kept for InfluxDB (estimated).",
  "influxdb.outbox.countChunkRows":
    "Rows summed per step when the size of an outbox left from an earlier run is counted at start; the event loop gets a turn after each.",
  "influxdb.shutdownFlushMs":
    "How long shutdown keeps shipping before it closes (the rest ships after the next start).",
  td: "Affordances the plugin adds to every TD (see docs/history-api.md).",
  "td.historyAffordances": "Add `history`, `historyAggregate` and `queryHistory`.",
  "td.voAffordances":
    "Add `voStatus`, the status histories, `observers`, `redirectIps`, `deviceIp`, their changing actions and the connection events.",
  vo: "The Virtual Object: status checks and the device it stands in for.",
  "vo.selfCheck": "Periodic check that the VO's own HTTP endpoint answers; appends to `vo_status`.",
  "vo.selfCheck.enabled": "Run the self-check.",
  "vo.selfCheck.periodMs": "Time between self-checks (checks never overlap).",
  "vo.selfCheck.timeoutMs": "A self-check slower than this counts as down.",
  "vo.selfCheck.url": "URL to check; default: the advertised HTTP address of the servient.",
  "vo.keepStatusRows": "Rows kept in `vo_status` and `device_status` each (0: keep all).",
  "vo.device": "The device (deployment type A: it runs a WoT runtime). Liveness appends to `device_status`.",
  "vo.device.tdUrl": "URL of the device's TD: the VO consumes it and mirrors it.",
  "vo.device.address": "Address checked for liveness when there is no TD URL (`host:port` or a URL).",
  "vo.device.periodMs": "Time between device checks.",
  "vo.device.timeoutMs": "A device slower than this counts as lost; a hung device never stalls the VO.",
  "vo.device.mirror":
    "Which affordances the mirror re-exposes: `{ properties, actions, events }`, each a map of name on the VO → name on the device (vo-wot `proxy` maps). Absent: everything, under its own name.",
  "vo.device.thingTitle": "Title of the mirror thing; default `<device title> VO`.",
  "vo.device.thingId": "Id of the mirror thing; default derived from the device's id.",
  http: "Launcher only: the HTTP server.",
  "http.port":
    "Port (0: a free one). Env `NODE_WOT_VO_PORT`; `--port`. node-wot's own `WOT_PORT` / `PORT` are ignored by the launcher.",
  "http.address": "Address to bind. Env `NODE_WOT_VO_ADDRESS`.",
  "http.staticAddress":
    "Host written into TD hrefs; default the bound address (node-wot otherwise advertises every interface).",
  "http.baseUri": "Base of TD hrefs behind a reverse proxy, e.g. `https://vo.example.org`.",
  "http.security": 'node-wot security schemes, e.g. `[{"scheme":"basic"}]`, with `credentials`.',
  scripts: "Launcher only: Thing scripts to run, relative to the config file.",
  catalogue: 'Launcher only: port of a vo-wot style catalogue (`GET /` → `{title: "/path"}`); 0: off.',
  serviceManager:
    "The service manager (docs/service-manager.md): `<dataDir>/servicemanager.db`, the traffic monitor on every thing, the ServiceManager Thing, Thing scripts run as services.",
  "serviceManager.enabled":
    "Run the service manager. Unset: on in the launcher, off for `attach()` (a library user asks for it with `true`).",
  "serviceManager.servicesDir":
    "Where service packages live (a directory with `service.json`, or a single script); every path a client gives must resolve inside it. Default `<dataDir>/services`.",
  "serviceManager.layersDir":
    "Where installed layers are copied (`sha256-<hex>`). Default `<dataDir>/layers`.",
  "serviceManager.storageDir":
    "Root of the services' storage folders (`<id>/<users key>`). Default `<dataDir>/service-storage`.",
  "serviceManager.period": "Calendar period (UTC) of the traffic totals and of `ulLimit` / `dlLimit`.",
  "serviceManager.persistIntervalMs":
    "How often the traffic totals are saved to `trafficmonitor` (a SIGKILL loses at most this much counting), limits re-read, and the totals recorded into the history as the ServiceManager Thing's `trafficTotals` property.",
  "serviceManager.checkIntervalMs":
    "How often running services are checked against `stateLimit` and their alert rules, and stopped services against their `ttl`.",
  "serviceManager.defaultUsers":
    "The users list a service gets (its storage folder and state checksum) when it is installed.",
  dashboard: "Launcher only: the browser dashboard and the Prometheus metrics (see docs/dashboard.md).",
  "dashboard.enabled":
    "Serve the dashboard at `/dashboard/` (a TD client: it reads what the TDs offer, with their credentials).",
  "dashboard.metrics":
    "Serve Prometheus metrics at `/metrics` (they need credentials when `credentials` has any).",
  credentials:
    'node-wot credentials by thing id: `{"<thing id>": {"username": …, "password": …}}` or `{"token": …}`.',
};

function typeOf(s) {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if (s.type === "array") return `array of ${s.items?.type ?? "object"}`;
  return s.type ?? "object";
}

function rows(schema, prefix, out, missing) {
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (!(name in TEXT)) missing.push(name);
    const nested = s.type === "object" && s.properties && name !== "vo.device.mirror";
    const def = s.default === undefined || nested ? "" : `\`${JSON.stringify(s.default)}\``;
    out.push(`| \`${name}\` | ${nested ? "object" : typeOf(s)} | ${def} | ${TEXT[name] ?? ""} |`);
    if (nested) rows(s, name, out, missing);
  }
}

function render() {
  const out = [];
  const missing = [];
  rows(OPTIONS_SCHEMA, "", out, missing);
  for (const name of Object.keys(TEXT)) {
    if (!out.some((line) => line.startsWith(`| \`${name}\` |`)))
      missing.push(`${name} (described but not in the schema)`);
  }
  if (missing.length)
    throw new Error(`options without a description in tools/config-doc.js: ${missing.join(", ")}`);
  const env = Object.entries(ENVIRONMENT).map(([k, v]) => `| \`${k}\` | \`${v.path}\` (${v.type}) |`);
  return `# Configuration

<!-- Generated by \`node tools/config-doc.js\` from the options schema in src/config.ts; do not edit by hand. -->

One options object configures everything. \`attach(servient, options)\` takes it directly; the
launcher reads it from a JSON file (\`node-wot-vo --config vo.json\`), or from a vo-wot YAML
descriptor (below). Options are validated when they are read: an unknown key, a wrong type or a
value out of range is an error that names the key and says what was expected, and nothing starts.

Precedence, lowest first: defaults → config file → environment → command-line flags
(\`--port\`, \`--data-dir\`, \`--address\`).

## Options

| option | type | default | meaning |
|---|---|---|---|
${out.join("\n")}

## Environment

Secrets never need to be in a file.

| variable | sets |
|---|---|
${env.join("\n")}

## vo-wot descriptors

\`node-wot-vo --config descriptor.yaml script.js\` accepts the YAML that \`vo-wot -f\` reads. A file
is taken as a descriptor when it has one of vo-wot's top-level keys (\`bindingNB\`,
\`databaseConfig\`, \`catalogue\`, …). Mapping:

| descriptor | option |
|---|---|
| \`name\` | \`name\` |
| \`catalogue\` | \`catalogue\` (a vo-wot style catalogue on that port) |
| \`bindingNB.ports.httpPort\` | \`http.port\` |
| \`bindingNB.hostname\` | \`http.staticAddress\` |
| \`databaseConfig.persistentDB.dbFilePath\` | \`sqlite.file\` (\`None\` means unset) |
| \`databaseConfig.timeseriesDB.influxDB: enabled\` | \`influxdb.enabled\`, with \`layout: "vo-wot"\`, \`org: "wot"\`, \`createBucket: true\` |
| \`databaseConfig.timeseriesDB.address\` / \`dbToken\` / \`dbUser\` / \`dbPass\` | \`influxdb.url\` / \`token\` / \`username\` / \`password\` |

Every other key (\`genericFunction\`, \`periodicFunction\`, \`consumedVOs\`, \`bindingSB\`, ports
of other protocols, \`proxy\` …) is listed by the launcher as not used; \`proxy\` maps correspond to
\`vo.device.mirror\`.
`;
}

const file = path.join(__dirname, "..", "docs", "configuration.md");
const text = render();
if (process.argv.includes("--check")) {
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (current !== text) {
    console.error("docs/configuration.md is stale: run `node tools/config-doc.js`");
    process.exit(1);
  }
} else {
  fs.writeFileSync(file, text);
}
