/**
 * The batch builder: history rows after an id → line-protocol payloads, one per bucket, in the
 * order of the rows; a row that cannot be read or built is dead-lettered alone (with a bounded
 * description, never its value stringified) and never stops the queue. It also counts each row's
 * size for the outbox cursor. The official client's WriteBuffer, fed from SQLite.
 *
 * Rows are read once, `readChunkRows` at a time, one text per row (HistoryStore.readOutbox),
 * with `pause(stepMs)` awaited between chunks. In the tagged layout a scalar value (most rows)
 * becomes its line straight from the stored JSON text: no parse, no intermediate row object, the
 * series' measurement and tags escaped once per batch. Anything else is parsed and built through
 * PointLayout.build, the reference the fast path is tested against.
 */
import type * as Database from "better-sqlite3"; // not a default import: consumers need no esModuleInterop
import {
  OUTBOX_MORE,
  OUTBOX_OK,
  OUTBOX_OPS,
  OUTBOX_SOURCES,
  outboxSeries,
  outboxStamp,
  parseStoredJson,
  type HistoryStore,
  type OutboxExtras,
  type OutboxChunk,
  type SeriesInfo,
} from "../store/history";
import type { HistoryRow, RecordOp } from "../types";
import { errorMessage } from "../errors";
import { ROW_OVERHEAD_BYTES, type PendingDead, type ShippedRange } from "./outbox-cursor";
import { scalarFieldsOfText, type AffordanceTypes, type PointLayout } from "./points";

/** `text` as one flat string (V8 flattens a string built by concatenation when it is indexed). */
function flat(text: string): string {
  void text.charCodeAt(0);
  return text;
}

/** The stamp of an outbox row's text: between its first and second space. */
function stampOf(text: string): string {
  const space = text.indexOf(" ");
  const second = text.indexOf(" ", space + 1);
  return second < 0 ? text.slice(space + 1) : text.slice(space + 1, second);
}

/** Characters of a row's stored value quoted in the dead letter of a row that cannot be shipped. */
const DESCRIBE_CHARS = 200;

/**
 * The lines of one bucket (database) of a batch and the history id of each. The lines of every
 * chunk of rows are joined into one string as soon as the chunk is built: a batch in flight is a
 * few long strings and two arrays of numbers, not thousands of small strings for the GC to copy.
 */
export class Payload {
  /** History id of each line. */
  readonly ids: number[] = [];
  /** Character offset just past each line in `text` (lines are separated by "\n"). */
  readonly ends: number[] = [];
  private parts: string[] = [];
  /** The lines of the chunk being built, already separated (a string grown by +=, flattened once). */
  private pending = "";
  private chars = 0;

  constructor(readonly bucket: string) {}

  get count(): number {
    return this.ids.length;
  }

  add(line: string, id: number): void {
    this.addParts(line, "", "", id);
  }

  /** Adds the line `a + b + c` without making it a string of its own first. */
  addParts(a: string, b: string, c: string, id: number): void {
    if (this.pending.length > 0) this.pending += "\n";
    this.pending += a;
    this.pending += b;
    this.pending += c;
    this.ids.push(id);
    const end = this.chars + a.length + b.length + c.length;
    this.ends.push(end);
    this.chars = end + 1;
  }

  /** Ends a chunk: its lines become one flat string. */
  seal(): void {
    if (this.pending.length === 0) return;
    this.parts.push(flat(this.pending));
    this.pending = "";
  }

  /** Every line, separated by "\n". */
  get text(): string {
    this.seal();
    if (this.parts.length > 1) this.parts = [this.parts.join("\n")];
    return this.parts[0] ?? "";
  }

  /** Lines [from, to) as one request body. */
  body(from: number, to: number): string {
    const text = this.text;
    return from === 0 && to === this.count ? text : text.slice(this.start(from), this.ends[to - 1]);
  }

  line(i: number): string {
    return this.text.slice(this.start(i), this.ends[i]);
  }

  private start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1] + 1;
  }
}

