/**
 * Payloads as the history keeps them: the bytes a binding delivered (read once by the node-wot
 * adapter, src/node-wot/content.ts) or a value a script handed over, turned into JSON text without
 * parsing what is already JSON twice, with size and depth capped.
 */
import type * as WoT from "wot-typescript-definitions";
import { jsonDeeperThan, tooDeepMarker } from "../json-depth";
import { decodeWithNodeWotCodecs } from "../node-wot/content";

type DataSchema = WoT.DataSchema;

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
    return valueToJson(decodeWithNodeWotCodecs(type, bytes, schema), limits);
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
