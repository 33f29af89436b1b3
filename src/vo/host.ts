/**
 * What the VO room needs of the plugin: a port, not the plugin. The composition root
 * (src/servient.ts) passes its VoPlugin, which has all of it; a test can pass any object that does.
 */
import type { Servient } from "@node-wot/core";
import type { HistoryStore } from "../store/history";
import type { SqliteDb } from "../store/sqlite-db";
import type { VoRoomOptions } from "./options";

export interface VoHost {
  /** Its HTTP servers give the self-check URL; its things get the connection events. */
  readonly servient: Servient;
  readonly options: { readonly vo: VoRoomOptions };
  /** The seed's VO tables: status rows and the device IP. */
  readonly sqliteDb: SqliteDb;
  /** A mirror answers from the last recorded value while its device is unreachable. */
  readonly history: Pick<HistoryStore, "latest">;
  /** The SQLite file (":memory:" or "" when there is none): the device's TD is cached next to it. */
  readonly file: string;
}
