/**
 * A history identity that survives restarts. node-wot 0.9.2 gives a thing produced without an `id`
 * a fresh random `urn:uuid:…` at every start (`Servient.addThing`), so the rows recorded under
 * yesterday's id would be unreachable through today's TD. Before node-wot's `addThing` runs, such a
 * thing gets an id derived from its title instead: `urn:node-wot-vo:<title slug>` (lower case, runs
 * of other characters than a-z and 0-9 as one `-`, as node-wot's own URL paths), with `:2`, `:3`, …
 * for a second and third thing of the same slug in one servient (stable as long as the scripts
 * produce them in the same order). No `%` or spaces: the id travels into URLs, InfluxDB tags and
 * credentials keys unescaped. A thing that has an id keeps it.
 */
import type { ExposedThing, Servient } from "@node-wot/core";

export const DERIVED_ID_PREFIX = "urn:node-wot-vo:";

/** The id a thing without one gets from its title, unique among the servient's things. */
export function derivedThingId(servient: Servient, title: string): string {
  const base = DERIVED_ID_PREFIX + slug(title);
  let id = base;
  for (let n = 2; servient.getThing(id) !== undefined; n++) id = `${base}:${n}`;
  return id;
}

/** Gives the thing a derived id when it has none; true when it did. */
export function assignStableId(servient: Servient, thing: ExposedThing): boolean {
  if (thing.id) return false;
  thing.id = derivedThingId(servient, thing.title ?? "");
  return true;
}

function slug(title: string): string {
  const s = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return s === "" ? "thing" : s;
}
