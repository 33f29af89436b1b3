/**
 * The batch builder: history rows after an id → line-protocol payloads, one per bucket, in the
 * order of the rows; a row that cannot be read or built is dead-lettered alone (with a bounded
 * description, never its value stringified) and never stops the queue. It also counts each row's
 * size for the outbox cursor. The official client's WriteBuffer, fed from SQLite.
 *
 * Rows are read once, `readChunkRows` at a time, as packed raw tuples (HistoryStore.readOutbox),
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
  parseStoredJson,
  type HistoryStore,
  type OutboxExtras,
  type SeriesInfo,
} from "../store/history";
import type { HistoryRow, RecordOp } from "../types";
import { errorMessage } from "../errors";
import { ROW_OVERHEAD_BYTES, type PendingDead, type ShippedRange } from "./outbox-cursor";
import { nanos, scalarFieldsOfText, type PointLayout } from "./points";

/** Characters of a row's stored value quoted in the dead letter of a row that cannot be shipped. */
const DESCRIBE_CHARS = 200;

/** The lines of one bucket (database) of a batch, and the history id of each. */
export interface Payload {
  bucket: string;
  lines: string[];
  ids: number[];
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
    for (const p of this.payloads) n += p.lines.length;
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

/** What the builder keeps per series for one batch. */
interface SeriesLines {
  info: SeriesInfo;
  /** Line prefixes by op × source code (flags & 0x7f). */
  prefixes: (string | undefined)[];
  /** The value schema says integer. */
  integer: boolean;
  /** Rows of this series can take the stored-text path (tagged layout, property or event). */
  fast: boolean;
}

export class BatchBuilder {
  private readonly describeRow: Database.Statement;
  private series = new Map<number, SeriesLines | null>();
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
    // Series titles and TD types are looked up again for every batch.
    this.series.clear();
    this.seriesRevision = this.history.seriesRevision;
    const { batchSize, readChunkRows } = this.options;
    while (batch.count < batchSize) {
      const started = performance.now();
      const rows = this.history.readOutbox(batch.last, Math.min(readChunkRows, batchSize - batch.count));
      if (rows.length === 0) break;
      if (this.history.seriesRevision !== this.seriesRevision) {
        this.series.clear();
        this.seriesRevision = this.history.seriesRevision;
      }
      this.buildRows(batch, rows);
      if (rows.length < readChunkRows) break;
      await this.pause(performance.now() - started);
      if (cancelled()) return undefined;
    }
    return batch.count === 0 ? undefined : batch;
  }

  private buildRows(batch: Batch, rows: ReturnType<HistoryStore["readOutbox"]>): void {
    const layout = this.layout;
    const tagged = layout.taggedLayout;
    const bucket = layout.defaultBucket;
    let payload: Payload | undefined = batch.payloads[0];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const id = row[0];
      const key = row[1];
      const value = row[4];
      const flags = key % 512;
      batch.count++;
      batch.last = id;
      let series = this.series.get(outboxSeries(key));
      if (series === undefined) series = this.seriesLines(outboxSeries(key));
      if (tagged && series !== null && series.fast && (flags & OUTBOX_MORE) === 0) {
        const opSource = flags & 0x7f;
        if (opSource >= 16 && (opSource & 15) !== 0) {
          const ok = (flags & OUTBOX_OK) !== 0;
          if (ok || series.info.kind !== "property") {
            const fields = scalarFieldsOfText(value, ok, series.integer);
            if (fields !== undefined) {
              let prefix = series.prefixes[opSource];
              if (prefix === undefined) prefix = this.prefix(series, opSource);
              if (payload === undefined || payload.bucket !== bucket)
                payload = this.payloadFor(batch, bucket);
              payload.lines.push(`${prefix} ${fields} ${nanos(row[2], row[3])}`);
              payload.ids.push(id);
              batch.row(id, (value === null ? 0 : value.length) + ROW_OVERHEAD_BYTES);
              continue;
            }
          }
        }
      }
      payload = this.buildOne(batch, row, series, flags);
    }
    const last = rows[rows.length - 1];
    batch.lastStamp = `${last[2]}.${last[3]}`;
  }

  /** A row the general way: parsed, as a HistoryRow, through PointLayout.build. */
  private buildOne(
    batch: Batch,
    row: ReturnType<HistoryStore["readOutbox"]>[number],
    series: SeriesLines | null,
    flags: number,
  ): Payload | undefined {
    const [id, key, ts, tsSub, value] = row;
    let extras: OutboxExtras | undefined;
    const opCode = (flags >> 4) & 7;
    const sourceCode = flags & 15;
    if ((flags & OUTBOX_MORE) !== 0 || opCode === 0 || sourceCode === 0) {
      extras = this.history.outboxExtras(id);
    }
    const output = extras?.[2] ?? null;
    const error = extras?.[3] ?? null;
    batch.row(id, (value?.length ?? 0) + (output?.length ?? 0) + (error?.length ?? 0) + ROW_OVERHEAD_BYTES);
    if (series === null) {
      batch.dead.push(
        this.unshippable(
          id,
          `could not read the history row: its series ${outboxSeries(key)} is missing from wotvo_series`,
        ),
      );
      return undefined;
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
        op: (extras?.[0] ?? OUTBOX_OPS[opCode]) as RecordOp,
        ok: (flags & OUTBOX_OK) !== 0,
        source: extras?.[1] ?? OUTBOX_SOURCES[sourceCode],
      };
      if (value !== null) r.value = parseStoredJson(value);
      if (output !== null) r.output = parseStoredJson(output);
      if (error !== null) r.error = error;
      if (extras !== undefined && extras[4] !== null) r.durationMs = extras[4];
      point = this.layout.build(r);
    } catch (err) {
      batch.dead.push(this.unshippable(id, `could not build a point: ${errorMessage(err)}`));
      return undefined;
    }
    const payload = this.payloadFor(batch, point.bucket);
    payload.lines.push(point.line);
    payload.ids.push(id);
    return payload;
  }

  private payloadFor(batch: Batch, bucket: string): Payload {
    let payload = batch.payloads.find((p) => p.bucket === bucket);
    if (payload === undefined) batch.payloads.push((payload = { bucket, lines: [], ids: [] }));
    return payload;
  }

  /** Series info, TD types and prefixes of a series for this batch; null when the series is gone. */
  private seriesLines(seriesId: number): SeriesLines | null {
    const info = this.history.seriesOf(seriesId) ?? null;
    let lines: SeriesLines | null = null;
    if (info !== null) {
      const kind = info.kind as string;
      const types = kind === "property" || kind === "event" ? this.layout.typesOf(info) : undefined;
      lines = {
        info,
        prefixes: [],
        integer: types?.value?.t === "integer",
        fast: kind === "property" || kind === "event",
      };
    }
    this.series.set(seriesId, lines);
    return lines;
  }

  private prefix(series: SeriesLines, opSource: number): string {
    const prefix = this.layout.taggedPrefix({
      ...series.info,
      seriesId: series.info.id,
      op: OUTBOX_OPS[opSource >> 4] as RecordOp,
      source: OUTBOX_SOURCES[opSource & 15],
    });
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
