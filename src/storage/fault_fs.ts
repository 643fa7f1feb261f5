/**
 * A {@linkcode FileSystem} for chaos testing real processes: it can make
 * every sync slow (a failing or overloaded disk), and it can write down,
 * after every completed sync, how many bytes of each file are known to be
 * durable. A chaos run uses that record after `kill -9` to cut a WAL file
 * only where a power loss could have cut it: after the last synced byte.
 *
 * The record is an upper bound on the durable length, which is the safe
 * side: it is the end of the furthest write of data (any write that is not
 * all zeros) to the file through this wrapper (or, for a file it did not
 * write, the size after the sync), so every byte of data the sync covered is
 * inside it. Writes of zeros alone do not count:
 * a WAL segment is zero-filled ahead of its records, and a cut that drops
 * zeros changes nothing recovery reads. It is written synchronously before
 * the sync resolves, so the process never acts on a sync the record does
 * not show.
 *
 * @module
 */

import { denoFs, type FileHandle, type FileSystem } from "./fs.ts";
import { isAllZero } from "./wal/segment.ts";

/** Options of {@linkcode FaultInjectingFs}. */
export interface FaultInjectingFsOptions {
  /** Extra delay of each sync while slow (ms, default 200). */
  slowSyncMs?: number;
  /** Where to write `{ path: durableBytes }` after each sync (JSON). */
  syncRecordFile?: string;
  /** The file system underneath (default {@linkcode denoFs}). */
  base?: FileSystem;
}

/** Wraps a file system with slow syncs and a record of synced sizes. */
export class FaultInjectingFs implements FileSystem {
  /** While true, each sync waits `slowSyncMs` first. */
  slow = false;
  readonly #base: FileSystem;
  readonly #delayMs: number;
  readonly #recordFile: string | undefined;
  readonly #synced: Record<string, number> = {};
  // The end of the furthest write of data (not all zeros) to each path.
  readonly #dataEnd = new Map<string, number>();

  /** Creates the wrapper. */
  constructor(options: FaultInjectingFsOptions = {}) {
    this.#base = options.base ?? denoFs;
    this.#delayMs = options.slowSyncMs ?? 200;
    this.#recordFile = options.syncRecordFile;
  }

  /** Bytes of each file known durable so far (a copy). */
  syncedSizes(): Record<string, number> {
    return { ...this.#synced };
  }

  async #sync(path: string, sync: () => Promise<void>): Promise<void> {
    if (this.slow) await new Promise((r) => setTimeout(r, this.#delayMs));
    await sync();
    if (this.#recordFile === undefined) return;
    const size = Deno.statSync(path).size;
    this.#synced[path] = Math.min(size, this.#dataEnd.get(path) ?? size);
    // Replace the record atomically: a kill -9 may land at any moment.
    const tmp = `${this.#recordFile}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(this.#synced));
    Deno.renameSync(tmp, this.#recordFile);
  }

  /** Opens a file whose syncs go through the faults. */
  async open(path: string, options: Deno.OpenOptions): Promise<FileHandle> {
    const f = await this.#base.open(path, options);
    // The file position, to know where a write lands.
    let pos = options.append ? Number.NaN : 0;
    return {
      write: async (data) => {
        const at = Number.isNaN(pos) ? Deno.statSync(path).size : pos;
        const n = await f.write(data);
        if (!Number.isNaN(pos)) pos += n;
        if (!isAllZero(data.subarray(0, n))) {
          const end = at + n;
          this.#dataEnd.set(path, Math.max(end, this.#dataEnd.get(path) ?? 0));
        }
        return n;
      },
      seek: async (offset, whence) => {
        const at = await f.seek(offset, whence);
        if (!Number.isNaN(pos)) pos = at;
        return at;
      },
      truncate: async (n) => {
        await f.truncate(n);
        const end = this.#dataEnd.get(path);
        if (end !== undefined && end > n) this.#dataEnd.set(path, n);
      },
      close: () => f.close(),
      syncData: () => this.#sync(path, () => f.syncData()),
      sync: () => this.#sync(path, () => f.sync()),
    };
  }

  /** See {@linkcode FileSystem.readFile}. */
  readFile(path: string): Promise<Uint8Array> {
    return this.#base.readFile(path);
  }
  /** See {@linkcode FileSystem.readDir}. */
  readDir(path: string) {
    return this.#base.readDir(path);
  }
  /** See {@linkcode FileSystem.stat}. */
  stat(path: string) {
    return this.#base.stat(path);
  }
  /** See {@linkcode FileSystem.mkdir}. */
  mkdir(path: string): Promise<void> {
    return this.#base.mkdir(path);
  }
  /** See {@linkcode FileSystem.rename}; the record follows the file. */
  async rename(from: string, to: string): Promise<void> {
    await this.#base.rename(from, to);
    if (from in this.#synced) {
      this.#synced[to] = this.#synced[from];
      delete this.#synced[from];
    }
    const end = this.#dataEnd.get(from);
    this.#dataEnd.delete(from);
    if (end !== undefined) this.#dataEnd.set(to, end);
    else this.#dataEnd.delete(to);
  }
  /** See {@linkcode FileSystem.remove}. */
  async remove(path: string): Promise<void> {
    await this.#base.remove(path);
    delete this.#synced[path];
    this.#dataEnd.delete(path);
  }
  /** See {@linkcode FileSystem.syncDir}. */
  syncDir(path: string): Promise<void> {
    return this.#base.syncDir(path);
  }
}
