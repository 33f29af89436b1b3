// Thing scripts as services (issue 10): one run of a script in its own node:vm context, on a real
// node-wot servient with a real HTTP server. Stock scripts run unchanged and stop cleanly; errors
// are the failing service's alone; require is limited to what a service may use.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const v8 = require("node:v8");
const vm = require("node:vm");
const {
  FIXTURES,
  startServient,
  request,
  waitFor,
  sleep,
  serviceErrorsAreNotTestFailures,
} = require("./fixtures/sm-run/harness");
const { ServiceSandbox, SandboxError } = require("../dist/service-manager/sandbox.js");
const { readServicePackage } = require("../dist/service-manager/package.js");
const { prepareStorageFolder } = require("../dist/service-manager/storage.js");

const fixture = (name) => path.join(FIXTURES, name);
const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

function sandbox(wot, script, extra = {}) {
  return new ServiceSandbox({ id: path.basename(script, ".js"), scriptPath: fixture(script), wot, ...extra });
}

test("a stock node-wot script runs unchanged; stop answers 404, stops its interval and leaves no timer", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  const timersBefore = timeouts();
  const sb = sandbox(s.wot, "stock-counter.js");
  await sb.start();
  assert.equal(sb.state, "running");
  assert.equal(sb.things.size, 1);
  assert.equal(sb.activeTimers(), 1, "the script's one interval");

  const td = await request(`${s.base}/sm-counter`);
  assert.equal(td.status, 200);
  assert.equal(td.body.title, "SM Counter");
  await waitFor(async () => (await request(`${s.base}/sm-counter/properties/count`)).body >= 3, "count >= 3");
  const reset = await request(`${s.base}/sm-counter/actions/reset`, { method: "POST" });
  assert.equal(reset.status, 200);

  // Count the interval's calls on the real thing (the script calls it through its wrapper).
  const [thing] = sb.things;
  let emitted = 0;
  const emit = thing.emitEvent;
  thing.emitEvent = function (...args) {
    emitted++;
    return emit.apply(this, args);
  };
  await waitFor(() => emitted >= 2, "the interval to fire through the wrapper");

  await sb.stop();
  assert.equal(sb.state, "stopped");
  const emittedAtStop = emitted;
  await sleep(120); // six periods of the script's 20 ms interval
  assert.equal(emitted, emittedAtStop, "the interval fired after stop");
  assert.equal(sb.things.size, 0);
  assert.equal(sb.activeTimers(), 0);
  assert.equal(timeouts(), timersBefore, "a timer outlived the service");
  assert.equal((await request(`${s.base}/sm-counter`)).status, 404);
  assert.equal((await request(`${s.base}/sm-counter/properties/count`)).status, 404);
  assert.equal(s.servient.getThing(thing.id), undefined, "the servient still holds the thing");
  await sb.stop(); // idempotent
});

test("a service starts again after stop (a new run), under the same URL", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  for (let run = 0; run < 3; run++) {
    const sb = sandbox(s.wot, "stock-counter.js");
    await sb.start();
    assert.equal((await request(`${s.base}/sm-counter/properties/count`)).status, 200, `run ${run}`);
    await sb.stop();
    assert.equal((await request(`${s.base}/sm-counter/properties/count`)).status, 404, `run ${run}`);
  }
  const once = sandbox(s.wot, "stock-counter.js");
  await once.start();
  await assert.rejects(once.start(), { code: "SM_BUSY" });
  await once.stop();
});

test("a synchronous throw fails the start, names file and line, and leaves nothing behind", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t);
  const timersBefore = timeouts();
  const sb = sandbox(s.wot, "throws-sync.js");
  await assert.rejects(sb.start(), (err) => {
    assert.ok(err instanceof SandboxError);
    assert.equal(err.code, "SM_SCRIPT");
    assert.equal(err.serviceId, "throws-sync");
    assert.match(err.message, /boom at the top level/);
    assert.match(err.message, /throws-sync\.js:6/);
    return true;
  });
  assert.equal(sb.state, "failed");
  assert.deepEqual(Object.keys(s.servient.getThings()), [], "the half-made thing survived");
  assert.equal(sb.activeTimers(), 0);
  assert.equal(timeouts(), timersBefore);
  await sb.stop(); // nothing to do, no throw
});

