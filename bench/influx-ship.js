// Points shipped per second from the SQLite outbox to a real server on loopback, against the
// reference measured in the same run: the same lines, built beforehand, POSTed in batches over one
// keep-alive connection. Rounds alternate reference / subject, each on a fresh server; medians and
// spread are reported, and every point is counted back.
//
//   npm run build && node bench/influx-ship.js [--full] [--server influxdb|victoria] [--records N]
//                                               [--rounds R] [--inflight N] [--gzip BYTES] [--profile DIR]
//
// --server influxdb (default): InfluxDB 1.6.7, API v1 (`/write`), the mixed backlog of bench/lib.js
// (numbers, integers, objects, events, actions). --server victoria: VictoriaMetrics, API v2 through
// the official client (`/api/v2/write`), the numeric mix (numbers, integers, events).
// Quick: 200,000 records, 3 rounds; --full: 1,000,000 records, 5 rounds. Seeded. --profile writes
// a CPU profile of one subject round (the shipping only) and prints its top self-time functions.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib.js");
const { forkShipper } = require("./ship-backlog.js");
const { topSelf } = require("./profile.js");
const { startInfluxd, startVictoriaMetrics } = require("../test/helpers/servers.js");

const args = lib.flags();
const records = args.records ?? (args.full ? 1_000_000 : 200_000);
const rounds = args.rounds ?? (args.full ? 5 : 3);
const batchSize = args.batch ?? 5000;
const profileFile = args.server === "victoria" ? "victoria-ship" : "influx-ship";
const victoria = args.server === "victoria";

/** What differs between the two servers. */
const SERVER = victoria
  ? {
      name: "VictoriaMetrics, API v2 client",
      start: startVictoriaMetrics,
      prepare: async () => undefined,
      writePath: "/api/v2/write?org=wot&bucket=bench&precision=ns",
      options: { apiVersion: 2, token: "not-checked", org: "wot", bucket: "bench", createBucket: false },
      backlog: { numeric: true },
      /** Samples of the `ok` field: one per point. */
      count: async (server) =>
        (await server.export('{__name__=~"wot_.*_ok"}')).reduce((n, s) => n + s.values.length, 0),
      target: "reported",
    }
  : {
      name: "InfluxDB 1.6.7, API v1",
      start: startInfluxd,
      prepare: (server) => server.query('CREATE DATABASE "bench"'),
      writePath: "/write?db=bench&precision=ns",
      options: { apiVersion: 1, database: "bench", createBucket: true },
      backlog: {},
      count: async (server) => {
        const json = await server.query('SELECT count("ok") FROM /wot_.*/', "bench");
        return (json.results[0].series ?? []).reduce((n, s) => n + s.values[0][1], 0);
      },
      target: "≥ 0.8 and ≥ 200,000/s",
    };

/** The lines the shipper sends for the backlog, one body per batch, built before any timing. */
async function referenceBodies(file) {
  const payloads = await lib.backlogPayloads(file, { ...SERVER.options, batchSize });
  return payloads.map((p) => Buffer.from(p.text));
}

/** POSTs the bodies one after another over one keep-alive connection: { seconds, cpuUs }. */
async function postAll(url, bodies) {
  const { post, close } = lib.poster(url, SERVER.writePath);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (const body of bodies) await post(body);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  close();
  return { seconds, cpuUs: used.user + used.system };
}

/** The subject's options: the server's, the batch size, and what the flags ask for. */
const subjectOptions = () => ({
  ...SERVER.options,
  batchSize,
  ...(args.inflight ? { maxInFlight: args.inflight } : {}),
  ...(args.gzip ? { gzipThreshold: args.gzip } : {}),
});

