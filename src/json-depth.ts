/**
 * Nesting depth of JSON text, measured without recursion and without parsing, so a hostile value
 * (`[[[[…]]]]` 5,000 deep) can be refused or described before anything recursive — JSON.parse,
 * JSON.stringify, SQLite's JSON functions (which stop at depth 1,000), a line-protocol flattener —
 * ever sees it. Used at record time (the recorder caps depth) and at read time (a row stored before
 * the cap existed is described instead of parsed).
 */

/** `[` `]` `{` `}` `"` `\` as char codes. */
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when the JSON text nests arrays or objects deeper than `max` (a scalar has depth 0, `[]` 1).
 * Brackets inside strings do not count. Linear in the text; stops at the first level past `max`.
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  // Scalars and shallow values are the common case: no bracket beyond `max` can exist in them.
  if (text.length <= max * 2) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** The marker stored (and returned) instead of a value nested deeper than `maxDepth`. */
export function tooDeepMarker(maxDepth: number, bytes: number): string {
  return JSON.stringify({ $tooDeep: true, maxDepth, bytes });
}
