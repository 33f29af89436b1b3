/**
 * Content digests of directory trees: the identity of a layer (`layers.digest`), the check of a
 * service directory, and the state checksum of a storage folder (`users.stateCheckSum`).
 *
 * The rule (docs/service-manager.md, "Digest rule"), version 1:
 *
 *   digest = "sha256:" + hex(SHA-256(manifest))
 *   manifest = "nwvo-tree-v1\n" + one line per entry below the root, sorted by the UTF-8 bytes
 *              of its path:  path "\0" type "\0" size "\0" hash "\n"
 *
 * * path: relative to the root, POSIX separators, no leading "./" (the root is not an entry);
 * * type: "d" directory, "f" regular file, "x" regular file with an execute bit set,
 *         "l" symlink, "o" anything else (socket, FIFO, device);
 * * size: decimal bytes — of the content for f/x, of the link text for l, 0 for d and o;
 * * hash: hex SHA-256 of the content (f/x) or of the link text (l); empty for d and o.
 *
 * File order on disk, timestamps, owners and the other mode bits play no part. A path cannot hold
 * "\0", so every manifest reads back one way. Layers and service directories refuse symlinks and
 * special files (a link could lead outside, or change what it names without changing the tree);
 * storage folders, written by scripts, hash a symlink as its link text and never follow it.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { VoError } from "../errors";

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
const MANIFEST_HEADER = "nwvo-tree-v1\n";
/** Files up to this size are read in one call; larger ones are streamed. */
const READ_WHOLE_MAX = 1 << 20;

/** A layer (or service tree) that is missing, malformed or not what its digest says. */
export class LayerError extends VoError {
  constructor(
    message: string,
    code: "SM_LAYER_MISSING" | "SM_LAYER_MISMATCH" | "SM_LAYER_INVALID" | "SM_DIGEST",
  ) {
    super(message, code);
    this.name = "LayerError";
  }
}

export interface TreeOptions {
  /** "refuse" (layers, service directories): throw on a symlink or special file. "hash-target"
   *  (storage folders): a symlink is hashed as its link text, a special file as type "o". */
  symlinks: "refuse" | "hash-target";
}

export interface TreeEntry {
  path: string;
  type: "d" | "f" | "x" | "l" | "o";
  size: number;
  /** Hex SHA-256; "" for directories and special files, and when contents were not hashed. */
  hash: string;
}

export interface TreeDigest {
  /** "sha256:<64 hex>" */
  digest: string;
  /** The 32 bytes of the digest (for a BLOB column such as users.stateCheckSum). */
  raw: Buffer;
  /** Number of entries below the root. */
  entries: number;
  /** Sum of the sizes of the regular files. */
  bytes: number;
}

/** Checks a digest's text; returns it in lower case. Throws LayerError (SM_DIGEST). */
export function parseDigest(text: unknown, what = "digest"): string {
  const s = typeof text === "string" ? text.trim().toLowerCase() : "";
  if (!DIGEST_PATTERN.test(s))
    throw new LayerError(
      `${what} must be "sha256:" followed by 64 hex digits, got ${JSON.stringify(text)}`,
      "SM_DIGEST",
    );
  return s;
}

