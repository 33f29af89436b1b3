// Timestamps given by scripts are trustworthy: influxdb.writePoint with a far-future time is
// refused with a clear error, never moves the clock of live records, and shipping goes on.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const Database = require("better-sqlite3");
const { exposeThing } = require("./helpers/vo.js");
const { startInfluxd, startInfluxVo } = require("./helpers/servers.js");

test("writePoint with a far-future time is refused and live records keep the clock; everything ships", async () => {
  const influx = await startInfluxd();
  const vo = await startInfluxVo(influx.url, { database: "clock" });
  try {
    const inf = vo.servient.influxdb;
    const year = 365 * 24 * 3600 * 1000;
    await assert.rejects(inf.writePoint("probe", 1, {}, Date.now() + year), (err) => {
      assert.equal(err.name, "VoInputError");
      assert.match(err.message, /ahead|future|later/i);
      assert.match(err.message, /maxFutureSkewMs/);
      return true;
    });
    await assert.rejects(inf.writePoint("probe", 1, {}, new Date("2300-01-01")), /VoInputError|time/);
    // Within the allowed skew and in the past: accepted, and the live clock does not move.
    await inf.writePoint("probe", 2, {}, Date.now() + 60_000);
    await inf.writePoint("probe", 3, {}, Date.now() - 3_600_000);
    await exposeThing(vo.wot, { title: "Clock", properties: { v: { type: "number" } } }, (t) => {
      let v = 0;
      t.setPropertyReadHandler("v", async () => v);
      t.setPropertyWriteHandler("v", async (x) => {
        v = await x.value();
      });
    });
    const before = Date.now();
    const res = await fetch(`${vo.baseUrl}/clock/properties/v`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "7",
    });
    assert.equal(res.status, 204);
    const db = new Database(vo.file, { readonly: true });
    const live = db
      .prepare(
        `SELECT h.ts FROM wotvo_history h JOIN wotvo_series s ON s.id = h.series_id WHERE s.name = 'v'`,
      )
      .get();
    db.close();
    assert.ok(
      live.ts >= before - 5 && live.ts <= Date.now() + 5,
      `live stamp ${live.ts} is now, not the future`,
    );
    assert.equal(await inf.flush(20000), true, "everything ships");
    assert.equal(inf.status().deadLettered, 0);
  } finally {
    await vo.stop();
    await influx.stop();
  }
});
