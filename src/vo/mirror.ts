/**
 * Device mirroring (vo-wot's `proxy` maps): the VO consumes the device's TD and exposes a mirror
 * thing that re-exposes the chosen properties, actions and events.
 *
 *  - Reads are forwarded to the device; the value read is recorded (as a `change` of the mirror's
 *    property, through emitPropertyChange, so the recorder sees it like any other change).
 *  - Writes and action invocations are forwarded; the recorder records them on the mirror thing.
 *  - Device events are re-emitted by the mirror thing (recorded as `emit`).
 *  - While the device is unreachable, reads answer the last recorded value (writes or reads) of
 *    the mirror's property. The value keeps its schema; its timestamp is conveyed by the response
 *    headers `X-VO-Source: history`, `X-VO-Value-Time` (ISO 8601) and `Last-Modified`, and by the
 *    plugin property `mirrorStatus` (for clients that cannot see headers, like node-wot's consumer).
 *    Writes and invocations answer 503 while the device is unreachable.
 *
 * The device is (re)connected by the device check: whenever a check fetches the device's TD, a
 * mirror that is not connected (first time, after an outage, after a broken event subscription)
 * consumes it afresh and subscribes to its events. The device's TD is cached next to the SQLite
 * file, so a VO restarted while its device is down still exposes the mirror and answers from history.
 */
import fs from "node:fs";
import type { ExposedThing } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import type { VoRoomOptions } from "./options";
import type { VoHost } from "./host";
import { PLUGIN_ANNOTATION, type JsonValue } from "../types";
import { VoInputError, errorMessage } from "../errors";
import { createLogger } from "../log";
import { currentRequest, guarded, needsRequestContext } from "../node-wot/request-context";
import { bounded } from "./status";

const log = createLogger("vo");

export const MIRROR_STATUS = "mirrorStatus";

type DeviceOptions = NonNullable<VoRoomOptions["device"]>;
type Td = Record<string, unknown>;
type AffordanceMap = Record<string, Record<string, unknown>>;
type Kind = "properties" | "actions" | "events";

interface Served {
  source: "device" | "history";
  time: number;
}

export class DeviceMirror {
  thing: ExposedThing | undefined;
  private consumed: WoT.ConsumedThing | undefined;
  private subscriptions: WoT.Subscription[] = [];
  private broken = false;
  private online = false;
  private lastError: string | undefined;
  private readonly served = new Map<string, Served>();
  private readonly replay = new Map<string, unknown>();
  private producing: Promise<void> | undefined;
  private readonly cacheFile: string | undefined;
  /** name on the VO → name on the device, per kind (filled when the mirror is produced). */
  private map: Record<Kind, Record<string, string>> = { properties: {}, actions: {}, events: {} };

  constructor(
    private readonly host: VoHost,
    private readonly wot: typeof WoT,
    private readonly device: DeviceOptions & { tdUrl: string },
    /** Asks for a device check now (a forwarded request just failed). */
    private readonly kick: () => void,
  ) {
    this.cacheFile = host.file === ":memory:" || host.file === "" ? undefined : `${host.file}.device-td.json`;
  }

  /** Produces the mirror from the cached TD when there is one (the device may still be down). */
  async start(): Promise<void> {
    if (this.cacheFile === undefined || !fs.existsSync(this.cacheFile)) return;
    try {
      const cached = JSON.parse(fs.readFileSync(this.cacheFile, "utf8")) as { tdUrl?: string; td?: Td };
      if (cached.tdUrl === this.device.tdUrl && cached.td) await this.produce(cached.td);
    } catch (err) {
      log.warn("could not use the cached device TD %s: %s", this.cacheFile, errorMessage(err));
    }
  }

  /** The device check fetched the TD: produce the mirror if needed, (re)connect if needed. */
  async deviceUp(td: Td): Promise<void> {
    this.online = true;
    if (this.thing === undefined) {
      await this.produce(td);
      this.cache(td);
    }
    if (this.consumed === undefined || this.broken) {
      await this.disconnect();
      await this.connect(td);
      this.cache(td);
    }
  }

  deviceDown(error: string | undefined): void {
    this.online = false;
    this.lastError = error;
    if (this.consumed !== undefined) void this.disconnect();
  }

