/** Errors the plugin throws on purpose: each says what was wrong, what was expected, what to do. */

export class VoError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "VoError";
  }
}

/** Bad input from a caller: a name that does not exist, a malformed value, a bad range. */
export class VoInputError extends VoError {
  constructor(message: string, code = "VO_INPUT") {
    super(message, code);
    this.name = "VoInputError";
  }
}

/** Configuration that cannot be used. */
export class VoConfigError extends VoError {
  constructor(message: string) {
    super(message, "VO_CONFIG");
    this.name = "VoConfigError";
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
