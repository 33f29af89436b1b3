/**
 * A binding's `Content`, read once. node-wot 0.9.2's `InteractionOutput.value()`, `data` and
 * `arrayBuffer()` consume the payload stream, so whoever reads the bytes first (the recorder,
 * plugin actions) must hand node-wot a copy that can be read again: a `BufferedContent`.
 * Quirk row "InteractionOutput … consume the payload stream once" in docs/node-wot-quirks.md;
 * pinned by test/recorder-http.test.js ("a handler that uses arrayBuffer() still gets the bytes").
 *
 * Reading stops at a byte limit (413 for the client), and node-wot's codecs decode the media types
 * that are not JSON.
 */
import { Readable } from "node:stream";
import { Content, ContentSerdes } from "@node-wot/core";
import type * as WoT from "wot-typescript-definitions";
import { VoInputError } from "../errors";

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

/**
 * The value of a payload of a media type other than JSON, decoded by node-wot's own codecs
 * (text, CBOR, …) against the affordance's data schema. Throws when no codec can read it.
 */
export function decodeWithNodeWotCodecs(
  type: string,
  bytes: Buffer,
  schema: WoT.DataSchema | undefined,
): unknown {
  return ContentSerdes.get().contentToValue({ type, body: bytes }, schema ?? {});
}