  async stop(): Promise<void> {
    await this.producing?.catch(() => undefined);
    await this.disconnect();
  }

  get connected(): boolean {
    return this.consumed !== undefined && !this.broken;
  }

  private cache(td: Td): void {
    if (this.cacheFile === undefined) return;
    try {
      fs.writeFileSync(this.cacheFile, JSON.stringify({ tdUrl: this.device.tdUrl, td }));
    } catch (err) {
      log.warn("could not cache the device TD in %s: %s", this.cacheFile, errorMessage(err));
    }
  }

  private async connect(td: Td): Promise<void> {
    const consumed = await this.wot.consume(td as WoT.ThingDescription);
    this.consumed = consumed;
    this.broken = false;
    const thing = this.thing!;
    for (const [voName, devName] of Object.entries(this.map.events)) {
      const schema = (consumed.getThingDescription().events as AffordanceMap | undefined)?.[devName]?.data;
      try {
        const sub = await bounded(
          consumed.subscribeEvent(
            devName,
            async (data) => {
              try {
                thing.emitEvent(voName, (await outputValue(data, schema)) as WoT.InteractionInput);
              } catch (err) {
                // node-wot's long-poll client may concatenate a burst of events (issue #1231).
                log.warn("device event '%s' dropped: %s", devName, errorMessage(err));
              }
            },
            (err) => {
              if (this.consumed !== consumed) return;
              log.warn("subscription to device event '%s' ended: %s", devName, errorMessage(err));
              this.broken = true;
              this.kick();
            },
          ),
          this.device.timeoutMs,
          `subscribing to the device event '${devName}' timed out`,
        );
        this.subscriptions.push(sub);
      } catch (err) {
        log.warn("could not subscribe to device event '%s': %s", devName, errorMessage(err));
        this.broken = true;
      }
    }
    log.info("mirror '%s' connected to the device at %s", thing.title, this.device.tdUrl);
  }

  private async disconnect(): Promise<void> {
    const subs = this.subscriptions;
    this.subscriptions = [];
    this.consumed = undefined;
    await Promise.all(
      subs.map((s) =>
        bounded(s.stop(), this.device.timeoutMs, "unsubscribe timed out").catch(() => undefined),
      ),
    );
  }

  private produce(td: Td): Promise<void> {
    this.producing ??= this.doProduce(td).catch((err) => {
      this.producing = undefined;
      throw err;
    });
    return this.producing;
  }

  private async doProduce(td: Td): Promise<void> {
    const init = this.mirrorInit(td);
    const thing = (await this.wot.produce(init as WoT.ExposedThingInit)) as unknown as ExposedThing;
    for (const [voName, devName] of Object.entries(this.map.properties)) {
      const readOnly = (thing.properties[voName] as { readOnly?: boolean }).readOnly === true;
      thing.setPropertyReadHandler(voName, (o) => guarded(() => this.read(voName, devName, o)));
      if (!readOnly)
        thing.setPropertyWriteHandler(voName, (v, o) => guarded(() => this.write(voName, devName, v, o)));
    }
    for (const [voName, devName] of Object.entries(this.map.actions)) {
      thing.setActionHandler(voName, (params, o) => guarded(() => this.invoke(voName, devName, params, o)));
    }
    thing.setPropertyReadHandler(MIRROR_STATUS, async () => this.status() as unknown as WoT.InteractionInput);
    needsRequestContext(thing);
    try {
      await thing.expose();
    } catch (err) {
      await thing.destroy().catch(() => undefined); // so that the next check can produce it again
      throw err;
    }
    this.thing = thing;
    log.info("mirror '%s' exposed for the device at %s", thing.title, this.device.tdUrl);
  }