/** One round of one side on a fresh server: points/s, CPU per point (client, server), all arrived. */
async function round(side, { bodies, profileName }) {
  const influx = await SERVER.start();
  try {
    await SERVER.prepare(influx);
    const serverCpu = lib.processCpuMs(influx.proc.pid);
    let result;
    if (side === "reference") result = await postAll(influx.url, bodies);
    else {
      const dir = lib.tempDir("nwv-bench-ship-");
      const copy = await lib.backlogFile(path.join(dir, "vo.sqlite"), records, SERVER.backlog);
      // In a child process of its own, warmed up first: a servient's process, not this one, whose
      // heap holds the reference's bodies.
      const profile = profileName ? { dir: path.resolve(args.profile), name: profileName } : undefined;
      const shipper = forkShipper(copy, influx.url, subjectOptions(), profile);
      await shipper.ready;
      result = await shipper.run();
      if (!result.ok || result.shipped !== records)
        throw new Error(`shipped ${result.shipped} of ${records}`);
    }
    const serverUs = (lib.processCpuMs(influx.proc.pid) - serverCpu) * 1000;
    // VictoriaMetrics makes new series searchable a moment after it acknowledged them (its index
    // buffers them about a second, force_flush or not): count until all are seen, or 10 s.
    let arrived = await SERVER.count(influx);
    for (const until = Date.now() + 10_000; arrived < records && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 250));
      arrived = await SERVER.count(influx);
    }
    return {
      pps: records / result.seconds,
      clientUsPerPoint: result.cpuUs / records,
      serverUsPerPoint: serverUs / records,
      arrived,
    };
  } finally {
    await influx.destroy();
  }
}

async function main() {
  const dir = lib.tempDir("nwv-bench-ref-");
  const file = await lib.backlogFile(path.join(dir, "vo.sqlite"), records, SERVER.backlog);
  const bodies = await referenceBodies(file);
  // Warm-up, untimed: the reference once (page cache, the server's first start); each subject
  // process warms itself up before it is timed (bench/ship-backlog.js).
  await round("reference", { bodies: bodies.slice(0, 4) });
  const results = { reference: [], subject: [] };
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? ["reference", "subject"] : ["subject", "reference"]) {
      const profileName = args.profile && side === "subject" && r === rounds - 1 ? profileFile : undefined;
      const res = await round(side, { bodies, profileName });
      results[side].push(res);
      process.stderr.write(
        `round ${r + 1} ${side.padEnd(9)} ${Math.round(res.pps)} points/s, client ${res.clientUsPerPoint.toFixed(2)} µs/point, ` +
          `server ${res.serverUsPerPoint.toFixed(2)} µs/point, arrived ${res.arrived}\n`,
      );
    }
  }
  const pps = (side) => results[side].map((x) => x.pps);
  const med = (side, key) => lib.round(lib.median(results[side].map((x) => x[key])), 2);
  const ref = lib.median(pps("reference"));
  const sub = lib.median(pps("subject"));
  const ratio = sub / ref;
  const allArrived = [...results.reference, ...results.subject].every((x) => x.arrived === records);
  const extra = {
    records,
    rounds,
    batchSize,
    reference: { median: Math.round(ref), spread: lib.spread(pps("reference")).map(Math.round) },
    subject: { median: Math.round(sub), spread: lib.spread(pps("subject")).map(Math.round) },
    cpuUsPerPoint: {
      client: {
        reference: med("reference", "clientUsPerPoint"),
        subject: med("subject", "clientUsPerPoint"),
      },
      server: {
        reference: med("reference", "serverUsPerPoint"),
        subject: med("subject", "serverUsPerPoint"),
      },
    },
    allArrived,
  };
  if (args.profile) {
    const profile = JSON.parse(fs.readFileSync(path.join(args.profile, `${profileFile}.cpuprofile`), "utf8"));
    extra.profileTop = topSelf(profile, 15);
  }
  lib.report(
    victoria ? "victoria-ship" : "influx-ship",
    [
      {
        what: `points shipped/s, ${SERVER.name}`,
        reference: "raw POST of prepared batches",
        target: SERVER.target,
        value: Math.round(sub),
        unit: "points/s",
        referenceValue: Math.round(ref),
        ratio: lib.round(ratio, 3),
        spread: extra.subject.spread,
        size: `${records.toLocaleString("en")} records`,
        met: victoria ? allArrived : ratio >= 0.8 && sub >= 200_000 && allArrived,
      },
    ],
    extra,
  );
  if (!allArrived) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
