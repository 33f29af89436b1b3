/**
 * History and VO-state affordances added to every exposed thing's TD. Called from the servient
 * decoration when a thing is added (inside `WoT.produce`), before the script sets its handlers;
 * the servers fill the forms when the thing is exposed.
 *
 * Every affordance added here carries `"vo:plugin": true` (never recorded; clients can tell them
 * apart), and the thing's `@context` gains the `vo` prefix. A name the thing already uses is left
 * to the thing (the plugin's affordance is skipped, with a warning).
 */
import type { ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import type { VoPlugin } from "../servient";
import { PLUGIN_ANNOTATION, RecordFilter } from "../recorder/filter";
import { createLogger } from "../log";
import { boundPluginInputs, guarded, installHttpContext } from "./http-context";
import {
  HISTORY,
  HISTORY_AGGREGATE,
  QUERY_HISTORY,
  HistoryQueries,
  actionInput,
  historyAffordances,
  refreshNameEnums,
  type HistoryParams,
} from "./history";
import { setVoStateHandlers, voStateAffordances } from "./vo-state";
import { healthAffordances } from "./health";

export { currentRequest, installHttpContext, isLoopback, statusOf, guarded, reject } from "./http-context";
export * from "./vo-state";
export { HealthMonitor, VO_HEALTH, VO_HEALTH_CHANGED, healthView, type HealthHost } from "./health";
export { HISTORY, HISTORY_AGGREGATE, QUERY_HISTORY, recordedNames } from "./history";

const log = createLogger("td");

/** Namespace of the `vo:` annotations in TDs. */
export const VO_CONTEXT = "https://github.com/node-wot-vo/node-wot-vo/blob/main/docs/history-api.md#";

type Kind = "properties" | "actions" | "events";

export function installTdAffordances(plugin: VoPlugin, thing: ExposedThing): void {
  const { td } = plugin.options;
  if (!td.historyAffordances && !td.voAffordances) return;
  installHttpContext(plugin.servient);
  boundPluginInputs(thing, plugin.options.recorder.maxBodyBytes);
  const added: Record<Kind, string[]> = { properties: [], actions: [], events: [] };
  const add = (kind: Kind, defs: Record<string, unknown>) => {
    const map = thing[kind] as Record<string, unknown>;
    for (const [name, def] of Object.entries(defs)) {
      if (map[name] !== undefined) {
        log.warn(
          "'%s' already has an affordance named '%s': node-wot-vo does not add its own '%s' to this thing",
          thing.title,
          name,
          name,
        );
        continue;
      }
      map[name] = def;
      added[kind].push(name);
    }
  };

  if (td.historyAffordances) {
    const defs = historyAffordances(thing, plugin.history.limits);
    add("properties", defs.properties);
    add("actions", defs.actions);
    const queries = new HistoryQueries(plugin.history, new RecordFilter(plugin.options.recorder));
    const vars = (o?: WoT.InteractionOptions) => (o?.uriVariables ?? {}) as HistoryParams;
    if (added.properties.includes(HISTORY))
      thing.setPropertyReadHandler(HISTORY, (o) => guarded(() => queries.rows(thing, vars(o))));
    if (added.properties.includes(HISTORY_AGGREGATE))
      thing.setPropertyReadHandler(HISTORY_AGGREGATE, (o) => guarded(() => queries.windows(thing, vars(o))));
    if (added.actions.includes(QUERY_HISTORY))
      thing.setActionHandler(QUERY_HISTORY, (params) =>
        guarded(async () => queries.query(thing, (await actionInput(params)) as HistoryParams)),
      );
  }
  if (td.voAffordances) {
    const defs = voStateAffordances(plugin.options, plugin.history.limits.maxLimit);
    add("properties", defs.properties);
    add("actions", defs.actions);
    add("events", defs.events);
    setVoStateHandlers(thing, plugin.sqliteDb, plugin.options, plugin.servient);
    const health = healthAffordances();
    add("properties", health.properties);
    add("events", health.events);
    plugin.health.attach(thing);
  }
  addContext(thing);

  // The `name` enums list the thing's affordances: refresh them when the thing is exposed, in case
  // the script added affordances after produce.
  const expose = thing.expose.bind(thing);
  thing.expose = () => {
    refreshNameEnums(thing);
    plugin.recorder.refresh(thing);
    return expose();
  };
}

function addContext(thing: ExposedThing): void {
  const t = thing as unknown as { "@context"?: unknown };
  const ctx = t["@context"];
  const list: unknown[] = Array.isArray(ctx) ? ctx : ctx === undefined ? [] : [ctx];
  const has = list.some((c) => typeof c === "object" && c !== null && "vo" in c);
  if (!has) t["@context"] = [...list, { vo: VO_CONTEXT }];
}

/** True for an affordance the plugin added. */
export function isPluginAffordance(affordance: unknown): boolean {
  return (affordance as Record<string, unknown> | undefined)?.[PLUGIN_ANNOTATION] === true;
}