/** A batch read and built, not yet written: the rows after `after`, up to `last`. */
export class Batch implements ShippedRange {
  readonly payloads: Payload[] = [];
  /** Rows that could not be read or built. */
  readonly dead: PendingDead[] = [];
  /** Points the server refused (malformed, too large, a bucket that cannot be created). */
  readonly refused: PendingDead[] = [];
  /** Rows read, readable or not. */
  count = 0;
  last: number;
  /** `ts.ts_sub` of the last row (kept in wotvo_meta with the cursor). */
  lastStamp = "";
  /** History id and outbox size of every row read, in order. */
  private readonly rowIds: number[] = [];
  private readonly rowBytes: number[] = [];

  constructor(readonly after: number) {
    this.last = after;
  }

  /** Lines to write, all buckets. */
  get lines(): number {
    let n = 0;
    for (const p of this.payloads) n += p.count;
    return n;
  }

  bytesBetween(after: number, upTo: number): number {
    let sum = 0;
    const ids = this.rowIds;
    for (let i = 0; i < ids.length; i++) if (ids[i] > after && ids[i] <= upTo) sum += this.rowBytes[i];
    return sum;
  }

  /** Points written and accepted with a history id above `after` (the cursor, when it moved meanwhile). */
  acceptedAbove(after: number): number {
    const refused = this.refused.length === 0 ? undefined : new Set(this.refused.map((d) => d.historyId));
    let n = 0;
    for (const p of this.payloads) for (const id of p.ids) if (id > after && !refused?.has(id)) n++;
    return n;
  }

  /** @internal the builder records a row read */
  row(id: number, bytes: number): void {
    this.rowIds.push(id);
    this.rowBytes.push(bytes);
  }
}

/** What the builder keeps per series (until a title changes). */
interface SeriesLines {
  info: SeriesInfo;
  /** Line prefixes by op × source code (flags & 0x7f), each with the space after it. */
  prefixes: (string | undefined)[];
  /** The TD types (looked up again every TYPES_TTL_MS); `integer`: the value's says integer. */
  types: AffordanceTypes | undefined;
  integer: boolean;
  typesAt: number;
  /** Rows of this series can take the stored-text path (tagged layout, property or event). */
  fast: boolean;
}

/** How long the builder trusts a series' TD types before asking the layout again. */
const TYPES_TTL_MS = 1000;
/** Series kept in the builder's cache at most (then it starts over). */
const MAX_CACHED_SERIES = 100_000;

export class BatchBuilder {
  private readonly describeRow: Database.Statement;
  private readonly series = new Map<number, SeriesLines | null>();
  private seriesRevision = -1;

  constructor(
    db: Database.Database,
    private readonly history: HistoryStore,
    private readonly layout: PointLayout,
    private readonly options: { batchSize: number; readChunkRows: number },
    /** Awaited between chunks of rows (a turn of the event loop, or longer when interactions wait). */
    private readonly pause: (stepMs: number) => Promise<void>,
  ) {
    this.describeRow = db.prepare(
      `SELECT h.series_id AS seriesId, s.thing_id AS thingId, s.kind, s.name,
         substr(h.value, 1, ${DESCRIBE_CHARS}) AS head, length(h.value) AS chars
       FROM wotvo_history h LEFT JOIN wotvo_series s ON s.id = h.series_id WHERE h.id = ?`,
    );
  }

  /**
   * Reads and builds up to `batchSize` rows after `after`; undefined when there are none or
   * `cancelled()` says so between chunks. SQLite's own errors are thrown (the shipper backs off).
   */
  async build(after: number, cancelled: () => boolean): Promise<Batch | undefined> {
    const batch = new Batch(after);
    const { batchSize, readChunkRows } = this.options;
    while (batch.count < batchSize) {
      const started = performance.now();
      const chunk = this.history.readOutbox(batch.last, Math.min(readChunkRows, batchSize - batch.count));
      if (chunk.rows.length === 0) break;
      if (this.history.seriesRevision !== this.seriesRevision || this.series.size > MAX_CACHED_SERIES) {
        this.series.clear();
        this.seriesRevision = this.history.seriesRevision;
      }
      this.buildRows(batch, chunk, Date.now());
      if (chunk.rows.length < readChunkRows) break;
      await this.pause(performance.now() - started);
      if (cancelled()) return undefined;
    }
    return batch.count === 0 ? undefined : batch;
  }

