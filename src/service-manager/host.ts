/**
 * What the service manager needs of the plugin (ports, not locators: VoPlugin in servient.ts has
 * these members, and a test may pass any object that has them). The service-manager room never
 * imports servient.ts.
 */
import type { ExposedThing, Servient } from "@node-wot/core";
import type { ServiceManagerOptions } from "./options";

export interface ServiceManagerHost {
  /** The servient whose things are counted and whose WoT runs the services. */
  readonly servient: Servient;
  readonly options: { readonly dataDir: string; readonly serviceManager: ServiceManagerOptions };
  /**
   * Throws (VO_FORBIDDEN 403 / VO_UNAUTHORIZED 401) when the current request may not change the
   * given thing's state: credentials when configured, loopback otherwise (the VO-state rule).
   */
  checkMayChange(thing: ExposedThing): void;
  /** Bytes of the committed history of the things with these ids (what `storageLimit` bounds). */
  historyBytes(thingIds: readonly string[]): Promise<number>;
}
