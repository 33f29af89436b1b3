/**
 * History and VO-state affordances added to every exposed thing's TD. Called from the servient
 * decoration when a thing is added (inside `WoT.produce`), before the script sets its handlers;
 * the servers fill the forms when the thing is exposed.
 *
 * Every affordance added here carries `"vo:plugin": true` (never recorded; clients can tell them
 * apart), and the thing's `@context` gains the `vo` prefix. A name the thing already uses is left
 * to the thing (the plugin's affordance is skipped, with a warning).
 */
import type { Content, ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import { PLUGIN_ANNOTATION } from "../types";
import { RecordFilter } from "../recorder/filter";
import { createLogger } from "../log";
import { BufferedContent, readContent } from "../node-wot/content";
import { beforeExpose, interceptActionInvocations } from "../node-wot/exposed-thing";
import { guarded, reject } from "../node-wot/request-context";
import type { TdHost } from "./host";
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

export * from "./vo-state";
export { HealthMonitor, VO_HEALTH, VO_HEALTH_CHANGED, healthView, type HealthHost } from "./health";
export { HISTORY, HISTORY_AGGREGATE, QUERY_HISTORY, recordedNames } from "./history";
export type { TdHost, TdHostOptions } from "./host";

const log = createLogger("td");

/** Namespace of the `vo:` annotations in TDs. */
export const VO_CONTEXT = "https://github.com/node-wot-vo/node-wot-vo/blob/main/docs/history-api.md#";

type Kind = "properties" | "actions" | "events";

export function installTdAffordances(host: TdHost, thing: ExposedThing): void {
  const { td } = host.options;
  if (!td.historyAffordances && !td.voAffordances) return;
  boundPluginInputs(thing, host.options.recorder.maxBodyBytes);
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
    const defs = historyAffordances(thing, host.history.limits);
    add("properties", defs.properties);
    add("actions", defs.actions);
    const queries = new HistoryQueries(host.history, new RecordFilter(host.options.recorder));
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
    const defs = voStateAffordances(host.options, host.history.limits.maxLimit);
    add("properties", defs.properties);
    add("actions", defs.actions);
    add("events", defs.events);
    setVoStateHandlers(thing, host.sqliteDb, host.options, host.servient);
    const health = healthAffordances();
    add("properties", health.properties);
    add("events", health.events);
    host.health.attach(thing);
  }
  addContext(thing);

  // The `name` enums list the thing's affordances: refresh them when the thing is exposed, in case
  // the script added affordances after produce.
  beforeExpose(thing, () => {
    refreshNameEnums(thing);
    host.recorder.refresh(thing);
  });
}

/**
 * Plugin actions read their input whole: read it here at most `maxBodyBytes` (the recorder, which
 * bounds the bodies of recorded affordances, never records the plugin's own).
 */
function boundPluginInputs(thing: ExposedThing, maxBodyBytes: number): void {
  interceptActionInvocations(thing, async (name, input, _options, invoke) => {
    const action = Object.hasOwn(thing.actions, name) ? thing.actions[name] : undefined;
    if ((action as Record<string, unknown> | undefined)?.[PLUGIN_ANNOTATION] !== true) return invoke(input);
    let bytes: Buffer;
    try {
      bytes = await readContent(input, maxBodyBytes);
    } catch (err) {
      throw reject(err);
    }
    return invoke(new BufferedContent(input.type, bytes) as unknown as Content);
  });
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
