/**
 * Errors of the service-manager database. Not-found and duplicate reuse the plugin's codes
 * (`VO_NOT_FOUND` → 404, `VO_DUPLICATE` → 409), so the HTTP layer answers them with the right
 * status; bad input is the plugin's `VoInputError` (400); a stored value this code cannot read is
 * `SM_CORRUPT_VALUE` (a server-side fault: 500).
 */
import { VoError } from "../errors";

/** The row a call names does not exist (the original's `ErrNotExist`). */
export class SmNotFoundError extends VoError {
  constructor(message: string) {
    super(message, "VO_NOT_FOUND");
    this.name = "SmNotFoundError";
  }
}

/** An insert whose key is already taken. */
export class SmDuplicateError extends VoError {
  constructor(message: string) {
    super(message, "VO_DUPLICATE");
    this.name = "SmDuplicateError";
  }
}

/**
 * A value stored in the file that does not decode: malformed JSON, a timestamp not in the
 * documented encoding, an unknown state number. Says which table, key and column.
 */
export class SmCorruptValueError extends VoError {
  constructor(message: string) {
    super(message, "SM_CORRUPT_VALUE");
    this.name = "SmCorruptValueError";
  }
}