  private mirrorInit(td: Td): Record<string, unknown> {
    const chosen = this.device.mirror;
    const pick = (kind: Kind): AffordanceMap => {
      const source = (td[kind] ?? {}) as AffordanceMap;
      const wanted =
        chosen === undefined
          ? Object.fromEntries(Object.keys(source).map((n) => [n, n]))
          : (chosen[kind] ?? {});
      const out: AffordanceMap = {};
      for (const [voName, devName] of Object.entries(wanted)) {
        const a = source[devName];
        if (a === undefined) {
          log.warn("the device has no %s '%s' to mirror (as '%s')", kind.slice(0, -1), devName, voName);
          continue;
        }
        const copy = structuredClone(a);
        delete copy.forms;
        if (kind === "properties") copy.observable = false;
        copy.description = `${typeof a.description === "string" ? a.description + " " : ""}(mirrors the device's '${devName}')`;
        out[voName] = copy;
        this.map[kind][voName] = devName;
      }
      return out;
    };
    const properties = pick("properties");
    const actions = pick("actions");
    const events = pick("events");
    const title = this.device.thingTitle ?? `${typeof td.title === "string" ? td.title : "Device"} VO`;
    const init: Record<string, unknown> = {
      title,
      id: this.device.thingId ?? mirrorId(this.device.tdUrl),
      description: `Virtual Object mirroring the device at ${this.device.tdUrl} (node-wot-vo)`,
      properties: {
        ...properties,
        [MIRROR_STATUS]: {
          title: "Mirror status",
          description:
            "Connection to the device, and for each mirrored property the last recorded value with its time and where the last read was answered from ('device', or 'history' while the device is unreachable). Added by node-wot-vo.",
          type: "object",
          readOnly: true,
          writeOnly: false,
          observable: false,
          [PLUGIN_ANNOTATION]: true,
        },
      },
      actions,
      events,
    };
    if (td["@context"] !== undefined) init["@context"] = structuredClone(td["@context"]);
    if (td["@type"] !== undefined) init["@type"] = structuredClone(td["@type"]);
    return init;
  }

  status(): Record<string, unknown> {
    const properties: Record<string, unknown> = {};
    for (const voName of Object.keys(this.map.properties)) {
      const row = this.thing
        ? this.host.history.latest({ thingId: this.thing.id, kind: "property", name: voName, okOnly: true })
        : undefined;
      const served = this.served.get(voName);
      properties[voName] = {
        value: row?.value ?? null,
        time: row?.time ?? null,
        at: row ? new Date(row.time).toISOString() : null,
        servedFrom: served?.source ?? null,
      };
    }
    return {
      device: {
        tdUrl: this.device.tdUrl,
        online: this.online,
        connected: this.connected,
        ...(this.lastError && !this.online ? { error: this.lastError } : {}),
      },
      properties,
    };
  }

  private usable(): WoT.ConsumedThing | undefined {
    return this.online ? this.consumed : undefined;
  }

  private async read(
    voName: string,
    devName: string,
    options?: WoT.InteractionOptions,
  ): Promise<WoT.InteractionInput> {
    // Inside our own emitPropertyChange: hand the recorder the value just read.
    if (this.replay.has(voName)) return this.replay.get(voName) as WoT.InteractionInput;
    const consumed = this.usable();
    let failure = this.online
      ? "the device is not connected"
      : `the device is unreachable${this.lastError ? ` (${this.lastError})` : ""}`;
    if (consumed !== undefined) {
      try {
        const out = await bounded(
          consumed.readProperty(devName, uriOptions(options)),
          this.device.timeoutMs,
          `reading '${devName}' from the device timed out after ${this.device.timeoutMs} ms`,
        );
        const schema = (consumed.getThingDescription().properties as AffordanceMap)[devName];
        const value = (await outputValue(out, schema)) as WoT.InteractionInput;
        this.served.set(voName, { source: "device", time: Date.now() });
        this.replay.set(voName, value);
        try {
          await this.thing!.emitPropertyChange(voName);
        } finally {
          this.replay.delete(voName);
        }
        return value;
      } catch (err) {
        failure = errorMessage(err);
        log.warn("reading '%s' from the device failed: %s; answering from history", devName, failure);
        this.kick();
      }
    }
    return this.fromHistory(voName, failure);
  }

