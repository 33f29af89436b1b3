// The traffic monitor behind a plain node:http server on port 0, with real HTTP requests: exact
// byte counts per thing and servient-wide, persistence across a reopened file, period rollover on
// an injected clock, limits and speed caps answered 429 with Retry-After.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const net = require("node:net");
const { spawn } = require("node:child_process");
const { once } = require("node:events");
const Database = require("better-sqlite3");
const { openStore, tempDir } = require("./fixtures/sm-helpers.js");
const { startGatedServer, rawExchange, parseResponse } = require("./fixtures/sm-http.js");
const { TrafficMonitor } = require("../dist/service-manager/traffic-monitor.js");

const A = { title: "thing-a" };
const B = { title: "thing-b" };
const THINGS = { "thing-a": A, "thing-b": B };

const get = (thing, size = 2) => `GET /${thing}/properties/p?size=${size} HTTP/1.1\r\nHost: t\r\n\r\n`;
const post = (thing, body, size = 2) =>
  `POST /${thing}/actions/a?size=${size} HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const chunked = (thing, parts) =>
  `PUT /${thing}/properties/p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n` +
  parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join("") +
  "0\r\n\r\n";
const bytes = (s) => Buffer.byteLength(s);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** A clock the test moves by hand. */
function clock(iso) {
  const c = { t: Date.parse(iso) };
  c.now = () => c.t;
  c.set = (when) => (c.t = Date.parse(when));
  c.advance = (ms) => (c.t += ms);
  return c;
}

/** Waits until the monitor has counted `n` requests in total (responses close on the server side). */
async function counted(monitor, n) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const total = sum(monitor.counters().map((c) => c.requests));
    if (total >= n) {
      await new Promise((r) => setImmediate(r));
      return;
    }
    if (Date.now() > deadline) throw new Error(`only ${total} of ${n} requests counted after 5 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const value = (monitor, chain) => monitor.chain(chain).value;

/** Store, monitor and gated server; stopped by `stop()` or, at the latest, when the test ends. */
async function setup(ctx, { now, dir, ...options } = {}) {
  const opened = openStore(dir);
  const monitor = new TrafficMonitor({ store: opened.store, persistIntervalMs: 0, now, ...options });
  const http = await startGatedServer(monitor.gate, THINGS, monitor.ungated);
  let stopped;
  const stop = () =>
    (stopped ??= http.close().then(() => {
      monitor.close();
      opened.store.close();
    }));
  ctx.after(stop);
  return { ...opened, monitor, ...http, stop };
}

test("counts the exact bytes each thing receives and sends, per thing and servient-wide", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  const requests = [
    get("thing-a", 10),
    post("thing-a", "héllo wörld", 300),
    chunked("thing-a", ["hello", " chunked", " world"]),
    get("thing-b", 1234),
  ];
  const responses = await rawExchange(t.port, requests);
  await counted(t.monitor, 4);
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 200, 200, 200],
  );
  // The handler got every body intact: counting never touches the request stream.
  assert.deepEqual(t.received, ["", "héllo wörld", "hello chunked world", ""]);
  const aIn = sum(requests.slice(0, 3).map(bytes));
  const aOut = sum(responses.slice(0, 3).map((r) => r.bytes));
  assert.equal(value(t.monitor, "thing-a_IN"), aIn);
  assert.equal(value(t.monitor, "thing-a_OUT"), aOut);
  assert.equal(value(t.monitor, "thing-b_IN"), bytes(requests[3]));
  assert.equal(value(t.monitor, "thing-b_OUT"), responses[3].bytes);
  assert.equal(value(t.monitor, "SYSTEM_IN"), sum(requests.map(bytes)));
  assert.equal(value(t.monitor, "SYSTEM_OUT"), sum(responses.map((r) => r.bytes)));
  assert.deepEqual(t.monitor.counters(), [
    { unit: "thing-a", requests: 3, bytesIn: aIn, bytesOut: aOut },
    { unit: "thing-b", requests: 1, bytesIn: bytes(requests[3]), bytesOut: responses[3].bytes },
  ]);
  // Directions and the period are part of the view.
  const view = t.monitor.chain("thing-a_IN");
  assert.equal(view.direction, "in");
  assert.equal(view.periodStart.toISOString(), "2025-06-01T00:00:00.000Z");
  assert.equal(view.periodEnd.toISOString(), "2025-06-02T00:00:00.000Z");
  // Requests that do not go through the gate are not counted.
  await rawExchange(t.port, [get("nothing")]);
  assert.equal(t.monitor.counters().length, 2);
  await t.stop();
});

