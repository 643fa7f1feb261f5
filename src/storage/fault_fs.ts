/**
 * A {@linkcode FileSystem} for chaos testing real processes: it can make
 * every sync slow (a failing or overloaded disk), and it can write down,
 * after every completed sync, how many bytes of each file are known to be
 * durable. A chaos run uses that record after `kill -9` to cut a WAL file
 * only where a power loss could have cut it: after the last synced byte.
 *
 * The record is an upper bound on the durable length, which is the safe
 * side: the size is read after the sync resolves, so every byte the sync
 * covered is inside it. It is written synchronously before the sync
 * resolves, so the process never acts on a sync the record does not show.
 *
 * @module
 */

import { denoFs, type FileHandle, type FileSystem } from "./fs.ts";

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
    this.#synced[path] = Deno.statSync(path).size;
    // Replace the record atomically: a kill -9 may land at any moment.
    const tmp = `${this.#recordFile}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(this.#synced));
    Deno.renameSync(tmp, this.#recordFile);
  }

  /** Opens a file whose syncs go through the faults. */
  async open(path: string, options: Deno.OpenOptions): Promise<FileHandle> {
    const f = await this.#base.open(path, options);
    return {
      write: (data) => f.write(data),
      truncate: (n) => f.truncate(n),
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
  }
  /** See {@linkcode FileSystem.remove}. */
  async remove(path: string): Promise<void> {
    await this.#base.remove(path);
    delete this.#synced[path];
  }
  /** See {@linkcode FileSystem.syncDir}. */
  syncDir(path: string): Promise<void> {
    return this.#base.syncDir(path);
  }
}