  private fromHistory(voName: string, failure: string): WoT.InteractionInput {
    const row = this.host.history.latest({
      thingId: this.thing!.id,
      kind: "property",
      name: voName,
      okOnly: true,
    });
    if (row === undefined || row.value === undefined) {
      throw new VoInputError(
        `${failure}, and '${voName}' has no recorded value yet`,
        "VO_DEVICE_UNAVAILABLE",
      );
    }
    this.served.set(voName, { source: "history", time: row.time });
    const ctx = currentRequest();
    if (ctx !== undefined && !ctx.res.headersSent) {
      const at = new Date(row.time);
      ctx.res.setHeader("X-VO-Source", "history");
      ctx.res.setHeader("X-VO-Value-Time", at.toISOString());
      ctx.res.setHeader("Last-Modified", at.toUTCString());
      ctx.res.setHeader("Warning", '110 - "Response is Stale"');
    }
    return row.value as WoT.InteractionInput;
  }

  private async write(
    voName: string,
    devName: string,
    value: WoT.InteractionOutput,
    options?: WoT.InteractionOptions,
  ): Promise<void> {
    const v = await inputValue(value);
    const consumed = this.forwardTarget(voName);
    await this.forward(
      () => consumed.writeProperty(devName, v as WoT.InteractionInput, uriOptions(options)),
      `writing '${devName}' to the device`,
      `the device did not take the write of '${voName}'`,
    );
  }

  /** A request to the device, bounded by its timeout; a failure means the device is unavailable (503). */
  private async forward<T>(request: () => Promise<T>, what: string, failure: string): Promise<T> {
    try {
      return await bounded(
        request(),
        this.device.timeoutMs,
        `${what} timed out after ${this.device.timeoutMs} ms`,
      );
    } catch (err) {
      this.kick();
      throw new VoInputError(`${failure}: ${errorMessage(err)}`, "VO_DEVICE_UNAVAILABLE");
    }
  }

  private async invoke(
    voName: string,
    devName: string,
    params: WoT.InteractionOutput,
    options?: WoT.InteractionOptions,
  ): Promise<WoT.InteractionInput> {
    const input = await inputValue(params);
    const consumed = this.forwardTarget(voName);
    const out = await this.forward(
      () => consumed.invokeAction(devName, input as WoT.InteractionInput, uriOptions(options)),
      `invoking '${devName}' on the device`,
      `the device did not run '${voName}'`,
    );
    const output = (consumed.getThingDescription().actions as AffordanceMap)[devName]?.output;
    return (
      output === undefined || out === undefined ? undefined : await outputValue(out, output)
    ) as WoT.InteractionInput;
  }

  private forwardTarget(voName: string): WoT.ConsumedThing {
    const consumed = this.usable();
    if (consumed === undefined)
      throw new VoInputError(
        `the device is unreachable${this.lastError ? ` (${this.lastError})` : ""}: '${voName}' cannot be forwarded`,
        "VO_DEVICE_UNAVAILABLE",
      );
    return consumed;
  }
}

/** Stable id of the mirror thing: the history is keyed by it, so it must survive restarts. */
export function mirrorId(tdUrl: string): string {
  const u = new URL(tdUrl);
  const slug = `${u.hostname}-${u.port || (u.protocol === "https:" ? "443" : "80")}${u.pathname}`
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/-+$/, "");
  return `urn:node-wot-vo:mirror:${slug}`;
}

function uriOptions(options?: WoT.InteractionOptions): WoT.InteractionOptions | undefined {
  return options?.uriVariables && Object.keys(options.uriVariables).length > 0
    ? { uriVariables: options.uriVariables }
    : undefined;
}

function typed(schema: unknown): boolean {
  const s = schema as Record<string, unknown> | undefined;
  return (
    s !== undefined &&
    (s.type !== undefined || s.oneOf !== undefined || s.enum !== undefined || s.const !== undefined)
  );
}

/** The value of an InteractionOutput: validated when the schema allows, else parsed JSON. */
async function outputValue(out: WoT.InteractionOutput, schema: unknown): Promise<JsonValue | undefined> {
  if (typed(schema)) return (await out.value()) as JsonValue;
  const bytes = Buffer.from(await out.arrayBuffer());
  if (bytes.length === 0) return undefined;
  const text = bytes.toString("utf8");
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** The value a client sent to the mirror (its schema is the device's). */
async function inputValue(input: WoT.InteractionOutput): Promise<JsonValue | undefined> {
  return outputValue(input, (input as { schema?: unknown }).schema);
}
