// Stopping is never silent: the voHealth property of every TD says whether recording commits or
// fails and how shipping stands, and voHealthChanged fires when either stops and when it resumes.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const Database = require("better-sqlite3");
const { startTestVo, exposeThing, waitFor } = require("./helpers/vo.js");
const { startInfluxd, startInfluxVo } = require("./helpers/servers.js");

const TD = { title: "Meter", properties: { level: { type: "number" } } };
const setup = (t) => {
  let level = 0;
  t.setPropertyReadHandler("level", async () => level);
  t.setPropertyWriteHandler("level", async (v) => {
    level = await v.value();
  });
};
const put = (base, v) =>
  fetch(`${base}/meter/properties/level`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(v),
  });
const health = async (base) => (await fetch(`${base}/meter/properties/voHealth`)).json();

/** Subscribes to voHealthChanged (node-wot's HTTP events are long-polls) and collects what arrives. */
function listen(base) {
  const seen = [];
  let stopped = false;
  const controller = new AbortController();
  (async () => {
    while (!stopped) {
      try {
        const res = await fetch(`${base}/meter/events/voHealthChanged`, { signal: controller.signal });
        if (res.status === 200) seen.push(await res.json());
        else await res.arrayBuffer();
      } catch {
        if (!stopped) await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  return {
    seen,
    stop: () => {
      stopped = true;
      controller.abort();
    },
  };
}

test("voHealth: recording that fails is reported, with an event, and recovers by itself", async () => {
  const vo = await startTestVo();
  const events = listen(vo.baseUrl);
  try {
    await exposeThing(vo.wot, TD, setup);
    const td = await (await fetch(`${vo.baseUrl}/meter`)).json();
    assert.ok(td.properties.voHealth, "every TD has voHealth");
    assert.ok(td.events.voHealthChanged, "and the voHealthChanged event");
    assert.equal((await put(vo.baseUrl, 1)).status, 204);
    let h = await health(vo.baseUrl);
    assert.equal(h.ok, true);
    assert.equal(h.recorder.state, "committing");
    assert.equal(h.shipping.state, "off");
    assert.equal(h.store.movedAside, null);

    // A real failure of the file: every insert into the history aborts (as a full disk would).
    const other = new Database(vo.file);
    other.exec(
      "CREATE TRIGGER fail_all BEFORE INSERT ON wotvo_history BEGIN SELECT RAISE(ABORT, 'simulated I/O failure'); END",
    );
    await new Promise((r) => setTimeout(r, 100)); // let the long-poll subscribe
    const refused = await put(vo.baseUrl, 2);
    assert.equal(refused.status, 500, "a write that could not be recorded is not acknowledged");
    h = await health(vo.baseUrl);
    assert.equal(h.ok, false);
    assert.equal(h.recorder.state, "failing");
    assert.match(h.recorder.lastError, /simulated I\/O failure/);
    await waitFor(() => events.seen.some((e) => e.component === "recording" && e.state === "stopped"), {
      what: "a voHealthChanged event saying recording stopped",
    });

    other.exec("DROP TRIGGER fail_all");
    other.close();
    assert.equal((await put(vo.baseUrl, 3)).status, 204);
    h = await health(vo.baseUrl);
    assert.equal(h.recorder.state, "committing");
    assert.equal(h.ok, true);
    await waitFor(() => events.seen.some((e) => e.component === "recording" && e.state === "resumed"), {
      what: "a voHealthChanged event saying recording resumed",
    });
    const stopped = events.seen.find((e) => e.state === "stopped");
    assert.match(stopped.error, /simulated I\/O failure/);
  } finally {
    events.stop();
    await vo.stop();
  }
});

test("voHealth: shipping that stops (InfluxDB gone) is reported, with an event, and so is its return", async () => {
  const influx = await startInfluxd();
  const vo = await startInfluxVo(influx.url, { database: "health" });
  const events = listen(vo.baseUrl);
  try {
    await exposeThing(vo.wot, TD, setup);
    assert.equal((await put(vo.baseUrl, 1)).status, 204);
    await waitFor(async () => (await health(vo.baseUrl)).shipping.shipped >= 1, {
      what: "the first point shipped",
    });
    await influx.stop();
    assert.equal((await put(vo.baseUrl, 2)).status, 204, "recording goes on while InfluxDB is gone");
    const down = await waitFor(
      async () => {
        const h = await health(vo.baseUrl);
        return h.shipping.state === "down" && h;
      },
      { what: "shipping to be reported down" },
    );
    assert.equal(down.ok, false);
    assert.ok(down.shipping.queued >= 1);
    assert.ok(down.shipping.lastError);
    await waitFor(() => events.seen.some((e) => e.component === "shipping" && e.state === "stopped"), {
      what: "a voHealthChanged event saying shipping stopped",
    });
    await influx.start();
    await waitFor(() => events.seen.some((e) => e.component === "shipping" && e.state === "resumed"), {
      what: "a voHealthChanged event saying shipping resumed",
      timeoutMs: 20000,
    });
    const h = await waitFor(
      async () => {
        const x = await health(vo.baseUrl);
        return x.shipping.queued === 0 && x;
      },
      { what: "the backlog to ship" },
    );
    assert.equal(h.ok, true);
  } finally {
    events.stop();
    await vo.stop();
    await influx.stop();
  }
});

test("voHealth: a corrupt SQLite file found at start is moved aside and the health view says so", async () => {
  const fs = require("node:fs");
  const path = require("node:path");
  const { tempDir } = require("./helpers/vo.js");
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, "vo.sqlite"), Buffer.alloc(8192, 0x5a)); // not a database
  const vo = await startTestVo({ dataDir: dir });
  try {
    await exposeThing(vo.wot, TD, setup);
    assert.equal((await put(vo.baseUrl, 1)).status, 204, "a fresh file records");
    const h = await health(vo.baseUrl);
    assert.ok(h.store.movedAside, "movedAside is reported");
    assert.match(h.store.movedAside.file, /^vo\.sqlite\.corrupt-/, "the file name, not the host's path");
    assert.ok(fs.existsSync(path.join(dir, h.store.movedAside.file)), "the old file is kept");
    assert.ok(h.store.movedAside.reason.length > 0);
  } finally {
    await vo.stop();
  }
});