  /**
   * One chunk: the rows the stored text makes lines of at once, then the others (parsed and built
   * the general way, their op, source, output, error and duration read in one statement).
   */
  private buildRows(batch: Batch, chunk: OutboxChunk, now: number): void {
    const layout = this.layout;
    const tagged = layout.taggedLayout;
    const bucket = layout.defaultBucket;
    const { rows, ids } = chunk;
    const first = batch.last + 1;
    let payload: Payload | undefined = batch.payloads.find((p) => p.bucket === bucket);
    let general: number[] | undefined;
    let incomplete: number[] | undefined;
    for (let i = 0; i < rows.length; i++) {
      const text = rows[i];
      // "<key> <stamp>[ <value>]": the key is a decimal integer.
      const space = text.indexOf(" ");
      let key = 0;
      for (let c = 0; c < space; c++) key = key * 10 + text.charCodeAt(c) - 48;
      const flags = key % 512;
      const opSource = flags & 0x7f;
      const complete = (flags & OUTBOX_MORE) === 0 && opSource >= 16 && (opSource & 15) !== 0;
      if (complete && tagged) {
        const seriesId = outboxSeries(key);
        let series = this.series.get(seriesId);
        if (series === undefined || (series !== null && now - series.typesAt > TYPES_TTL_MS)) {
          series = this.seriesLines(seriesId, now);
        }
        const ok = (flags & OUTBOX_OK) !== 0;
        const second = text.indexOf(" ", space + 1);
        if (
          series !== null &&
          series.fast &&
          (ok || series.info.kind !== "property") &&
          text.charCodeAt(space + 1) !== 61
        ) {
          const value = second < 0 ? null : text.slice(second + 1);
          let fields = scalarFieldsOfText(value, ok, series.integer);
          if (fields === undefined && value !== null && value.charCodeAt(0) === 123) {
            // "{": a flat object is written from a plan of its shape, not the general way.
            const parsed = parseStoredJson(value);
            fields = layout.flatFields(
              series.info.kind,
              ok,
              undefined,
              undefined,
              parsed,
              undefined,
              series.types,
            );
          }
          if (fields !== undefined) {
            const id = ids === undefined ? first + i : ids[i];
            // " <stamp>", with the space before it, as a slice of the row's text.
            const stamp = second < 0 ? text.slice(space) : text.slice(space, second);
            const prefix = series.prefixes[opSource] ?? this.prefix(series, opSource);
            payload ??= this.payloadFor(batch, bucket);
            payload.addParts(prefix, fields, stamp, id);
            batch.row(id, (value === null ? 0 : value.length) + ROW_OVERHEAD_BYTES);
            continue;
          }
        }
      }
      (general ??= []).push(i);
      if (!complete) (incomplete ??= []).push(ids === undefined ? first + i : ids[i]);
    }
    batch.count += rows.length;
    batch.last = chunk.last;
    const lastText = rows[rows.length - 1];
    const [ts, tsSub] = outboxStamp(stampOf(lastText));
    batch.lastStamp = `${ts}.${tsSub}`;
    if (general !== undefined) {
      const more = new Map<number, OutboxExtras>();
      if (incomplete !== undefined) for (const e of this.history.outboxExtras(incomplete)) more.set(e[0], e);
      for (const i of general) {
        const id = ids === undefined ? first + i : ids[i];
        this.buildOne(batch, id, rows[i], more.get(id), now);
      }
    }
    for (const p of batch.payloads) p.seal();
  }