/** The entries of a tree, sorted as the manifest sorts them; contents hashed when `hash` is true. */
export async function treeEntries(
  root: string,
  options: TreeOptions & { hash?: boolean },
): Promise<TreeEntry[]> {
  const st = await fsp.stat(root);
  if (!st.isDirectory()) throw new LayerError(`${root} is not a directory`, "SM_LAYER_INVALID");
  const out: TreeEntry[] = [];
  await walk(root, "", out, options.symlinks, options.hash !== false);
  const keyed = out.map((e) => ({ key: Buffer.from(e.path), e }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

async function walk(
  root: string,
  rel: string,
  out: TreeEntry[],
  symlinks: TreeOptions["symlinks"],
  hash: boolean,
): Promise<void> {
  let names: fs.Dirent[];
  try {
    names = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
  } catch (err) {
    // A directory removed while it is walked is simply not part of the tree any more.
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && rel !== "") return;
    throw err;
  }
  for (const d of names) {
    const p = rel === "" ? d.name : `${rel}/${d.name}`;
    const abs = path.join(root, p);
    let st: fs.Stats;
    try {
      st = await fsp.lstat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    if (st.isDirectory()) {
      out.push({ path: p, type: "d", size: 0, hash: "" });
      await walk(root, p, out, symlinks, hash);
    } else if (st.isFile()) {
      const type = (st.mode & 0o111) !== 0 ? "x" : "f";
      const h = hash ? await hashFile(abs, st.size) : undefined;
      if (h === null) continue; // removed while it was read
      out.push({ path: p, type, size: h?.size ?? st.size, hash: h?.hex ?? "" });
    } else if (symlinks === "refuse") {
      throw new LayerError(
        `${root} contains ${st.isSymbolicLink() ? "a symlink" : "a special file"} at '${p}'; ` +
          "layers and service directories hold plain files and directories only (copy the file in " +
          "instead of linking it)",
        "SM_LAYER_INVALID",
      );
    } else if (st.isSymbolicLink()) {
      let target: Buffer;
      try {
        target = await fsp.readlink(abs, { encoding: "buffer" });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      out.push({ path: p, type: "l", size: target.length, hash: hash ? sha256hex(target) : "" });
    } else {
      out.push({ path: p, type: "o", size: 0, hash: "" });
    }
  }
}

async function hashFile(file: string, size: number): Promise<{ hex: string; size: number } | null> {
  try {
    if (size <= READ_WHOLE_MAX) {
      const buf = await fsp.readFile(file);
      return { hex: sha256hex(buf), size: buf.length };
    }
    const h = crypto.createHash("sha256");
    let n = 0;
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 16 })) {
      h.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
    return { hex: h.digest("hex"), size: n };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

function sha256hex(data: Buffer | string): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

/** The manifest text of entries (the bytes the digest is taken over). */
export function manifestOf(entries: readonly TreeEntry[]): Buffer {
  const parts: Buffer[] = [Buffer.from(MANIFEST_HEADER)];
  for (const e of entries) parts.push(Buffer.from(`${e.path}\0${e.type}\0${e.size}\0${e.hash}\n`));
  return Buffer.concat(parts);
}

/** The digest of a directory tree by the rule above. */
export async function treeDigest(root: string, options: TreeOptions): Promise<TreeDigest> {
  const entries = await treeEntries(root, { ...options, hash: true });
  const raw = crypto.createHash("sha256").update(manifestOf(entries)).digest();
  let bytes = 0;
  for (const e of entries) if (e.type === "f" || e.type === "x") bytes += e.size;
  return { digest: `sha256:${raw.toString("hex")}`, raw, entries: entries.length, bytes };
}

/** "sha256:<hex>" of one file's bytes (a single-script service). */
export async function fileDigest(file: string): Promise<string> {
  const h = await hashFile(file, (await fsp.stat(file)).size);
  if (h === null) throw new LayerError(`${file} disappeared while it was read`, "SM_LAYER_MISSING");
  return `sha256:${h.hex}`;
}

/** The digest of a layer directory (symlinks and special files refused). */
export async function layerDigest(dir: string): Promise<string> {
  return (await treeDigest(dir, { symlinks: "refuse" })).digest;
}

/**
 * Throws LayerError unless `dir` holds exactly the layer `digest`: SM_LAYER_MISSING when the
 * directory is gone, SM_LAYER_INVALID when it holds a symlink or special file, SM_LAYER_MISMATCH
 * when its files no longer hash to the digest.
 */
export async function verifyLayer(dir: string, digest: string): Promise<void> {
  const want = parseDigest(digest, "layer digest");
  let actual: string;
  try {
    actual = await layerDigest(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new LayerError(
        `layer ${want} is missing: ${dir} does not exist; install the layer again`,
        "SM_LAYER_MISSING",
      );
    throw err;
  }
  if (actual !== want)
    throw new LayerError(
      `layer ${want} at ${dir} no longer matches its digest (its files hash to ${actual}): a file ` +
        "in it was changed, added or removed; install the layer again",
      "SM_LAYER_MISMATCH",
    );
}

/**
 * The directories of a service's `layerList`, in order, each verified. `locate` maps a digest to
 * the layer's directory (from the `layers` table), or undefined when no such layer is installed.
 */
export async function resolveLayers(
  digests: readonly string[],
  locate: (digest: string) => string | undefined,
): Promise<string[]> {
  const dirs: string[] = [];
  for (const d of digests) {
    const digest = parseDigest(d, "layerList entry");
    const dir = locate(digest);
    if (dir === undefined)
      throw new LayerError(
        `layer ${digest} is not installed; add it before starting the service`,
        "SM_LAYER_MISSING",
      );
    await verifyLayer(dir, digest);
    dirs.push(dir);
  }
  return dirs;
}

/** The directory name a layer is installed under: "sha256-<hex>". */
export function layerDirName(digest: string): string {
  return parseDigest(digest, "layer digest").replace(":", "-");
}

/**
 * Adds a layer: verifies that `source` hashes to `digest`, copies it to
 * `<layersDir>/sha256-<hex>` (through a temporary directory and a rename, so a half-copied layer
 * never has the final name), verifies the copy, and returns its path. Installing a layer that is
 * already there and intact is a no-op; a damaged copy is replaced.
 */
export async function installLayer(source: string, digest: string, layersDir: string): Promise<string> {
  const want = parseDigest(digest, "layer digest");
  const got = await layerDigest(source);
  if (got !== want)
    throw new LayerError(
      `layer at ${source} has digest ${got}, not the ${want} it was added with; refusing to install it`,
      "SM_LAYER_MISMATCH",
    );
  await fsp.mkdir(layersDir, { recursive: true });
  const dest = path.join(layersDir, layerDirName(want));
  try {
    await verifyLayer(dest, want);
    return dest;
  } catch (err) {
    if (!(err instanceof LayerError)) throw err;
  }
  const tmp = `${dest}.tmp-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
  try {
    await fsp.cp(source, tmp, { recursive: true, errorOnExist: true, force: false });
    const copied = await layerDigest(tmp);
    if (copied !== want)
      throw new LayerError(
        `the copy of layer ${want} hashes to ${copied}: ${source} changed while it was copied; try again`,
        "SM_LAYER_MISMATCH",
      );
    await fsp.rm(dest, { recursive: true, force: true });
    await fsp.rename(tmp, dest);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  return dest;
}
