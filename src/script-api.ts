/**
 * Types of what Thing scripts and servient code see once the plugin is attached (README "The
 * Thing-script API"), by declaration merging: `WoT.sqlite_db`, `WoT.influxdb`, `WoT.servient`
 * on the global `WoT` of node-wot scripts, and `thing.servient` on exposed things. The `Servient`
 * side (`servient.sqlite_db`, …) is merged in `servient.ts`.
 *
 * Like node-wot's own typings these say what exists after `attach()`; a servient without the
 * plugin has none of them.
 */
import type { SqliteDb } from "./store/sqlite-db";
import type { InfluxDb } from "./influx/influxdb";
import type { VoServient } from "./servient";

// Merging into the global `WoT` namespace of wot-typescript-definitions needs namespace syntax.
/* eslint-disable @typescript-eslint/no-namespace */
declare global {
  namespace WoT {
    /** SQLite helpers (vo-wot `sqlite_db`). */
    const sqlite_db: SqliteDb;
    /** InfluxDB helpers (vo-wot `influxdb`). */
    const influxdb: InfluxDb;
    /** The servient running the script, with the plugin's helpers. */
    const servient: VoServient;

    interface ExposedThing {
      /** The servient that exposes the thing (vo-wot `exposed_thing.servient.sqlite_db`). */
      readonly servient: VoServient;
    }
  }
}

declare module "@node-wot/core/dist/exposed-thing" {
  // node-wot's class implements `WoT.ExposedThing`, so it gets the same member.
  export default interface ExposedThing {
    /** The servient that exposes the thing, with the plugin's helpers. */
    readonly servient: VoServient;
  }
}