test("a rejection nobody handles, or an exported function that rejects, fails the start", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t);
  const inThen = sandbox(s.wot, "rejects-in-then.js");
  await assert.rejects(inThen.start(), {
    code: "SM_SCRIPT",
    message: /rejection nobody handled.*boom in then/,
  });
  const exported = sandbox(s.wot, "exports-rejecting.js");
  await assert.rejects(exported.start(), {
    code: "SM_SCRIPT",
    message: /exported function.*boom in the exported function/,
  });
  assert.deepEqual(Object.keys(s.servient.getThings()), [], "a failed start left a thing");
  assert.equal((await request(`${s.base}/exporter`)).status, 404);
});

test("errors while running go to onError; the other service in the servient keeps answering", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t);
  const good = sandbox(s.wot, "stock-counter.js");
  await good.start();
  const errors = [];
  const bad = sandbox(s.wot, "fails-later.js", { onError: (e) => errors.push(e) });
  await bad.start();
  assert.equal(bad.state, "running");

  const leak = await request(`${s.base}/fails-later/actions/leak`, { method: "POST" });
  assert.equal(leak.status, 200);
  await waitFor(() => errors.length >= 3, "three errors of fails-later");
  const messages = errors.map((e) => e.message).join("\n");
  assert.match(messages, /setInterval callback threw: Error: boom in an interval \(at .*fails-later\.js:/);
  assert.match(messages, /rejection nobody handled: Error: boom in an async timer/);
  assert.match(messages, /rejection nobody handled: Error: boom left behind by a handler/);
  assert.ok(errors.every((e) => e instanceof SandboxError && e.serviceId === "fails-later"));
  assert.equal(bad.errors, errors.length);

  // The process, the failing service's thing and the other service all carry on.
  assert.equal((await request(`${s.base}/fails-later/properties/ticks`)).status, 200);
  const c1 = (await request(`${s.base}/sm-counter/properties/count`)).body;
  await waitFor(
    async () => (await request(`${s.base}/sm-counter/properties/count`)).body > c1,
    "the counter to go on",
  );
  assert.equal(good.errors, 0);
  await bad.stop();
  await good.stop();
});

test("a top level that never returns fails the start within syncTimeoutMs; process.exit is refused", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t);
  const started = Date.now();
  await assert.rejects(sandbox(s.wot, "loops-forever.js", { syncTimeoutMs: 200 }).start(), {
    code: "SM_SCRIPT",
    message: /timed out after 200ms/,
  });
  assert.ok(Date.now() - started < 2000);
  await assert.rejects(sandbox(s.wot, "exits.js").start(), {
    code: "SM_EXIT",
    message: /process\.exit\(3\)/,
  });
});

test("timers/promises waits are aborted and process listeners removed at stop", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t);
  const timersBefore = timeouts();
  const signalListeners = process.listenerCount("SIGUSR2");
  const sb = sandbox(s.wot, "sleeps.js");
  await sb.start();
  assert.equal(process.listenerCount("SIGUSR2"), signalListeners + 1);
  assert.ok(timeouts() >= timersBefore + 2, "the sleep and the interval are pending");
  await sb.stop();
  await sleep(20);
  assert.equal(process.listenerCount("SIGUSR2"), signalListeners);
  assert.equal(
    timeouts(),
    timersBefore,
    "the timers/promises wait or the timers interval outlived the service",
  );
  assert.equal(sb.errors, 0, "the aborted wait was reported as the service's error");
});

/** A copy of the requirer service, a file outside it and a symlink that leads there. */
function servicesDir(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sm-run-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const services = path.join(root, "services");
  fs.cpSync(fixture("services"), services, { recursive: true });
  fs.writeFileSync(path.join(root, "outside.js"), "module.exports = 'outside';\n");
  fs.symlinkSync(path.join(root, "outside.js"), path.join(services, "requirer", "outside-link.js"));
  return { root, services };
}