  /** A row the general way: parsed, as a HistoryRow, through PointLayout.build. */
  private buildOne(
    batch: Batch,
    id: number,
    text: string,
    extras: OutboxExtras | undefined,
    now: number,
  ): void {
    const space = text.indexOf(" ");
    const key = Number(text.slice(0, space));
    const second = text.indexOf(" ", space + 1);
    const value = second < 0 ? null : text.slice(second + 1);
    const [ts, tsSub] = outboxStamp(stampOf(text));
    const flags = key % 512;
    const output = extras?.[3] ?? null;
    const error = extras?.[4] ?? null;
    batch.row(id, (value?.length ?? 0) + (output?.length ?? 0) + (error?.length ?? 0) + ROW_OVERHEAD_BYTES);
    let series = this.series.get(outboxSeries(key));
    if (series === undefined) series = this.seriesLines(outboxSeries(key), now);
    if (series === null) {
      batch.dead.push(
        this.unshippable(
          id,
          `could not read the history row: its series ${outboxSeries(key)} is missing from wotvo_series`,
        ),
      );
      return;
    }
    let point;
    try {
      const r: HistoryRow = {
        id,
        seriesId: series.info.id,
        time: ts,
        timeSub: tsSub,
        thingId: series.info.thingId,
        thingTitle: series.info.thingTitle,
        kind: series.info.kind,
        name: series.info.name,
        op: (extras?.[1] ?? OUTBOX_OPS[(flags >> 4) & 7]) as RecordOp,
        ok: (flags & OUTBOX_OK) !== 0,
        source: extras?.[2] ?? OUTBOX_SOURCES[flags & 15],
      };
      if (value !== null) r.value = parseStoredJson(value);
      if (output !== null) r.output = parseStoredJson(output);
      if (error !== null) r.error = error;
      if (extras !== undefined && extras[5] !== null) r.durationMs = extras[5];
      // Values parsed by the store are never nested deeper than 512 (they come as a marker).
      point = this.layout.build(r, true);
    } catch (err) {
      batch.dead.push(this.unshippable(id, `could not build a point: ${errorMessage(err)}`));
      return;
    }
    this.payloadFor(batch, point.bucket).add(point.line, id);
  }

  private payloadFor(batch: Batch, bucket: string): Payload {
    let payload = batch.payloads.find((p) => p.bucket === bucket);
    if (payload === undefined) batch.payloads.push((payload = new Payload(bucket)));
    return payload;
  }

  /** Series info, TD types and line prefixes of a series; null when the series is gone. */
  private seriesLines(seriesId: number, now: number): SeriesLines | null {
    const cached = this.series.get(seriesId);
    const info = cached?.info ?? this.history.seriesOf(seriesId) ?? null;
    let lines: SeriesLines | null = null;
    if (info !== null) {
      const kind = info.kind as string;
      const fast = kind === "property" || kind === "event";
      const types = fast ? this.layout.typesOf({ ...info, seriesId: info.id }) : undefined;
      lines = {
        info,
        prefixes: cached?.prefixes ?? [],
        types,
        integer: types?.value?.t === "integer",
        typesAt: now,
        fast,
      };
    }
    this.series.set(seriesId, lines);
    return lines;
  }

  /** The line prefix (measurement and tags) of a series and op × source code, with its space. */
  private prefix(series: SeriesLines, opSource: number): string {
    const prefix = `${this.layout.taggedPrefix({
      ...series.info,
      seriesId: series.info.id,
      op: OUTBOX_OPS[opSource >> 4] as RecordOp,
      source: OUTBOX_SOURCES[opSource & 15],
    })} `;
    series.prefixes[opSource] = prefix;
    return prefix;
  }

  /** The dead letter of a row that cannot become a point: its reason and a bounded description. */
  private unshippable(historyId: number, reason: string): PendingDead {
    const d = this.describeRow.get(historyId) as
      | {
          seriesId: number;
          thingId: string | null;
          kind: string | null;
          name: string | null;
          head: string | null;
          chars: number | null;
        }
      | undefined;
    const cut = (text: string) => (text.length > DESCRIBE_CHARS ? `${text.slice(0, DESCRIBE_CHARS)}…` : text);
    let line = `history row ${historyId}`;
    if (d !== undefined) {
      line +=
        d.thingId === null
          ? ` (series ${d.seriesId}: missing)`
          : ` (thing ${JSON.stringify(cut(d.thingId))}, ${d.kind} ${JSON.stringify(cut(d.name ?? ""))})`;
      if (d.head !== null) {
        line += `: value (${d.chars} characters) ${d.head}${(d.chars ?? 0) > DESCRIBE_CHARS ? "…" : ""}`;
      }
    }
    return { historyId, bucket: "", line, status: 0, reason };
  }
}
