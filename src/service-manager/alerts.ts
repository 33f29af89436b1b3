/**
 * A service's `alertRules` (the `services.alertRules` TEXT column): per resource a rule in the
 * shape of Aos's `config.AlertRule` — `{minTimeout, minThreshold, maxThreshold}` — and a pure
 * evaluator with an injectable clock.
 *
 * Resources: `inTraffic`, `outTraffic` (bytes the traffic monitor counted for the service) and
 * `storage` (bytes of its storage folder; Aos's `usedDisk` is read as `storage`). Aos's `ram` and
 * `cpu` are refused: services share one Node process, so neither is measured per service.
 *
 * Semantics (those of Aos's alert processor): a sample >= maxThreshold starts the clock; a sample
 * < minThreshold stops it (and clears a fired alert); samples in between leave the state as it is
 * (hysteresis). The alert fires once, on the first sample at least minTimeout after the clock
 * started.
 */
import Ajv, { type ErrorObject } from "ajv";
import { VoError } from "../errors";

export const ALERT_RESOURCES = ["inTraffic", "outTraffic", "storage"] as const;
export type AlertResource = (typeof ALERT_RESOURCES)[number];

/** A rule with its duration in milliseconds. */
export interface AlertRule {
  minTimeoutMs: number;
  minThreshold: number;
  maxThreshold: number;
}

export type AlertRules = Partial<Record<AlertResource, AlertRule>>;

export class AlertRulesError extends VoError {
  constructor(message: string) {
    super(message, "SM_ALERT_RULES");
    this.name = "AlertRulesError";
  }
}

/** Go duration ("90s", "1m30s", "1.5h", "250ms") or Aos's "HH:MM:SS". */
const GO_DURATION = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
const CLOCK_DURATION = "^[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]$";

const RULE_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["maxThreshold"],
  properties: {
    minTimeout: {
      description:
        "How long the value must stay up before the alert fires: seconds (number), a Go duration " +
        '("90s", "1m30s", "250ms") or "HH:MM:SS" (Aos). Default 0.',
      anyOf: [
        { type: "number", minimum: 0 },
        { type: "string", pattern: GO_DURATION },
        { type: "string", pattern: CLOCK_DURATION },
      ],
    },
    minThreshold: {
      description: "Below this the clock stops and a fired alert clears. Default: maxThreshold.",
      type: "integer",
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
    },
    maxThreshold: {
      description: "At or above this the clock starts.",
      type: "integer",
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
    },
  },
} as const;

