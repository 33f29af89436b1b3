/**
 * What the TD room needs of the plugin: a port, not the plugin. The composition root
 * (src/servient.ts) passes its VoPlugin, which has all of it; a test can pass any object that does.
 */
import type { ExposedThing, Servient } from "@node-wot/core";
import type { HistoryStore } from "../store/history";
import type { SqliteDb } from "../store/sqlite-db";
import type { FilterOptions } from "../recorder/filter";
import type { TdRoomOptions } from "./options";

export interface TdHost {
  /** Credentials configured for a thing guard the VO-state actions. */
  readonly servient: Pick<Servient, "retrieveCredentials">;
  readonly options: TdHostOptions;
  /** History queries, and the limits the TD announces for them. */
  readonly history: HistoryStore;
  /** The seed's VO tables: status rows, observers, redirect IPs, device IP. */
  readonly sqliteDb: SqliteDb;
  /** Gives a thing the health property's handler and the health event. */
  readonly health: { attach(thing: ExposedThing): void };
  /** The recorder caches its decisions per thing; they are forgotten when the affordances change. */
  readonly recorder: { refresh(thing: ExposedThing): void };
}

export interface TdHostOptions {
  readonly td: TdRoomOptions;
  /** What is recorded (the `name` enums list those affordances), and the plugin actions' body limit. */
  readonly recorder: FilterOptions & { readonly maxBodyBytes: number };
  /** What the VO runtime checks, for the `voStatus` view and the device affordances. */
  readonly vo: {
    readonly selfCheck: { readonly enabled: boolean };
    readonly device?: { readonly tdUrl?: string; readonly address?: string };
  };
}