test("require: built-ins, project dependencies, own files and layer modules load; anything else is refused", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  const { root, services } = servicesDir(t);
  const pkg = readServicePackage(services, "requirer");
  const storageDir = await prepareStorageFolder(path.join(root, "storage"), pkg.id, ["alice"]);
  const sb = new ServiceSandbox({
    id: pkg.id,
    version: pkg.version,
    provider: pkg.provider,
    scriptPath: pkg.main,
    serviceDir: pkg.dir,
    layers: [fixture("layers/greeting")],
    storageDir,
    env: { REQUIRER_ENV: "from the manager" },
    wot: s.wot,
  });
  await sb.start();
  const { status, body: r } = await request(`${s.base}/requirer/properties/report`);
  assert.equal(status, 200);
  assert.deepEqual(r.builtin, { ok: true, value: "a/b" });
  assert.deepEqual(r.bareBuiltin, { ok: true, value: "function" });
  assert.deepEqual(r.dependency, { ok: true, value: "function" });
  assert.deepEqual(r.project, { ok: true, value: "function" });
  assert.deepEqual(r.ownFile, { ok: true, value: 42 });
  assert.deepEqual(r.json, { ok: true, value: "requirer data" });
  assert.deepEqual(r.layer, { ok: true, value: "hello, service, from a layer" });
  assert.deepEqual(r.layerPackage, { ok: true, value: 100 });
  assert.deepEqual(r.storage, { ok: true, value: true });
  assert.deepEqual(r.env, { ok: true, value: "from the manager" });
  assert.deepEqual(r.globalIsGlobalThis, { ok: true, value: true });
  assert.deepEqual(r.main, { ok: true, value: true });
  for (const name of ["absolute", "escape", "devDependency", "missing", "symlinkOut"]) {
    assert.equal(r[name].ok, false, `${name} was allowed`);
    assert.equal(r[name].code, "SM_REQUIRE", `${name}: ${r[name].message}`);
    assert.match(r[name].message, /a service can require Node built-ins, the project's dependencies/);
  }
  assert.match(r.absolute.message, /resolves to \/etc\/passwd, outside /);
  assert.match(r.escape.message, /resolves to .*outside\.js, outside /);
  assert.match(r.symlinkOut.message, /through a symlink/);
  assert.equal(r.exit.code, "SM_EXIT");
  assert.equal(fs.readFileSync(path.join(storageDir, "state.txt"), "utf8"), "hello");
  await sb.stop();
});

test("a single-script service may not require files next to it", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  await assert.rejects(sandbox(s.wot, "single-requires-file.js").start(), {
    code: "SM_REQUIRE",
    message: /single-script service requires no file/,
  });
});

test("under the full plugin (attach), a sandboxed script is recorded and reaches WoT.sqlite_db", async (t) => {
  const { startTestVo } = require("./helpers/vo");
  const vo = await startTestVo();
  t.after(() => vo.stop());
  const sb = new ServiceSandbox({ id: "counter", scriptPath: fixture("stock-counter.js"), wot: vo.wot });
  await sb.start();
  const [thing] = sb.things;
  const url = `${vo.baseUrl}/sm-counter`;
  assert.equal((await request(`${url}/actions/reset`, { method: "POST" })).status, 200);
  vo.servient.vo.history.flush();
  const rows = vo.servient.vo.history.query({ thingId: thing.id, kind: "action", name: "reset" });
  assert.equal(rows.length, 1);
  await sb.stop();
  assert.equal((await request(url)).status, 404);
});

test("a stopped run is garbage-collected", async (t) => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc");
  const s = await startServient();
  t.after(() => s.stop());
  // In a function of its own, so that no frame of this test keeps the last run reachable.
  const run = async () => {
    const sb = sandbox(s.wot, "stock-counter.js");
    await sb.start();
    await request(`${s.base}/sm-counter/properties/count`);
    await sb.stop();
    return new WeakRef(sb);
  };
  const refs = [await run(), await run(), await run()];
  await waitFor(
    async () => {
      gc();
      await sleep(10);
      return refs.every((r) => r.deref() === undefined);
    },
    "the stopped sandboxes to be collected",
    5000,
  );
});

test("a thing its script destroyed is not destroyed again: another service may hold its id by then", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  const events = [];
  const onThing = (thing, event) => events.push(`${thing.title} ${event}`);
  const a = sandbox(s.wot, "shared-id.js", { env: { SHARED_TITLE: "Shared A" }, onThing });
  await a.start();
  assert.equal((await request(`${s.base}/shared-a`)).status, 200);
  assert.equal((await request(`${s.base}/shared-a/actions/retire`, { method: "POST" })).status, 204);
  await waitFor(() => a.things.size === 0, "service A's thing to be destroyed by its script");
  assert.equal((await request(`${s.base}/shared-a`)).status, 404);

  const b = sandbox(s.wot, "shared-id.js", { env: { SHARED_TITLE: "Shared B" }, onThing });
  await b.start();
  await a.stop();
  assert.equal((await request(`${s.base}/shared-b`)).status, 200, "stopping A destroyed B's thing");
  assert.equal(s.servient.getThing("urn:sm-run:shared").title, "Shared B");
  await b.stop();
  assert.equal((await request(`${s.base}/shared-b`)).status, 404);
  assert.deepEqual(events, [
    "Shared A produced",
    "Shared A destroyed",
    "Shared B produced",
    "Shared B destroyed",
  ]);
});