/** The JSON schema of `alertRules` (draft-07, as ajv 8 checks it by default). */
export const ALERT_RULES_SCHEMA = {
  title: "node-wot-vo service alertRules",
  type: "object",
  additionalProperties: false,
  properties: {
    inTraffic: RULE_SCHEMA,
    outTraffic: RULE_SCHEMA,
    storage: RULE_SCHEMA,
    usedDisk: { ...RULE_SCHEMA, description: "Aos's name for storage; give one of the two" },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(ALERT_RULES_SCHEMA);

/** One line per schema error: where, what was wrong, what was expected. */
export function describeSchemaErrors(
  errors: readonly ErrorObject[] | null | undefined,
  root: unknown,
): string[] {
  const lines: string[] = [];
  for (const e of errors ?? []) {
    const at = e.instancePath === "" ? "(root)" : e.instancePath.slice(1).replaceAll("/", ".");
    const got = describeValue(lookup(root, e.instancePath));
    switch (e.keyword) {
      case "additionalProperties":
        lines.push(
          `unknown key '${(e.params as { additionalProperty: string }).additionalProperty}' in ${at}`,
        );
        break;
      case "required":
        lines.push(`'${(e.params as { missingProperty: string }).missingProperty}' is required in ${at}`);
        break;
      case "anyOf":
        break; // its branches said what was wrong
      default:
        lines.push(`${at} ${e.message ?? "is invalid"}, got ${got}`);
    }
  }
  return [...new Set(lines)];
}

function lookup(root: unknown, pointer: string): unknown {
  let node = root;
  for (const p of pointer.split("/").slice(1)) node = (node as Record<string, unknown> | undefined)?.[p];
  return node;
}

function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`.slice(0, 80);
}

/**
 * Parses `alertRules` (the JSON text of the column, or its value). NULL, "" and "null" mean no
 * rules. Throws AlertRulesError naming every problem.
 */
export function parseAlertRules(input: unknown): AlertRules {
  let value = input;
  if (value === null || value === undefined) return {};
  if (typeof value === "string") {
    if (value.trim() === "" || value.trim() === "null") return {};
    try {
      value = JSON.parse(value);
    } catch (err) {
      throw new AlertRulesError(`alertRules is not JSON: ${(err as Error).message}`);
    }
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    if ("storage" in value && "usedDisk" in value)
      throw new AlertRulesError("alertRules: give storage or usedDisk (Aos's name for it), not both");
    const refused = ["ram", "cpu"].filter((k) => k in value);
    if (refused.length)
      throw new AlertRulesError(
        `alertRules: ${refused.join(", ")} cannot be watched here (services share one Node process); ` +
          `use ${ALERT_RESOURCES.join(", ")}`,
      );
  }
  if (!validate(value))
    throw new AlertRulesError(
      `alertRules is invalid:\n  - ${describeSchemaErrors(validate.errors, value).join("\n  - ")}\n` +
        `  expected e.g. {"inTraffic": {"minTimeout": "30s", "minThreshold": 1000, "maxThreshold": 5000}}`,
    );
  const rules: AlertRules = {};
  for (const [key, raw] of Object.entries(value as Record<string, RawRule>)) {
    const resource: AlertResource = key === "usedDisk" ? "storage" : (key as AlertResource);
    const rule: AlertRule = {
      minTimeoutMs: parseDuration(raw.minTimeout ?? 0),
      minThreshold: raw.minThreshold ?? raw.maxThreshold,
      maxThreshold: raw.maxThreshold,
    };
    if (rule.minThreshold > rule.maxThreshold)
      throw new AlertRulesError(
        `alertRules.${key}: minThreshold ${rule.minThreshold} is above maxThreshold ${rule.maxThreshold}; ` +
          "the alert clears below minThreshold, so it must not exceed maxThreshold",
      );
    rules[resource] = rule;
  }
  return rules;
}

interface RawRule {
  minTimeout?: number | string;
  minThreshold?: number;
  maxThreshold: number;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a minTimeout (already schema-checked). */
export function parseDuration(d: number | string): number {
  if (typeof d === "number") return Math.round(d * 1000);
  const clock = /^(\d+):(\d\d):(\d\d)$/.exec(d);
  if (clock) return ((+clock[1] * 60 + +clock[2]) * 60 + +clock[3]) * 1000;
  let ms = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += parseFloat(m[1]) * UNIT_MS[m[2]];
  return Math.round(ms);
}

/** The JSON text to store for rules (minTimeout as Aos writes it, "HH:MM:SS", when whole seconds). */
export function formatAlertRules(rules: AlertRules): string {
  const out: Record<string, unknown> = {};
  for (const r of ALERT_RESOURCES) {
    const rule = rules[r];
    if (!rule) continue;
    const s = rule.minTimeoutMs / 1000;
    const timeout = Number.isInteger(s)
      ? [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60]
          .map((n) => String(n).padStart(2, "0"))
          .join(":")
      : `${rule.minTimeoutMs}ms`;
    out[r] = { minTimeout: timeout, minThreshold: rule.minThreshold, maxThreshold: rule.maxThreshold };
  }
  return JSON.stringify(out);
}

export interface AlertChange {
  resource: AlertResource;
  kind: "fired" | "cleared";
  /** The sample that caused the change. */
  value: number;
  /** When (ms since the epoch, from the clock). */
  at: number;
  /** When the value first reached maxThreshold. */
  since: number;
  rule: AlertRule;
}

export type AlertSample = Partial<Record<AlertResource, number>>;

/**
 * Evaluates one service's rules over samples. Pure apart from its own state: no timers, the time
 * comes from the caller or the injected clock.
 */
export class AlertEvaluator {
  readonly #rules: AlertRules;
  readonly #now: () => number;
  readonly #since = new Map<AlertResource, number>();
  readonly #fired = new Set<AlertResource>();

  constructor(rules: AlertRules, options: { now?: () => number } = {}) {
    this.#rules = rules;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one sample per resource (missing resources keep their state); returns what changed. */
  evaluate(sample: AlertSample, at: number = this.#now()): AlertChange[] {
    const changes: AlertChange[] = [];
    for (const resource of ALERT_RESOURCES) {
      const rule = this.#rules[resource];
      const value = sample[resource];
      if (!rule || value === undefined || !Number.isFinite(value)) continue;
      let since = this.#since.get(resource);
      if (since === undefined && value >= rule.maxThreshold) this.#since.set(resource, (since = at));
      if (since !== undefined && value < rule.minThreshold) {
        this.#since.delete(resource);
        if (this.#fired.delete(resource)) changes.push({ resource, kind: "cleared", value, at, since, rule });
        continue;
      }
      if (since !== undefined && !this.#fired.has(resource) && at - since >= rule.minTimeoutMs) {
        this.#fired.add(resource);
        changes.push({ resource, kind: "fired", value, at, since, rule });
      }
    }
    return changes;
  }

  /** Resources whose alert is fired now. */
  active(): AlertResource[] {
    return ALERT_RESOURCES.filter((r) => this.#fired.has(r));
  }
}
