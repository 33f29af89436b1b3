/**
 * History and VO-state affordances added to every exposed thing's TD (issue #4 fills this room).
 * Called from the servient decoration when a thing is added, before the script sets handlers.
 */
import type { ExposedThing } from "@node-wot/core";
import type { VoPlugin } from "../servient";

export function installTdAffordances(_plugin: VoPlugin, _thing: ExposedThing): void {
  // Intentionally empty until the TD room lands.
}