test("subscriptions of things a script consumed end at stop", async (t) => {
  let polls = 0;
  const s = await startServient({
    onRequest: (req) => {
      if (req.method === "GET" && req.url.startsWith("/sm-counter/events/tick")) polls++;
    },
  });
  t.after(() => s.stop());
  const counter = sandbox(s.wot, "stock-counter.js");
  await counter.start();
  const consumer = sandbox(s.wot, "consumer.js", { env: { TD_URL: `${s.base}/sm-counter` } });
  await consumer.start();
  assert.equal(consumer.things.size, 1, "start() waited for the chain of WoT calls to produce its thing");
  await waitFor(
    async () => (await request(`${s.base}/consumer/properties/received`)).body >= 3,
    "the consumer to receive three events",
  );
  await consumer.stop();
  await sleep(50);
  const pollsAtStop = polls;
  await sleep(200); // ten events of the counter
  assert.equal(polls, pollsAtStop, "the stopped consumer's long-poll went on");
  assert.equal(consumer.errors, 0);
  await counter.stop();
});

test("in a process without other listeners, service errors never end it; errors of no service still do", () => {
  const { spawnSync } = require("node:child_process");
  const child = (arg) =>
    spawnSync(process.execPath, [fixture("guard-child.js"), ...(arg ? [arg] : [])], {
      encoding: "utf8",
      timeout: 20_000,
    });
  const ok = child();
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout.trim().split("\n").pop()), { alive: true, errors: 3, status: 200 });

  const crash = child("then-host-error");
  assert.match(crash.stdout, /"alive":true/);
  assert.notEqual(crash.status, 0, "an unhandled rejection of the host was swallowed");
  assert.match(crash.stderr, /a host error, no service's/);
});

test("hostile errors (a string, null, an error whose message throws) are reported; onError runs as the host's code", async (t) => {
  const { currentServiceId } = require("../dist/service-manager/sandbox.js");
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t);
  const seen = [];
  const contexts = new Set();
  const sb = sandbox(s.wot, "hostile-errors.js", {
    onError: (e) => {
      seen.push(e.message);
      // What onError leaves behind must not be blamed on the service (it would report itself forever).
      contexts.add(currentServiceId());
      if (seen.length === 1) throw new Error("onError threw");
    },
  });
  await sb.start();
  await waitFor(() => seen.length >= 4, "four reported errors");
  await sleep(50);
  assert.equal(seen.length, 4, seen.join("\n"));
  assert.match(seen[0], /a plain string/);
  assert.match(seen[1], /threw: null/);
  // Under node:test something reads `message` as the promise is rejected; then the getter's own
  // error is the one reported (run alone, the sandbox reports "a value that cannot be described").
  assert.match(seen[2], /a value that cannot be described|message getter/);
  assert.match(seen[3], /rejection nobody handled: undefined/);
  assert.deepEqual([...contexts], [undefined]);
  assert.equal(sb.state, "running");
  await sb.stop();
});

test("start() waits for the script's own chain of WoT calls, not for those its timers keep making", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  serviceErrorsAreNotTestFailures(t); // stop aborts the handler's 50 ms waits: rejections of a stopped run
  const sb = sandbox(s.wot, "busy-interval.js", { settleTimeoutMs: 5000 });
  const t0 = Date.now();
  await sb.start();
  assert.ok(Date.now() - t0 < 1000, `start took ${Date.now() - t0} ms`);
  assert.equal((await request(`${s.base}/busy`)).status, 200, "start resolved before the thing was exposed");
  await sb.stop();
});

test("service.onStop callbacks run at stop, may still wait on timers, and one that fails does not stop the stop", async (t) => {
  const s = await startServient();
  t.after(() => s.stop());
  const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), "sm-onstop-"));
  t.after(() => fs.rmSync(storageDir, { recursive: true, force: true }));
  const sb = sandbox(s.wot, "on-stop.js", { storageDir });
  await sb.start();
  assert.equal((await request(`${s.base}/stopper`)).status, 200);
  await sb.stop();
  assert.equal(fs.readFileSync(path.join(storageDir, "bye.txt"), "utf8"), "flushed at stop");
  assert.equal((await request(`${s.base}/stopper`)).status, 404);
  assert.equal(sb.activeTimers(), 0);
});