test("totals are saved at close and periodically, and survive a reopened file within the period", async (ctx) => {
  const c = clock("2025-06-01T10:00:00.000Z");
  const dir = tempDir();
  const first = await setup(ctx, { now: c.now, dir });
  const r1 = await rawExchange(first.port, [post("thing-a", "x".repeat(500), 700)]);
  await counted(first.monitor, 1);
  await first.stop(); // close() saves
  const file = path.join(dir, "servicemanager.db");
  const raw = new Database(file, { readonly: true });
  const row = raw.prepare("SELECT time, value FROM trafficmonitor WHERE chain = 'thing-a_OUT'").get();
  assert.deepEqual(row, { time: "2025-06-01T10:00:00.000Z", value: r1[0].bytes });
  raw.close();

  // Reopened the same day: the monitor counts on from the saved totals.
  c.advance(3_600_000);
  const second = await setup(ctx, { now: c.now, dir });
  assert.equal(value(second.monitor, "thing-a_OUT"), r1[0].bytes);
  const r2 = await rawExchange(second.port, [get("thing-a", 50)]);
  await counted(second.monitor, 1);
  assert.equal(value(second.monitor, "thing-a_OUT"), r1[0].bytes + r2[0].bytes);
  // counters() are since process start (this monitor): only the new request.
  assert.deepEqual(second.monitor.counters(), [
    { unit: "thing-a", requests: 1, bytesIn: bytes(get("thing-a", 50)), bytesOut: r2[0].bytes },
  ]);
  await second.stop();

  // Periodic saving: with no close, the file holds the totals after one interval.
  const third = await setup(ctx, { now: c.now, dir, persistIntervalMs: 20 });
  await rawExchange(third.port, [get("thing-a", 5)]);
  await counted(third.monitor, 1);
  const expected = value(third.monitor, "thing-a_OUT");
  const reader = new Database(file, { readonly: true });
  const deadline = Date.now() + 5000;
  let saved;
  while (Date.now() < deadline) {
    saved = reader.prepare("SELECT value FROM trafficmonitor WHERE chain = 'thing-a_OUT'").get().value;
    if (saved === expected) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(saved, expected);
  reader.close();
  await third.stop();
});

test("after a SIGKILL the totals saved one interval earlier are all there", async (ctx) => {
  const dir = tempDir();
  const child = spawn(process.execPath, [path.join(__dirname, "fixtures", "sm-traffic-child.js"), dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  ctx.after(() => child.kill("SIGKILL"));
  let out = "";
  const port = await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /PORT=(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`child exited ${code}`)));
  });
  const requests = [get("thing-a", 100), post("thing-a", "p".repeat(1000), 10), get("thing-a", 5000)];
  const responses = await rawExchange(port, requests);
  const expected = { in: sum(requests.map(bytes)), out: sum(responses.map((r) => r.bytes)) };
  // Within one save interval (50 ms) the file holds every byte; then the process dies without close.
  const file = path.join(dir, "servicemanager.db");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const db = new Database(file, { readonly: true });
    const rows = db.prepare("SELECT chain, value FROM trafficmonitor WHERE chain LIKE 'thing-a_%'").all();
    db.close();
    const saved = Object.fromEntries(rows.map((r) => [r.chain, r.value]));
    if (saved["thing-a_IN"] === expected.in && saved["thing-a_OUT"] === expected.out) break;
    if (Date.now() > deadline)
      assert.fail(`saved ${JSON.stringify(saved)}, expected ${JSON.stringify(expected)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  await once(child, "exit");
  const { store } = openStore(dir);
  // Year periods, so a midnight during the test cannot restart the totals.
  const monitor = new TrafficMonitor({ store, persistIntervalMs: 0, period: "year" });
  assert.equal(value(monitor, "thing-a_IN"), expected.in);
  assert.equal(value(monitor, "thing-a_OUT"), expected.out);
  assert.equal(value(monitor, "SYSTEM_OUT"), expected.out);
  monitor.close();
  store.close();
});

test("the period rolls over on the injected clock: totals restart at 0, saved and after a reopen", async (ctx) => {
  const c = clock("2025-06-01T23:59:58.000Z");
  const dir = tempDir();
  const t = await setup(ctx, { now: c.now, dir });
  await rawExchange(t.port, [get("thing-a", 100)]);
  await counted(t.monitor, 1);
  const before = value(t.monitor, "thing-a_OUT");
  assert.ok(before > 100);
  c.set("2025-06-02T00:00:01.000Z");
  assert.equal(value(t.monitor, "thing-a_OUT"), 0);
  assert.equal(value(t.monitor, "SYSTEM_OUT"), 0);
  t.monitor.persist();
  assert.deepEqual(t.store.getTrafficMonitorData("thing-a_OUT"), {
    chain: "thing-a_OUT",
    time: new Date("2025-06-02T00:00:01.000Z"),
    value: 0,
  });
  const [r] = await rawExchange(t.port, [get("thing-a", 10)]);
  await counted(t.monitor, 2);
  assert.equal(value(t.monitor, "thing-a_OUT"), r.bytes);
  await t.stop();

  // A file saved yesterday: its totals belong to another period and start over.
  c.set("2025-06-03T08:00:00.000Z");
  const again = await setup(ctx, { now: c.now, dir });
  assert.equal(value(again.monitor, "thing-a_OUT"), 0);
  assert.equal(value(again.monitor, "thing-a_IN"), 0);
  await again.stop();

  // Other periods: an hour.
  const h = clock("2025-06-01T10:59:59.999Z");
  const hourly = await setup(ctx, { now: h.now, period: "hour" });
  await rawExchange(hourly.port, [get("thing-b")]);
  await counted(hourly.monitor, 1);
  assert.equal(hourly.monitor.chain("thing-b_IN").periodEnd.toISOString(), "2025-06-01T11:00:00.000Z");
  h.advance(1);
  assert.equal(value(hourly.monitor, "thing-b_IN"), 0);
  await hourly.stop();
});

test("a period limit answers 429 with Retry-After until the period rolls over; limits change at run time", async (ctx) => {
  const c = clock("2025-06-01T23:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  // Distinct limits so a swapped direction would show.
  t.store.addService({ id: "a", unit: "thing-a", dlLimit: 100, ulLimit: 1_000_000 });
  t.store.addService({ id: "b", unit: "thing-b", dlLimit: 1_000_000, ulLimit: 200 });

  // thing-a receives 150 bytes (past dlLimit 100): the next request is refused, the rest of the
  // servient is not.
  const body = "y".repeat(150);
  const [ok] = await rawExchange(t.port, [post("thing-a", body)]);
  assert.equal(ok.status, 200);
  await counted(t.monitor, 1);
  const [refused] = await rawExchange(t.port, [get("thing-a")]);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers["retry-after"], "3600"); // to midnight UTC
  assert.match(
    refused.body,
    /'thing-a' received \d+ bytes this day, past its download limit \(dlLimit\) of 100/,
  );
  assert.equal(t.received.length, 1, "the refused request never reached the handler");
  const [other] = await rawExchange(t.port, [get("thing-b", 5)]);
  assert.equal(other.status, 200);
  await counted(t.monitor, 2);

  // thing-b sends past its ulLimit of 200 (uplink: what the thing sends).
  await rawExchange(t.port, [get("thing-b", 300)]);
  await counted(t.monitor, 3);
  c.advance(1_800_500);
  const [refusedB] = await rawExchange(t.port, [post("thing-b", "z")]);
  assert.equal(refusedB.status, 429);
  assert.equal(refusedB.headers["retry-after"], "1800");
  assert.equal(refusedB.headers.connection, "close"); // the unread body is not drained into the next request
  assert.match(refusedB.body, /past its upload limit \(ulLimit\) of 200/);

  // Raising the limit at run time lets thing-a through at once.
  t.store.setServiceLimits("a", { dlLimit: 10_000 });
  assert.equal((await rawExchange(t.port, [get("thing-a")]))[0].status, 200);
  t.store.setServiceLimits("a", { dlLimit: 1 });
  await counted(t.monitor, 4);
  assert.equal((await rawExchange(t.port, [get("thing-a")]))[0].status, 429);

  // The period rolls over: both may talk again.
  c.set("2025-06-02T00:00:00.000Z");
  assert.equal((await rawExchange(t.port, [get("thing-a")]))[0].status, 200);
  assert.equal((await rawExchange(t.port, [get("thing-b")]))[0].status, 200);
  assert.deepEqual(t.monitor.refusals(), [
    { unit: "thing-a", requests: 2 },
    { unit: "thing-b", requests: 1 },
  ]);
  await t.stop();
});

test("a speed cap answers 429 with Retry-After while the token bucket is in debt", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  t.store.addService({ id: "a", unit: "thing-a", ulSpeed: 1000, dlSpeed: 50_000 });
  t.store.addService({ id: "b", unit: "thing-b", ulSpeed: 50_000, dlSpeed: 400 });

  // thing-a sends ~3,100 bytes with 1,000 B/s and a 1,000-byte bucket: ~2,100 bytes of debt.
  const [big] = await rawExchange(t.port, [get("thing-a", 3000)]);
  await counted(t.monitor, 1);
  const debt = big.bytes - 1000;
  const [refused] = await rawExchange(t.port, [get("thing-a")]);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers["retry-after"], String(Math.ceil(debt / 1000)));
  assert.match(refused.body, /over its speed cap/);
  // Half a second repays 500 bytes; the answer says how long is left.
  c.advance(500);
  const [still] = await rawExchange(t.port, [get("thing-a")]);
  assert.equal(still.headers["retry-after"], String(Math.ceil((debt - 500) / 1000)));
  c.advance(Math.ceil((debt - 500) / 1000) * 1000);
  assert.equal((await rawExchange(t.port, [get("thing-a")]))[0].status, 200);

  // thing-b receives 1,000 bytes at 400 B/s (downlink: what the thing receives).
  const upload = post("thing-b", "u".repeat(1000));
  await rawExchange(t.port, [upload]);
  await counted(t.monitor, 3);
  const [slow] = await rawExchange(t.port, [get("thing-b")]);
  assert.equal(slow.status, 429);
  assert.equal(slow.headers["retry-after"], String(Math.ceil((bytes(upload) - 400) / 400)));
  // Lifting the cap at run time lets it through at once.
  t.store.setServiceLimits("b", { dlSpeed: 0 });
  assert.equal((await rawExchange(t.port, [get("thing-b")]))[0].status, 200);
  await t.stop();
});

test("setChainValue sets a total the monitor counts on from, saved at once; chain names are checked", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  t.monitor.setChainValue("thing-a_IN", 5000);
  assert.equal(t.store.getTrafficMonitorData("thing-a_IN").value, 5000);
  await rawExchange(t.port, [get("thing-a")]);
  await counted(t.monitor, 1);
  assert.equal(value(t.monitor, "thing-a_IN"), 5000 + bytes(get("thing-a")));
  assert.throws(() => t.monitor.setChainValue("thing-a", 1), /named <unit>_IN or <unit>_OUT/);
  assert.throws(() => t.monitor.setChainValue("thing-a_IN", -1), /traffic value/);
  assert.throws(() => new TrafficMonitor({ store: t.store, period: "week" }), /period must be one of/);
  await t.stop();
});

test("a saved total that does not decode starts over at 0; the other chains load and the monitor starts", () => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const { store, file } = openStore();
  const t = new Date(c.t - 1000);
  store.saveTrafficMonitorData([
    { chain: "thing-a_IN", time: t, value: 11 },
    { chain: "thing-a_OUT", time: t, value: 22 },
  ]);
  const db = new Database(file);
  db.prepare("UPDATE trafficmonitor SET time = 'last tuesday' WHERE chain = 'thing-a_IN'").run();
  db.close();
  const monitor = new TrafficMonitor({ store, persistIntervalMs: 0, now: c.now });
  assert.equal(value(monitor, "thing-a_IN"), 0);
  assert.equal(value(monitor, "thing-a_OUT"), 22);
  monitor.setChainValue("thing-a_IN", 5);
  assert.equal(store.getTrafficMonitorData("thing-a_IN").value, 5);
  monitor.close();
  store.close();
});

test("one keep-alive socket: a request for no thing is charged to nobody; a response the client cut off counts at close", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  // thing-a, then an unknown thing (404, never gated), then thing-b, all on one socket.
  const requests = [get("thing-a", 7), get("nothing"), get("thing-b", 9)];
  const responses = await rawExchange(t.port, requests);
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 404, 200],
  );
  await counted(t.monitor, 2);
  // The 404 was told to the monitor as ungated (as the HTTP adapter does): nobody pays for it.
  const aIn = bytes(requests[0]);
  const aOut = responses[0].bytes;
  assert.equal(value(t.monitor, "thing-a_IN"), aIn);
  assert.equal(value(t.monitor, "thing-a_OUT"), aOut);
  assert.equal(value(t.monitor, "thing-b_IN"), bytes(requests[2]));
  assert.equal(value(t.monitor, "thing-b_OUT"), responses[2].bytes);

  // A body of 1,000 declared bytes of which 400 arrive: the handler never answers, the client
  // goes away. What the thing received is counted when the socket closes.
  const head =
    "POST /thing-a/actions/a HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n";
  const before = value(t.monitor, "thing-a_IN");
  const socket = net.connect(t.port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(head + "b".repeat(400));
  await counted(t.monitor, 3);
  socket.destroy();
  const deadline = Date.now() + 5000;
  while (value(t.monitor, "thing-a_IN") - before < bytes(head) + 400) {
    if (Date.now() > deadline) throw new Error("the cut-off request was never counted");
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(value(t.monitor, "thing-a_IN") - before, bytes(head) + 400);
  // Sent: nothing, or the 400 node itself writes into a socket whose request was cut mid-body.
  const nodes400 = bytes("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
  const sentAfter = value(t.monitor, "thing-a_OUT") - aOut;
  assert.ok(sentAfter === 0 || sentAfter === nodes400, `sent ${sentAfter} bytes after the cut`);
  assert.equal(value(t.monitor, "SYSTEM_IN"), aIn + bytes(requests[2]) + bytes(head) + 400);
  await t.stop();
});

test("two monitors in one process each count only the requests of their own gate", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const one = await setup(ctx, { now: c.now });
  const two = await setup(ctx, { now: c.now });
  const toOne = [get("thing-a", 3), get("thing-b", 4)];
  const toTwo = [post("thing-a", "zwei", 5)];
  const [r1, r2] = await Promise.all([rawExchange(one.port, toOne), rawExchange(two.port, toTwo)]);
  await counted(one.monitor, 2);
  await counted(two.monitor, 1);
  assert.equal(value(one.monitor, "SYSTEM_IN"), sum(toOne.map(bytes)));
  assert.equal(value(one.monitor, "SYSTEM_OUT"), sum(r1.map((r) => r.bytes)));
  assert.equal(value(two.monitor, "SYSTEM_IN"), bytes(toTwo[0]));
  assert.equal(value(two.monitor, "thing-a_OUT"), r2[0].bytes);
  // A closed monitor stops listening: the other keeps counting exactly.
  await one.stop();
  const more = await rawExchange(two.port, [get("thing-b", 6)]);
  await counted(two.monitor, 2);
  assert.equal(value(two.monitor, "thing-b_OUT"), more[0].bytes);
  await two.stop();
});

test("pipelined requests on one socket: every byte is counted once, on one of their things", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  const requests = [post("thing-a", "eins", 11), get("thing-b", 22), get("thing-a", 33)];
  const socket = net.connect(t.port, "127.0.0.1");
  await once(socket, "connect");
  let buf = Buffer.alloc(0);
  const responses = [];
  const all = new Promise((resolve) =>
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      for (let r; (r = parseResponse(buf)) !== undefined;) {
        responses.push(r);
        buf = buf.subarray(r.bytes);
      }
      if (responses.length === requests.length) resolve();
    }),
  );
  socket.write(requests.join("")); // all three in one write: node parses them before answering
  await all;
  socket.end();
  await counted(t.monitor, 3);
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 200, 200],
  );
  // Requests arrive together and answers overlap them, so only the sums are exact (see the docs).
  const sent = sum(responses.map((r) => r.bytes));
  assert.equal(value(t.monitor, "SYSTEM_IN"), sum(requests.map(bytes)));
  assert.equal(value(t.monitor, "SYSTEM_OUT"), sent);
  assert.equal(value(t.monitor, "thing-a_IN") + value(t.monitor, "thing-b_IN"), sum(requests.map(bytes)));
  assert.equal(value(t.monitor, "thing-a_OUT") + value(t.monitor, "thing-b_OUT"), sent);
  assert.equal(
    t.monitor.counters().reduce((n, c) => n + c.requests, 0),
    3,
  );
  await t.stop();
});

test("a limit sees another open connection's bytes within one clock tick, without anything read", async (ctx) => {
  const t = await setup(ctx); // the default coarse clock
  t.store.addService({ id: "a", unit: "thing-a", ulSpeed: 1000 });
  // Connection 1 fetches ~3,100 bytes (1,000 B/s, a 1,000-byte bucket) and stays open: its bytes
  // are charged only when the monitor settles its open sockets.
  const socket = net.connect(t.port, "127.0.0.1");
  ctx.after(() => socket.destroy());
  await once(socket, "connect");
  let buf = Buffer.alloc(0);
  const answered = new Promise((resolve) =>
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parseResponse(buf);
      if (r !== undefined) resolve(r);
    }),
  );
  socket.write(get("thing-a", 3000));
  assert.equal((await answered).status, 200);
  await new Promise((r) => setTimeout(r, 250)); // more than one 100 ms tick
  // Connection 2: the limit check settles every open socket once per tick and sees the debt.
  const [refused] = await rawExchange(t.port, [get("thing-a")]);
  assert.equal(refused.status, 429);
  assert.match(refused.body, /over its speed cap/);
  await t.stop();
});

test("on one connection a refused request is not counted, though the one before it was", async (ctx) => {
  const c = clock("2025-06-01T12:00:00.000Z");
  const t = await setup(ctx, { now: c.now });
  t.store.addService({ id: "a", unit: "thing-a", dlLimit: 100 });
  // One socket: 150 body bytes pass the limit, the next two requests to the thing are refused.
  const requests = [post("thing-a", "y".repeat(150)), get("thing-a"), get("thing-a", 5)];
  const responses = await rawExchange(t.port, requests);
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 429, 429],
  );
  assert.equal(value(t.monitor, "thing-a_IN"), bytes(requests[0]));
  assert.equal(value(t.monitor, "thing-a_OUT"), responses[0].bytes);
  assert.equal(value(t.monitor, "SYSTEM_IN"), bytes(requests[0]));
  assert.deepEqual(t.monitor.counters(), [
    { unit: "thing-a", requests: 1, bytesIn: bytes(requests[0]), bytesOut: responses[0].bytes },
  ]);
  assert.deepEqual(t.monitor.refusals(), [{ unit: "thing-a", requests: 2 }]);
  await t.stop();
});
