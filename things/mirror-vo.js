// Script of the mirroring VO (things/mirror-vo.config.json). The mirror itself needs no code: the
// plugin consumes the device given by vo.device.tdUrl and exposes "Thermostat VO". This script only
// says where to look once the mirror is up.
"use strict";

module.exports = async function ({ servient }) {
  const started = Date.now();
  const timer = setInterval(() => {
    const things = Object.values(servient.getThings());
    const mirror = things.find((t) => t.title === "Thermostat VO");
    if (mirror) {
      clearInterval(timer);
      console.log("mirror-vo: 'Thermostat VO' is up; try:");
      console.log("  curl -s http://127.0.0.1:8080/thermostat-vo/properties/temperature");
      console.log(
        "  curl -s 'http://127.0.0.1:8080/thermostat-vo/properties/history?name=temperature&limit=5'",
      );
      console.log("  curl -s http://127.0.0.1:8080/thermostat-vo/properties/mirrorStatus");
    } else if (Date.now() - started > 10000 && Date.now() - started < 11000) {
      console.log(
        "mirror-vo: the device is not reachable yet; the VO keeps checking (start things/device-thermostat.js)",
      );
    }
  }, 500);
  timer.unref();
};
