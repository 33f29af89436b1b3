// Alerts (issue 10, item 6): alertRules in Aos's shape, checked by a JSON schema, evaluated with an
// injected clock — fires after minTimeout at or above maxThreshold, clears below minThreshold.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const Ajv = require("ajv");
const {
  parseAlertRules,
  formatAlertRules,
  parseDuration,
  AlertEvaluator,
  ALERT_RULES_SCHEMA,
} = require("../dist/service-manager/alerts.js");

test("alertRules accept Aos's JSON (durations as seconds, Go strings or HH:MM:SS) and usedDisk as storage", () => {
  const rules = parseAlertRules(
    JSON.stringify({
      inTraffic: { minTimeout: "00:01:30", minThreshold: 1000, maxThreshold: 5000 },
      outTraffic: { minTimeout: 30, minThreshold: 10, maxThreshold: 20 },
      usedDisk: { minTimeout: "1m30s", minThreshold: 0, maxThreshold: 1 << 20 },
    }),
  );
  assert.deepEqual(rules, {
    inTraffic: { minTimeoutMs: 90_000, minThreshold: 1000, maxThreshold: 5000 },
    outTraffic: { minTimeoutMs: 30_000, minThreshold: 10, maxThreshold: 20 },
    storage: { minTimeoutMs: 90_000, minThreshold: 0, maxThreshold: 1 << 20 },
  });
  assert.deepEqual(parseAlertRules(null), {});
  assert.deepEqual(parseAlertRules(""), {});
  assert.deepEqual(parseAlertRules("null"), {});
  assert.deepEqual(parseAlertRules({ storage: { maxThreshold: 7 } }), {
    storage: { minTimeoutMs: 0, minThreshold: 7, maxThreshold: 7 },
  });
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration(0.5), 500);
  // formatted in Aos's form and read back the same
  assert.deepEqual(parseAlertRules(formatAlertRules(rules)), rules);
  assert.match(formatAlertRules(rules), /"minTimeout":"00:01:30"/);
});

test("bad alertRules are refused with every problem named", () => {
  const bad = (input, pattern) =>
    assert.throws(() => parseAlertRules(input), { code: "SM_ALERT_RULES", message: pattern });
  bad("{not json", /not JSON/);
  bad({ inTraffic: { minThreshold: 1 } }, /'maxThreshold' is required in inTraffic/);
  bad({ inTraffic: { maxThreshold: -1 } }, /inTraffic\.maxThreshold must be >= 0/);
  bad({ inTraffic: { maxThreshold: 1.5 } }, /must be integer/);
  bad({ inTraffic: { maxThreshold: 1, minTimeout: "soon" } }, /minTimeout must match/);
  bad({ inTraffic: { maxThreshold: 1, extra: true } }, /unknown key 'extra' in inTraffic/);
  bad({ gpu: { maxThreshold: 1 } }, /unknown key 'gpu'/);
  bad({ ram: { maxThreshold: 1 } }, /ram cannot be watched here/);
  bad({ storage: { maxThreshold: 1 }, usedDisk: { maxThreshold: 1 } }, /not both/);
  bad({ outTraffic: { minThreshold: 10, maxThreshold: 5 } }, /minThreshold 10 is above maxThreshold 5/);
  bad([1], /must be object/);
  // The schema is a plain JSON schema: other tools can check rules with it.
  const validate = new Ajv({ strict: true }).compile(ALERT_RULES_SCHEMA);
  assert.equal(validate({ inTraffic: { minTimeout: "10s", maxThreshold: 3 } }), true);
  assert.equal(validate({ inTraffic: { minTimeout: "10 s", maxThreshold: 3 } }), false);
});

test("an alert fires after minTimeout at or above maxThreshold, not before, and once", () => {
  let now = 1_000_000;
  const ev = new AlertEvaluator(
    parseAlertRules({ inTraffic: { minTimeout: 10, minThreshold: 100, maxThreshold: 500 } }),
    {
      now: () => now,
    },
  );
  assert.deepEqual(ev.evaluate({ inTraffic: 499 }), []);
  now += 60_000;
  assert.deepEqual(ev.evaluate({ inTraffic: 450 }), [], "below max never starts the clock");
  assert.deepEqual(ev.evaluate({ inTraffic: 500 }), [], "the clock starts");
  const started = now;
  now += 9_999;
  assert.deepEqual(ev.evaluate({ inTraffic: 900 }), [], "fired before minTimeout");
  now += 1;
  const [fired] = ev.evaluate({ inTraffic: 800 });
  assert.deepEqual(fired, {
    resource: "inTraffic",
    kind: "fired",
    value: 800,
    at: started + 10_000,
    since: started,
    rule: { minTimeoutMs: 10_000, minThreshold: 100, maxThreshold: 500 },
  });
  assert.deepEqual(ev.active(), ["inTraffic"]);
  now += 1000;
  assert.deepEqual(ev.evaluate({ inTraffic: 5000 }), [], "fired twice");
});

test("between the thresholds the state holds; below minThreshold it clears, and the next rise starts over", () => {
  let now = 0;
  const ev = new AlertEvaluator(
    parseAlertRules({
      outTraffic: { minTimeout: "5s", minThreshold: 100, maxThreshold: 500 },
      storage: { minTimeout: 0, maxThreshold: 10 },
    }),
    { now: () => now },
  );
  ev.evaluate({ outTraffic: 600 });
  now = 3000;
  assert.deepEqual(
    ev.evaluate({ outTraffic: 200 }),
    [],
    "a dip into the band keeps the clock (Aos hysteresis)",
  );
  now = 5000;
  assert.deepEqual(
    ev.evaluate({ outTraffic: 300 }).map((c) => c.kind),
    ["fired"],
  );
  now = 6000;
  assert.deepEqual(ev.evaluate({ outTraffic: 150 }), [], "still above minThreshold: not cleared");
  now = 7000;
  const [cleared] = ev.evaluate({ outTraffic: 99 });
  assert.equal(cleared.kind, "cleared");
  assert.equal(cleared.value, 99);
  assert.equal(cleared.since, 0);
  assert.deepEqual(ev.active(), []);
  now = 8000;
  assert.deepEqual(ev.evaluate({ outTraffic: 50 }), [], "cleared twice");
  ev.evaluate({ outTraffic: 700 });
  now = 12_999;
  assert.deepEqual(ev.evaluate({ outTraffic: 700 }), [], "the second rise fired on the first one's clock");
  now = 13_000;
  assert.equal(ev.evaluate({ outTraffic: 700 })[0].kind, "fired");

  // Without minThreshold it clears below maxThreshold; minTimeout 0 fires at once. Resources
  // without a sample keep their state; an explicit time overrides the clock.
  assert.equal(ev.evaluate({ storage: 10 }, 20_000)[0].kind, "fired");
  assert.deepEqual(ev.active(), ["outTraffic", "storage"]);
  assert.equal(ev.evaluate({ storage: 9 }, 20_001)[0].kind, "cleared");
  assert.deepEqual(ev.evaluate({ inTraffic: 1e12 }), [], "no rule for inTraffic");
  assert.deepEqual(ev.evaluate({ storage: Number.NaN }), [], "a sample that is not a number is ignored");
});
