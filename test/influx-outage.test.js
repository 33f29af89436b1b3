// Outage and bounded outbox against a real InfluxDB 1.6.7 that the test stops and starts again.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const v8 = require("node:v8");
const vm = require("node:vm");
const { startInfluxd, startInfluxVo } = require("./helpers/servers.js");
const { exposeThing, waitFor } = require("./helpers/vo.js");

/** Collects what the plugin writes to stderr (warnings are printed through console.warn). */
function captureStderr() {
  const lines = [];
  const original = process.stderr.write;
  process.stderr.write = function (chunk, ...rest) {
    lines.push(String(chunk));
    return original.call(this, chunk, ...rest);
  };
  return { lines, restore: () => (process.stderr.write = original) };
}

async function countBy(influx, db, measurement) {
  const json = await influx.query(`SELECT count("ok") FROM "${measurement}" GROUP BY "name"`, db);
  return Object.fromEntries((json.results[0].series ?? []).map((s) => [s.tags.name, s.values[0][1]]));
}

/** Records committed to the SQLite history, per affordance name. */
function committedBy(vo, kind) {
  const rows = vo.servient.vo.database
    .prepare(
      `SELECT s.name AS name, COUNT(*) AS n FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id
       WHERE s.kind = ? GROUP BY s.name`,
    )
    .all(kind);
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

test("outage: InfluxDB stops while records keep coming; after it is back every record is there once", async () => {
  const influx = await startInfluxd();
  const stderr = captureStderr();
  const vo = await startInfluxVo(influx.url, { database: "outage", retryDelayMs: 50, maxRetryDelayMs: 300 });
  let producing = true;
  let producer;
  try {
    const thing = await exposeThing(
      vo.wot,
      {
        title: "Pump",
        properties: { rpm: { type: "integer" } },
        events: { tick: { data: { type: "integer" } } },
      },
      (t) => {
        let rpm = 0;
        t.setPropertyReadHandler("rpm", async () => rpm);
        t.setPropertyWriteHandler("rpm", async (v) => {
          rpm = await v.value();
        });
      },
    );
    const href = thing.getThingDescription().properties.rpm.forms[0].href;
    let i = 0;
    producer = (async () => {
      while (producing) {
        const res = await fetch(href, {
          method: "PUT",
          body: String(i),
          headers: { "content-type": "application/json" },
        });
        assert.equal(res.status, 204);
        thing.emitEvent("tick", i);
        i++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const inf = vo.servient.influxdb;
    await waitFor(() => inf.status().shipped >= 100, {
      timeoutMs: 30000,
      what: "shipping before the outage",
    });

    await influx.stop();
    await waitFor(() => inf.status().state === "down", { timeoutMs: 30000, what: "the shipper to notice" });
    const queuedAtDown = inf.status().queued;
    await waitFor(() => inf.status().queued >= queuedAtDown + 300, {
      timeoutMs: 60000,
      what: "records to pile up during the outage",
    });
    assert.equal(inf.status().connected, false);
    assert.match(inf.status().lastError, /no answer|ECONNREFUSED|fetch failed/);
    assert.ok(inf.status().lastErrorAt);

    await influx.start();
    await waitFor(() => inf.status().state === "up" && inf.status().shipped > 0, {
      timeoutMs: 60000,
      what: "recovery",
    });
    producing = false;
    await producer;
    assert.equal(await inf.flush(60000), true);

    const committedProps = committedBy(vo, "property");
    const committedEvents = committedBy(vo, "event");
    assert.ok(committedProps.rpm >= 150, `committed ${committedProps.rpm}`);
    assert.deepEqual(await countBy(influx, "outage", "wot_property"), committedProps);
    assert.deepEqual(await countBy(influx, "outage", "wot_event"), committedEvents);
    const status = inf.status();
    assert.equal(status.shipped, committedProps.rpm + committedEvents.tick);
    assert.equal(status.dropped, 0);
    assert.equal(status.deadLettered, 0);

    const log = stderr.lines.join("");
    assert.equal(
      (log.match(/InfluxDB write failed/g) ?? []).length,
      1,
      "one line when it goes down:\n" + log,
    );
    await waitFor(() => /InfluxDB caught up/.test(stderr.lines.join("")), { what: "the caught-up line" });
    assert.equal((stderr.lines.join("").match(/InfluxDB caught up/g) ?? []).length, 1);
  } finally {
    producing = false;
    await producer?.catch(() => undefined);
    stderr.restore();
    await vo.stop();
    await influx.destroy();
  }
});

test("bounded outbox: with InfluxDB down the oldest are dropped, counted and logged once; memory stays flat", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc");
  const influx = await startInfluxd();
  await influx.stop(); // a real address, nobody listening
  const stderr = captureStderr();
  const vo = await startInfluxVo(influx.url, {
    database: "bounded",
    outbox: { maxRows: 500, maxBytes: 1_000_000_000 },
    retryDelayMs: 50,
    maxRetryDelayMs: 200,
  });
  try {
    const thing = await exposeThing(vo.wot, {
      title: "Chatty",
      events: { tick: { data: { type: "integer" } } },
    });
    const inf = vo.servient.influxdb;
    let i = 0;
    const burst = async (n) => {
      for (let k = 0; k < n; k += 200) {
        for (let j = 0; j < 200; j++) thing.emitEvent("tick", i++);
        await new Promise((r) => setImmediate(r));
      }
      vo.servient.vo.history.flush();
      await waitFor(() => inf.status().queued <= 500 && inf.status().dropped + inf.status().queued === i, {
        timeoutMs: 30000,
        what: `the bound to hold (status ${JSON.stringify(inf.status())}, emitted ${i})`,
      });
    };
    await burst(4000);
    gc();
    const heap1 = process.memoryUsage().heapUsed;
    await burst(40000);
    gc();
    const heap2 = process.memoryUsage().heapUsed;
    const status = inf.status();
    assert.equal(status.queued, 500);
    assert.equal(status.dropped, i - 500);
    assert.equal(status.shipped, 0);
    assert.ok(
      heap2 - heap1 < 16 * 1024 * 1024,
      `heap grew by ${(heap2 - heap1) / 1e6} MB over 40,000 records`,
    );
    const log = stderr.lines.join("");
    assert.equal((log.match(/outbox full/g) ?? []).length, 1, "one log line:\n" + log);
    // The rows stay in the local history; only shipping skips them.
    assert.equal(vo.servient.vo.history.maxId(), i);

    // Back up: exactly the newest 500 arrive.
    await influx.start();
    assert.equal(await inf.flush(60000), true);
    const json = await influx.query(
      'SELECT count("value_int"), min("value_int"), max("value_int") FROM "wot_event"',
      "bounded",
    );
    const [, count, min, max] = json.results[0].series[0].values[0];
    assert.deepEqual([count, min, max], [500, i - 500, i - 1]);
    assert.equal(inf.status().shipped, 500);
  } finally {
    stderr.restore();
    await vo.stop();
    await influx.destroy();
  }
});
