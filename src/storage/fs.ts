/**
 * The file operations storage performs, behind an interface so tests can
 * inject failures (a write that fails half-way, a `syncData()` that errors)
 * and so crash tests can skip real syncs. {@linkcode denoFs} is the default
 * and maps each operation onto the Deno API one to one.
 *
 * @module
 */

/** An open file as storage uses it. `Deno.FsFile` satisfies it. */
export interface FileHandle {
  /** Writes some bytes at the file position; resolves with how many were written. */
  write(data: Uint8Array): Promise<number>;
  /** Makes the file's data (and the size needed to read it) durable: `fdatasync`. */
  syncData(): Promise<void>;
  /**
   * Writes some bytes on the calling thread, which waits; returns how many
   * were written. Optional: a handle without it is written through `write`.
   */
  writeSync?(data: Uint8Array): number;
  /** `fdatasync` on the calling thread, which waits. Optional, like `writeSync`. */
  syncDataSync?(): void;
  /** Makes the file's data and metadata durable: `fsync`. */
  sync(): Promise<void>;
  /** Cuts or extends the file to `length` bytes. */
  truncate(length: number): Promise<void>;
  /** Moves the file position (see `Deno.FsFile.seek`); resolves with it. */
  seek(offset: number, whence: Deno.SeekMode): Promise<number>;
  /** Releases the handle. */
  close(): void;
}

/** One name in a directory listing. */
export interface DirEntryInfo {
  /** The entry's name (no directory part). */
  name: string;
  /** True for a regular file. */
  isFile: boolean;
  /** True for a directory. */
  isDirectory: boolean;
}

/** What storage needs to know about a path. */
export interface PathInfo {
  /** True for a regular file. */
  isFile: boolean;
  /** True for a directory. */
  isDirectory: boolean;
  /** Size in bytes. */
  size: number;
}

/** The file-system operations storage uses; every one may reject. */
export interface FileSystem {
  /** Opens a file (see `Deno.OpenOptions`). */
  open(path: string, options: Deno.OpenOptions): Promise<FileHandle>;
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Lists a directory. */
  readDir(path: string): Promise<DirEntryInfo[]>;
  /** Describes a path, or resolves `undefined` when nothing is there. */
  stat(path: string): Promise<PathInfo | undefined>;
  /** Creates a directory and any missing parents. */
  mkdir(path: string): Promise<void>;
  /** Atomically renames a file within one file system. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. */
  remove(path: string): Promise<void>;
  /** Makes a directory's entries (creates, renames, removes) durable. */
  syncDir(path: string): Promise<void>;
}

/** The real file system through the Deno API. */
export const denoFs: FileSystem = {
  open: (path, options) => Deno.open(path, options),
  // Deno.readFile grows its buffer as it reads; for a 64 MiB segment that
  // costs twice as long as reading into a buffer of the right size.
  async readFile(path) {
    const f = await Deno.open(path, { read: true });
    try {
      const { size } = await f.stat();
      let buf = new Uint8Array(size);
      let off = 0;
      for (;;) {
        if (off === buf.byteLength) {
          // The file grew since stat: read on into a bigger buffer.
          const more = new Uint8Array(Math.max(64 * 1024, buf.byteLength));
          const n = await f.read(more);
          if (n === null) break;
          const next = new Uint8Array(buf.byteLength * 2 + n);
          next.set(buf);
          next.set(more.subarray(0, n), off);
          buf = next;
          off += n;
          continue;
        }
        const n = await f.read(buf.subarray(off));
        if (n === null) break;
        off += n;
      }
      return off === buf.byteLength ? buf : buf.subarray(0, off);
    } finally {
      f.close();
    }
  },
  async readDir(path) {
    const out: DirEntryInfo[] = [];
    for await (const e of Deno.readDir(path)) {
      out.push({ name: e.name, isFile: e.isFile, isDirectory: e.isDirectory });
    }
    return out;
  },
  async stat(path) {
    try {
      const s = await Deno.stat(path);
      return { isFile: s.isFile, isDirectory: s.isDirectory, size: s.size };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  },
  mkdir: (path) => Deno.mkdir(path, { recursive: true }),
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path),
  async syncDir(path) {
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  },
};

/** Writes all of `data`, looping over short writes. */
export async function writeAll(
  file: FileHandle,
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.byteLength) {
    const n = await file.write(data.subarray(off));
    if (n <= 0) throw new Error(`Write made no progress at byte ${off}`);
    off += n;
  }
}

/**
 * Writes all of `data` on the calling thread, looping over short writes,
 * like {@linkcode writeAll}. The handle must have `writeSync`.
 */
export function writeAllBlocking(file: FileHandle, data: Uint8Array): void {
  if (!file.writeSync) throw new Error("This file cannot be written blocking");
  let off = 0;
  while (off < data.byteLength) {
    const n = file.writeSync(data.subarray(off));
    if (n <= 0) throw new Error(`Write made no progress at byte ${off}`);
    off += n;
  }
}

/**
 * The suffix of the temp file {@linkcode writeFileAtomic} writes first. A
 * crash can leave one behind; whoever owns the directory removes them.
 */
export const TEMP_SUFFIX = ".tmp";

/**
 * Replaces `path` with `data` so that a crash leaves either the old file or
 * the whole new one: write `path` + {@linkcode TEMP_SUFFIX}, sync it, rename
 * it over `path`, sync the directory. `data` may be given in parts, written
 * one after the other, so that a large body need not be copied into one
 * buffer with its header and trailer.
 *
 * @example
 * ```ts
 * await writeFileAtomic(denoFs, "/tmp/raftlock/marker", new Uint8Array([1]));
 * ```
 */
export async function writeFileAtomic(
  fs: FileSystem,
  path: string,
  data: Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const tmp = path + TEMP_SUFFIX;
  const f = await fs.open(tmp, { write: true, create: true, truncate: true });
  try {
    try {
      for (const part of data instanceof Uint8Array ? [data] : data) {
        await writeAll(f, part);
      }
      await f.sync();
    } finally {
      f.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    // Give the space back (a full disk is the likely cause); a crash
    // leaves the temp file for whoever owns the directory to remove.
    await fs.remove(tmp).catch(() => {});
    throw e;
  }
  await fs.syncDir(dirname(path));
}

/** Joins path parts with `/`. */
export function join(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/");
}

/** The directory part of a path (`.` when there is none). */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  if (i === 0) return "/";
  return path.slice(0, i);
}
