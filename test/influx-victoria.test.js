// The API v2 write path through the official client, against a real VictoriaMetrics
// (`/api/v2/write`; token and org are ignored there). Numeric fields only; read back with
// /api/v1/export after /internal/force_flush.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { startVictoriaMetrics, startInfluxVo } = require("./helpers/servers.js");
const { exposeThing, waitFor } = require("./helpers/vo.js");

test("API v2 via the official client delivers the numeric points to VictoriaMetrics", async () => {
  const vm = await startVictoriaMetrics();
  const vo = await startInfluxVo(vm.url, {
    apiVersion: 2,
    token: "not-checked",
    org: "wot",
    bucket: "vo",
    createBucket: false,
  });
  try {
    const thing = await exposeThing(
      vo.wot,
      {
        title: "Boiler 1",
        properties: { temp: { type: "number" }, level: { type: "integer" }, pm: { type: "object" } },
        events: { alarm: { data: { type: "number" } } },
      },
      (t) => {
        const state = {};
        for (const n of ["temp", "level", "pm"]) {
          t.setPropertyReadHandler(n, async () => state[n] ?? null);
          t.setPropertyWriteHandler(n, async (v) => {
            state[n] = await v.value();
          });
        }
      },
    );
    const put = async (name, value) => {
      const href = thing.getThingDescription().properties[name].forms[0].href;
      const res = await fetch(href, {
        method: "PUT",
        body: JSON.stringify(value),
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 204);
    };
    for (const v of [20.5, 21, 22.25]) await put("temp", v);
    for (const v of [1, 2]) await put("level", v);
    await put("pm", { pm25: 7.5, pm10: 3 });
    thing.emitEvent("alarm", 9.75);
    assert.equal(await vo.servient.influxdb.flush(30000), true);
    const status = vo.servient.influxdb.status();
    assert.equal(status.shipped, 7);
    assert.equal(status.deadLettered, 0);

    const series = await waitFor(
      async () => {
        const all = await vm.export('{__name__=~"wot_.*"}');
        const values = (name, extra = () => true) =>
          all
            .filter((s) => s.metric.__name__ === name && extra(s.metric))
            .flatMap((s) => s.values)
            .sort((a, b) => a - b);
        const got = {
          temp: values("wot_property_value", (m) => m.name === "temp"),
          level: values("wot_property_value_int", (m) => m.name === "level"),
          pm25: values("wot_property_value.pm25"),
          pm10: values("wot_property_value.pm10"),
          alarm: values("wot_event_value", (m) => m.name === "alarm"),
          labels: all.find((s) => s.metric.__name__ === "wot_property_value")?.metric,
        };
        return got.temp.length === 3 && got.level.length === 2 && got.alarm.length === 1 ? got : undefined;
      },
      { timeoutMs: 30000, intervalMs: 250, what: "VictoriaMetrics to return the points" },
    );
    assert.deepEqual(series.temp, [20.5, 21, 22.25]);
    assert.deepEqual(series.level, [1, 2]);
    assert.deepEqual(series.pm25, [7.5]);
    assert.deepEqual(series.pm10, [3]);
    assert.deepEqual(series.alarm, [9.75]);
    assert.equal(series.labels.thing, "Boiler 1");
    assert.equal(series.labels.thing_id, thing.id);
    assert.equal(series.labels.kind, "property");
    assert.equal(series.labels.op, "write");
  } finally {
    await vo.stop();
    await vm.destroy();
  }
});
