/**
 * Payload handling for the recorder: read a binding's `Content` once, hand node-wot a buffered copy
 * (so handlers that use `value()`, `data` or `arrayBuffer()` still work), and turn the bytes into
 * JSON text for the history without parsing what is already JSON twice.
 */
import { Readable } from "node:stream";
import { Content, ContentSerdes } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import { jsonDeeperThan, tooDeepMarker } from "../json-depth";
import { VoInputError } from "../errors";

type DataSchema = WoT.DataSchema;

/**
 * A `Content` whose bytes are already in memory. `toBuffer()` (what InteractionOutput.value() and
 * arrayBuffer() use) returns them without a stream; `body` makes a stream only when asked for
 * (a handler reading `data`, or the binding piping a response).
 *
 * Not a subclass of node-wot's Content (which declares `body` as a plain field, so it cannot be an
 * accessor there): node-wot only uses `type`, `body` and `toBuffer()` and never tests instanceof.
 */
export class BufferedContent {
  readonly type: string;
  readonly bytes: Buffer;
  private stream: NodeJS.ReadableStream | undefined;

  constructor(type: string, bytes: Buffer) {
    this.type = type;
    this.bytes = bytes;
  }

  get body(): NodeJS.ReadableStream {
    return (this.stream ??= Readable.from([this.bytes]));
  }

  toBuffer(): Promise<Buffer> {
    return Promise.resolve(this.bytes);
  }
}

/** A request body that grew past `recorder.maxBodyBytes`; answered with 413. */
export class BodyTooLargeError extends VoInputError {
  constructor(
    /** Bytes read before reading stopped (more than the limit; the body may be larger still). */
    readonly bytesRead: number,
    readonly maxBodyBytes: number,
  ) {
    super(
      `request body larger than ${maxBodyBytes} bytes (the limit, recorder.maxBodyBytes): ` +
        "send a smaller body, or raise the option recorder.maxBodyBytes",
      "VO_TOO_LARGE",
    );
    this.name = "BodyTooLargeError";
  }
}

/** Streams whose reading stopped at the limit, so the HTTP layer can answer 413 instead of 500. */
const refused = new WeakMap<object, BodyTooLargeError>();

/** Why reading `stream` was stopped at the body limit, if it was. */
export function refusedBody(stream: object): BodyTooLargeError | undefined {
  return refused.get(stream);
}

/**
 * Reads a Content's bytes (its stream is consumed; use a BufferedContent afterwards), at most
 * `maxBytes` of them: past that, reading stops (the stream is paused, not destroyed, so the
 * response can still be written on its socket) and the promise rejects with BodyTooLargeError.
 */
export function readContent(content: Content | BufferedContent, maxBytes = Infinity): Promise<Buffer> {
  if (content instanceof BufferedContent) return Promise.resolve(content.bytes);
  const stream = content.body;
  if (stream === undefined || stream === null) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.removeListener("data", onData);
      stream.removeListener("end", onEnd);
      stream.removeListener("error", onError);
    };
    const onData = (chunk: unknown) => {
      const bytes = toBuffer(chunk);
      size += bytes.length;
      if (size > maxBytes) {
        stop();
        stream.pause();
        const err = new BodyTooLargeError(size, maxBytes);
        refused.set(stream, err);
        reject(err);
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: unknown) => {
      stop();
      reject(err);
    };
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
  });
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(chunk as number[]);
}

/** Placeholder stored instead of a payload that cannot or should not be kept whole. */
export function placeholder(info: Record<string, string | number | boolean>): string {
  return JSON.stringify(info);
}

/** What a stored value may be: its size and its nesting depth are capped at record time. */
export interface ValueLimits {
  maxValueBytes: number;
  maxDepth: number;
}

/**
 * JSON text for the history from a payload. JSON bodies are kept as sent (after checking that they
 * parse); other media types go through node-wot's codecs; what no codec can read is described.
 * Depth is checked on the text before anything recursive parses it.
 */
export function bytesToJson(
  type: string,
  bytes: Buffer,
  schema: DataSchema | undefined,
  limits: ValueLimits,
): string | undefined {
  if (bytes.length === 0) return undefined;
  if (bytes.length > limits.maxValueBytes)
    return placeholder({ $truncated: true, bytes: bytes.length, contentType: type });
  const mediaType = type.split(";")[0].trim().toLowerCase();
  if (mediaType === "application/json" || mediaType.endsWith("+json")) {
    const text = bytes.toString("utf8");
    if (jsonDeeperThan(text, limits.maxDepth)) return tooDeepMarker(limits.maxDepth, bytes.length);
    try {
      JSON.parse(text);
      return text;
    } catch {
      return JSON.stringify(text); // malformed body: keep what was sent, as a string
    }
  }
  try {
    return valueToJson(ContentSerdes.get().contentToValue({ type, body: bytes }, schema ?? {}), limits);
  } catch {
    return placeholder({ contentType: type, bytes: bytes.length });
  }
}

/** JSON text of a script-side value (event data, read-handler result); streams are not consumed. */
export function valueToJson(value: unknown, limits: ValueLimits): string | undefined {
  if (value === undefined) return undefined;
  if (isStream(value)) return placeholder({ $stream: true });
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    // A value nested beyond the engine's stack ends here too (RangeError).
    return placeholder({ $unserialisable: (err as Error).message });
  }
  if (text === undefined) return undefined;
  if (text.length > limits.maxValueBytes)
    return placeholder({ $truncated: true, bytes: Buffer.byteLength(text) });
  return jsonDeeperThan(text, limits.maxDepth)
    ? tooDeepMarker(limits.maxDepth, Buffer.byteLength(text))
    : text;
}

function isStream(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  return (
    typeof (v as { getReader?: unknown }).getReader === "function" ||
    typeof (v as { pipe?: unknown }).pipe === "function"
  );
}
