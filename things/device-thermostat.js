// A small "device": a plain node-wot servient (no node-wot-vo) exposing a thermostat. The VO in
// things/mirror-vo.config.json consumes it and mirrors it (vo-wot deployment type A).
//
//   node things/device-thermostat.js            # http://127.0.0.1:8081/thermostat-device
//   DEVICE_PORT=9000 node things/device-thermostat.js
//
// Prints "device ready <TD URL>" once it answers.
"use strict";

// Silence ajv's 44 "unknown format iri-reference" lines printed while @node-wot/core loads.
const warn = console.warn;
console.warn = (...a) =>
  typeof a[0] === "string" && a[0].startsWith("unknown format") ? undefined : warn(...a);
const { Servient, Helpers } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
console.warn = warn;

const port = Number(process.env.DEVICE_PORT ?? 8081);
const address = process.env.DEVICE_ADDRESS ?? "127.0.0.1";

const td = {
  id: "urn:dev:node-wot-vo:thermostat-1",
  title: "Thermostat Device",
  description: "A room thermostat (simulated) that runs its own WoT runtime",
  properties: {
    temperature: { type: "number", unit: "celsius", readOnly: true, description: "Measured temperature" },
    targetTemperature: { type: "number", minimum: 5, maximum: 30, unit: "celsius", description: "Set point" },
  },
  actions: {
    boost: {
      description: "Raise the set point by delta °C",
      input: {
        type: "object",
        properties: { delta: { type: "number", minimum: 0.5, maximum: 5 } },
        required: ["delta"],
      },
      output: { type: "number", description: "the new set point" },
    },
  },
  events: {
    overheat: { description: "The temperature went above 28 °C", data: { type: "number" } },
    setpointChanged: { description: "The set point changed (write or boost)", data: { type: "number" } },
  },
};

async function main() {
  Helpers.setStaticAddress(address);
  const servient = new Servient();
  servient.addServer(new HttpServer({ port, address }));
  const WoT = await servient.start();
  const thing = await WoT.produce(td);
  let temperature = 21;
  let targetTemperature = 21.5;
  thing.setPropertyReadHandler("temperature", async () => temperature);
  thing.setPropertyReadHandler("targetTemperature", async () => targetTemperature);
  thing.setPropertyWriteHandler("targetTemperature", async (v) => {
    targetTemperature = await v.value();
    thing.emitEvent("setpointChanged", targetTemperature);
  });
  thing.setActionHandler("boost", async (params) => {
    const { delta } = await params.value();
    targetTemperature = Math.min(30, targetTemperature + delta);
    thing.emitEvent("setpointChanged", targetTemperature);
    return targetTemperature;
  });
  await thing.expose();

  const periodMs = Number(process.env.DEVICE_PERIOD_MS ?? 1000);
  const timer = setInterval(() => {
    temperature =
      Math.round(
        (temperature + (targetTemperature - temperature) * 0.2 + (Math.random() - 0.5) * 0.1) * 100,
      ) / 100;
    if (temperature > 28) thing.emitEvent("overheat", temperature);
  }, periodMs);

  const stop = () => {
    clearInterval(timer);
    servient.shutdown().finally(() => process.exit(0));
    // node-wot waits for open long-polls before closing; don't wait for them.
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  console.log(`device ready http://${address}:${port}/thermostat-device`);
}

main().catch((err) => {
  console.error("device failed to start:", err);
  process.exit(1);
});
