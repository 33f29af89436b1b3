/**
 * Which interactions are recorded: config globs over `<thing>/<affordance>` and TD annotations.
 * Decisions are cached per thing and affordance, so the hot path is one Map lookup.
 */
import picomatch from "picomatch";
import { PLUGIN_ANNOTATION, RECORD_ANNOTATION, type AffordanceKind } from "../types";

export interface FilterOptions {
  include: string[];
  exclude: string[];
}

interface ThingLike {
  id: string;
  title: string;
  [key: string]: unknown;
}

export class RecordFilter {
  private readonly include: (s: string) => boolean;
  private readonly exclude: (s: string) => boolean;

  constructor(options: FilterOptions) {
    const compile = (globs: string[]) => (globs.length ? picomatch(globs, { dot: true }) : () => false);
    this.include = compile(options.include);
    this.exclude = compile(options.exclude);
  }

  /** Decides once per (thing, kind, name); call again after the TD changes. */
  accepts(
    thing: ThingLike,
    kind: AffordanceKind,
    name: string,
    affordance: Record<string, unknown> | undefined,
  ): boolean {
    if (isManagementThing(thing)) return false;
    if (thing[RECORD_ANNOTATION] === false) return false;
    if (affordance?.[PLUGIN_ANNOTATION] === true || affordance?.[RECORD_ANNOTATION] === false) return false;
    // Globs never match line breaks (picomatch): match names with them as spaces instead, so a
    // title or name with a newline is still recorded by the default ["**"].
    const keys = [`${thing.title}/${name}`, `${thing.id}/${name}`].map((k) => k.replace(/[\r\n]/g, " "));
    return keys.some(this.include) && !keys.some(this.exclude);
  }
}

/** node-wot's CLI exposes a management thing titled "servient"; it is not the device's data. */
function isManagementThing(thing: ThingLike): boolean {
  const actions = thing.actions as Record<string, unknown> | undefined;
  return thing.title === "servient" && actions?.runScript !== undefined && actions?.shutdown !== undefined;
}
