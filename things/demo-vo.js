// Demo Virtual Object: a thermostat stand-in. Runs under `node-wot-vo` (global WoT), like any
// node-wot script. Nothing here records anything: node-wot-vo does that for every interaction.
"use strict";

const td = {
  title: "Demo Thermostat",
  description: "A Virtual Object standing in for a room thermostat",
  properties: {
    temperature: {
      type: "number",
      unit: "celsius",
      readOnly: true,
      observable: true,
      description: "Measured room temperature; changes every 2 s",
    },
    targetTemperature: { type: "number", minimum: 5, maximum: 30, unit: "celsius", description: "Set point" },
    mode: { type: "string", enum: ["heat", "cool", "off"] },
  },
  actions: {
    boost: {
      description: "Raise the set point by delta °C for some minutes (at most 120)",
      input: {
        type: "object",
        properties: {
          delta: { type: "number", minimum: 0.5, maximum: 5 },
          minutes: { type: "integer", minimum: 1 },
        },
        required: ["delta", "minutes"],
      },
      output: {
        type: "object",
        properties: { targetTemperature: { type: "number" }, until: { type: "string" } },
      },
    },
  },
  events: {
    overheat: { description: "The temperature went above 28 °C", data: { type: "number" } },
  },
};

let temperature = 21;
let targetTemperature = 21.5;
let mode = "heat";

WoT.produce(td)
  .then((thing) => {
    thing.setPropertyReadHandler("temperature", async () => temperature);
    thing.setPropertyReadHandler("targetTemperature", async () => targetTemperature);
    thing.setPropertyWriteHandler("targetTemperature", async (value) => {
      targetTemperature = await value.value();
    });
    thing.setPropertyReadHandler("mode", async () => mode);
    thing.setPropertyWriteHandler("mode", async (value) => {
      mode = await value.value();
    });
    thing.setActionHandler("boost", async (params) => {
      const { delta, minutes } = await params.value();
      if (minutes > 120) throw new Error(`boost is limited to 120 minutes, got ${minutes}`);
      targetTemperature = Math.min(30, targetTemperature + delta);
      return { targetTemperature, until: new Date(Date.now() + minutes * 60000).toISOString() };
    });

    // The "device": drift towards the set point, with some noise.
    const timer = setInterval(() => {
      const drift = mode === "off" ? -0.05 : (targetTemperature - temperature) * 0.1;
      temperature = Math.round((temperature + drift + (Math.random() - 0.5) * 0.2) * 100) / 100;
      thing.emitPropertyChange("temperature").catch(() => undefined);
      if (temperature > 28) thing.emitEvent("overheat", temperature);
    }, 2000);
    timer.unref();
    return thing.expose();
  })
  .catch((err) => {
    console.error("demo VO failed to start:", err);
    process.exitCode = 1;
  });
