/**
 * The storage folder a service gets when it is started for a users list (`users.storageFolder`),
 * its state checksum (`users.stateCheckSum`, recorded at stop, compared at the next start), its
 * size, and the `stateLimit` / `storageLimit` check.
 *
 * The checksum is the tree digest of layers-digest.ts (symlinks hashed as their link text, never
 * followed), as its 32 raw bytes.
 */
import crypto from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { treeDigest, treeEntries } from "./layers-digest";
import { checkRelativePath, isInside, PathError } from "./paths";

/**
 * The folder of (service, users), relative to the storage root: `<serviceId>/<key>`, where key
 * is the first 16 hex digits of SHA-256 over the users list as JSON (the text the `users` column
 * holds, so the same list in another order is another folder, as it is another row).
 */
export function storageFolderName(serviceId: string, users: readonly string[]): string {
  const id = checkRelativePath(serviceId, "service id");
  if (id.includes("/")) throw new PathError(`service id '${serviceId}' must not contain a path separator`);
  const key = crypto.createHash("sha256").update(JSON.stringify(users)).digest("hex").slice(0, 16);
  return `${id}/${key}`;
}

/** Creates (if needed) the storage folder of (service, users) below `storageRoot`; returns its absolute path. */
export async function prepareStorageFolder(
  storageRoot: string,
  serviceId: string,
  users: readonly string[],
): Promise<string> {
  const dir = path.join(path.resolve(storageRoot), storageFolderName(serviceId, users));
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Removes a storage folder (service removal). `folder` is relative to `storageRoot`, as stored in
 * `users.storageFolder`; anything that would leave the root is refused.
 */
export async function removeStorageFolder(storageRoot: string, folder: string): Promise<void> {
  const root = path.resolve(storageRoot);
  const dir = path.join(root, checkRelativePath(folder, "storage folder"));
  if (dir === root || !isInside(root, dir))
    throw new PathError(`storage folder '${folder}' is not below ${root}`);
  await fsp.rm(dir, { recursive: true, force: true });
}

/** Bytes of the regular files below `dir` (0 when it does not exist). Reads no file contents. */
export async function folderBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await treeEntries(dir, { symlinks: "hash-target", hash: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  let bytes = 0;
  for (const e of entries) if (e.type === "f" || e.type === "x") bytes += e.size;
  return bytes;
}

export interface StateChecksum {
  /** The 32 bytes for `users.stateCheckSum`. */
  checksum: Buffer;
  /** Bytes of the regular files (what `stateLimit` bounds). */
  bytes: number;
}

/**
 * The checksum (and size) of a storage folder. A folder that does not exist has the checksum of
 * an empty one, so a folder deleted behind the manager's back shows as a mismatch at next start.
 */
export async function stateChecksum(dir: string): Promise<StateChecksum> {
  try {
    const t = await treeDigest(dir, { symlinks: "hash-target" });
    return { checksum: t.raw, bytes: t.bytes };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return { checksum: EMPTY_TREE, bytes: 0 };
  }
}

const EMPTY_TREE = crypto.createHash("sha256").update("nwvo-tree-v1\n").digest();

/**
 * Compares the checksum recorded at the last stop with the folder's current one: "none" when
 * nothing was recorded yet (NULL or empty, as a new `users` row has), else "match" or "mismatch".
 */
export function compareStateChecksum(
  recorded: Uint8Array | null | undefined,
  current: Uint8Array,
): "none" | "match" | "mismatch" {
  if (!recorded || recorded.length === 0) return "none";
  return Buffer.compare(Buffer.from(recorded), Buffer.from(current)) === 0 ? "match" : "mismatch";
}

export interface StorageLimits {
  /** Bound on the bytes of the storage folder; 0, null or undefined: no bound. */
  stateLimit?: number | null;
  /** Bound on the bytes of the service's recorded history; 0, null or undefined: no bound. */
  storageLimit?: number | null;
}

export interface StorageUsage {
  /** Bytes of the storage folder (folderBytes / stateChecksum). */
  stateBytes?: number;
  /** Bytes of the service's recorded history (from the store). */
  historyBytes?: number;
}

export interface LimitViolation {
  limit: "stateLimit" | "storageLimit";
  used: number;
  max: number;
  /** The reason to record when the service is stopped for it. */
  reason: string;
}

/** The first limit `usage` is over, or undefined. A value equal to the limit is within it. */
export function checkLimits(usage: StorageUsage, limits: StorageLimits): LimitViolation | undefined {
  const over = (
    limit: LimitViolation["limit"],
    used: number | undefined,
    max: number | null | undefined,
    what: string,
  ): LimitViolation | undefined =>
    max && max > 0 && used !== undefined && used > max
      ? { limit, used, max, reason: `${what} uses ${used} bytes, over its ${limit} of ${max} bytes` }
      : undefined;
  return (
    over("stateLimit", usage.stateBytes, limits.stateLimit, "the storage folder") ??
    over("storageLimit", usage.historyBytes, limits.storageLimit, "the recorded history")
  );
}
