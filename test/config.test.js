// Options: validation with errors that name the key, environment overrides, config files, and
// the vo-wot descriptor mapping.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { resolveOptions, applyEnvironment, loadConfigFile, fromVoWotDescriptor } = require("../dist/index.js");
const { parseArgs, buildOptions } = require("../dist/cli.js");
const { tempDir } = require("./helpers/vo.js");

test("defaults fill every option", () => {
  const o = resolveOptions({});
  assert.equal(o.dataDir, "./data");
  assert.equal(o.http.port, 8080);
  assert.equal(o.http.address, "127.0.0.1");
  assert.equal(o.sqlite.synchronous, "normal");
  assert.deepEqual(o.recorder.include, ["**"]);
  assert.equal(o.influxdb.enabled, false);
  assert.equal(o.history.maxLimit, 10000);
  assert.equal(o.history.retention.maxAgeMs, 0);
});

test("each invalid option gives an error naming the key and what was expected", () => {
  const cases = [
    [{ dataDir: 5 }, /'dataDir' must be string, got number 5/],
    [{ http: { port: "eighty" } }, /'http.port' must be integer, got string "eighty"/],
    [{ http: { port: 70000 } }, /'http.port' must be <= 65535, got number 70000/],
    [
      { sqlite: { synchronous: "sometimes" } },
      /'sqlite.synchronous' must be one of "normal", "full", got string "sometimes"/,
    ],
    [
      { influxdb: { urll: "http://x" } },
      /unknown key 'influxdb.urll'; expected one of: enabled, apiVersion, url/,
    ],
    [{ nonsense: true }, /unknown key 'nonsense'; expected one of: name, dataDir/],
    [{ influxdb: { url: "ftp://x" } }, /'influxdb.url' must match \^https\?:\/\//],
    [{ influxdb: { enabled: true, apiVersion: 2 } }, /influxdb.token is required/],
    [{ recorder: { include: "Lamp/*" } }, /'recorder.include' must be array/],
    [{ history: { retention: { maxAgeMs: -1 } } }, /'history.retention.maxAgeMs' must be >= 0/],
    [[], /expected an object of options, got an array/],
  ];
  for (const [input, expected] of cases)
    assert.throws(() => resolveOptions(input), expected, JSON.stringify(input));
  // Several problems are reported together.
  assert.throws(
    () => resolveOptions({ dataDir: 1, http: { port: -1 } }),
    (err) => {
      assert.match(err.message, /dataDir/);
      assert.match(err.message, /http.port/);
      return err.name === "VoConfigError";
    },
  );
});

test("environment overrides port, data directory and secrets", () => {
  const env = {
    NODE_WOT_VO_PORT: "9123",
    NODE_WOT_VO_DATA_DIR: "/tmp/vo-data",
    NODE_WOT_VO_INFLUX_ENABLED: "true",
    NODE_WOT_VO_INFLUX_TOKEN: "s3cret",
  };
  const o = resolveOptions(applyEnvironment({ http: { port: 1 } }, env));
  assert.equal(o.http.port, 9123);
  assert.equal(o.dataDir, "/tmp/vo-data");
  assert.equal(o.influxdb.enabled, true);
  assert.equal(o.influxdb.token, "s3cret");
  assert.throws(
    () => applyEnvironment({}, { NODE_WOT_VO_PORT: "x" }),
    /NODE_WOT_VO_PORT must be an integer, got 'x'/,
  );
  assert.throws(() => applyEnvironment({}, { NODE_WOT_VO_INFLUX_ENABLED: "yes" }), /must be true or false/);
});

test("a JSON config file: errors name the file; CLI flags win over the file and the environment", () => {
  const dir = tempDir();
  const file = path.join(dir, "vo.json");
  fs.writeFileSync(file, JSON.stringify({ http: { port: 1234 }, scripts: ["a.js"] }));
  const loaded = loadConfigFile(file, {});
  assert.equal(loaded.options.http.port, 1234);
  assert.equal(loaded.baseDir, dir);
  const args = parseArgs(["--config", file, "--port", "4321", "--data-dir", "/tmp/x", "b.js"]);
  const built = buildOptions(args, { NODE_WOT_VO_PORT: "5555" });
  assert.equal(built.options.http.port, 4321);
  assert.equal(built.options.dataDir, "/tmp/x");
  assert.deepEqual(args.scripts, ["b.js"]);
  fs.writeFileSync(file, "{ not json");
  assert.throws(() => loadConfigFile(file, {}), /config file '.*vo.json' is not valid JSON/);
  fs.writeFileSync(file, JSON.stringify({ http: { port: "x" } }));
  assert.throws(
    () => loadConfigFile(file, {}),
    /config file '.*vo.json' is invalid:\n {2}- 'http.port' must be integer/,
  );
  assert.throws(() => loadConfigFile(path.join(dir, "missing.json"), {}), /cannot read config file/);
  assert.throws(() => parseArgs(["--port"]), /--port needs a value/);
  assert.throws(() => parseArgs(["--bogus"]), /unknown option '--bogus'/);
});

test("a vo-wot YAML descriptor maps to the same options", () => {
  const dir = tempDir();
  const file = path.join(dir, "descriptor.yaml");
  fs.writeFileSync(
    file,
    `name: example_vo
type: VO
deploymentType: A
catalogue: 9090
bindingNB:
  bindingModeNB: [H]
  hostname: 192.168.49.2
  ports:
    httpPort: 8080
    coapPort: 5683
databaseConfig:
  timeseriesDB:
    influxDB: enabled
    address: http://influx.local:8086
    dbUser: admin
    dbPass: adminpw
    dbToken: my-token
  persistentDB:
    SQLite: enabled
    dbFilePath: ./vo1.db
genericFunction: [mean_value]
`,
  );
  const { options, ignored } = loadConfigFile(file, {});
  assert.equal(options.name, "example_vo");
  assert.equal(options.catalogue, 9090);
  assert.equal(options.http.port, 8080);
  assert.equal(options.http.staticAddress, "192.168.49.2");
  assert.equal(options.sqlite.file, "./vo1.db");
  assert.equal(options.influxdb.enabled, true);
  assert.equal(options.influxdb.url, "http://influx.local:8086");
  assert.equal(options.influxdb.token, "my-token");
  assert.equal(options.influxdb.username, "admin");
  assert.equal(options.influxdb.password, "adminpw");
  assert.equal(options.influxdb.org, "wot");
  assert.equal(options.influxdb.layout, "vo-wot");
  assert.ok(ignored.includes("genericFunction"));
  assert.ok(ignored.includes("bindingNB.ports.coapPort"));
  // vo-wot's docs write `dbFilePath: None`, which YAML reads as the string "None": treated as unset.
  const { options: o2 } = fromVoWotDescriptor({
    name: "x",
    databaseConfig: { persistentDB: { dbFilePath: "None" } },
  });
  assert.equal(o2.sqlite, undefined);
});
