/**
 * Paths a service manager takes from its database or from a request (a service's `path`, a
 * layer's `path`, a service's `main`) resolve inside the directory they belong to, or not at
 * all: no `..` segment, no absolute path, no symlink that leads out (checked on the real path,
 * after every link is followed). When a digest is given, what the path names is verified too.
 */
import fs from "node:fs";
import path from "node:path";
import { VoError } from "../errors";
import { fileDigest, parseDigest, treeDigest } from "./layers-digest";

/** A path that is malformed or leads outside its root. */
export class PathError extends VoError {
  constructor(message: string, code = "SM_PATH") {
    super(message, code);
    this.name = "PathError";
  }
}

/** True when `p` is `root` or lies below it (both absolute, compared segment-wise). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Checks the text of a path relative to a root: not empty, no NUL, not absolute (POSIX or
 * Windows form), no `..` segment. Returns it with `/` separators. Throws PathError.
 */
export function checkRelativePath(relative: string, what = "path"): string {
  if (typeof relative !== "string" || relative.trim() === "")
    throw new PathError(`${what} must be a non-empty relative path, got ${JSON.stringify(relative)}`);
  if (relative.includes("\0")) throw new PathError(`${what} contains a NUL byte`);
  if (path.posix.isAbsolute(relative) || path.win32.isAbsolute(relative))
    throw new PathError(
      `${what} '${relative}' is absolute; give it relative to its directory (e.g. 'my-service')`,
    );
  const segments = relative.split(/[\\/]+/);
  if (segments.includes(".."))
    throw new PathError(`${what} '${relative}' contains '..'; it must stay inside its directory`);
  return segments.filter((s) => s !== "" && s !== ".").join("/");
}

/**
 * The real path of `relative` below `root`: the text is checked (checkRelativePath), the path
 * must exist, and after every symlink is followed it must still lie strictly below the real
 * root. Throws PathError saying which rule failed.
 */
export function resolveInside(root: string, relative: string, what = "path"): string {
  const clean = checkRelativePath(relative, what);
  if (clean === "")
    throw new PathError(`${what} '${relative}' names the directory itself, not an entry in it`);
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch (err) {
    throw new PathError(`the directory ${root} for ${what} cannot be read: ${(err as Error).message}`);
  }
  const joined = path.join(realRoot, clean);
  let real: string;
  try {
    real = fs.realpathSync(joined);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PathError(
      code === "ENOENT"
        ? `${what} '${relative}' does not exist in ${realRoot}`
        : `${what} '${relative}' cannot be resolved: ${(err as Error).message}`,
    );
  }
  if (real === realRoot || !isInside(realRoot, real))
    throw new PathError(
      `${what} '${relative}' leads to ${real}, outside ${realRoot} (through a symlink); ` +
        "a service manager only uses paths inside its directory",
    );
  return real;
}

/**
 * A service's location, as stored in `services.path`: resolved inside the services directory
 * (resolveInside) and, when `digest` is given, verified — a directory by the tree digest
 * (layers-digest.ts), a single script by the SHA-256 of its bytes. Returns the real path.
 */
export async function resolveServicePath(
  servicesDir: string,
  relative: string,
  digest?: string,
): Promise<string> {
  const expected = digest === undefined ? undefined : parseDigest(digest, "service digest");
  const real = resolveInside(servicesDir, relative, "service path");
  if (expected !== undefined) {
    const actual = fs.statSync(real).isDirectory()
      ? (await treeDigest(real, { symlinks: "refuse" })).digest
      : await fileDigest(real);
    if (actual !== expected)
      throw new PathError(
        `service path '${relative}' has digest ${actual}, expected ${expected}: its files changed ` +
          "since it was installed; install it again",
        "SM_DIGEST_MISMATCH",
      );
  }
  return real;
}
