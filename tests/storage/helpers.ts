/**
 * Shared helpers for the storage tests: temp directories, file systems that
 * skip syncs or fail on demand, directory images for crash tests, and a
 * deep comparison of a store against the `MemoryStorage` model.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Storage } from "../../src/raft/storage.ts";
import type { Entry, HardState } from "../../src/raft/types.ts";
import {
  denoFs,
  type FileHandle,
  type FileSystem,
  join,
} from "../../src/storage/fs.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import type { StorageLogger } from "../../src/storage/log.ts";
import type { MemoryStorage } from "../../src/storage/memory.ts";
import type { LogStore, PersistUpdate } from "../../src/storage/types.ts";
import { readFrame } from "../../src/storage/wal/record.ts";
import { isAllZero } from "../../src/storage/wal/segment.ts";

/** Runs `fn` with a fresh temp directory and removes it afterwards. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "raftlock_storage_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A logger that records events instead of printing them. */
export function captureLog(): {
  log: StorageLogger;
  events: { event: string; fields: Record<string, unknown> }[];
} {
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  return { log: (event, fields) => events.push({ event, fields }), events };
}

/** A logger that drops everything. */
export const silentLog: StorageLogger = () => {};

/**
 * The real file system minus every sync: crash tests simulate crashes by
 * cutting files, so syncs only cost time there.
 */
export const noSyncFs: FileSystem = {
  ...denoFs,
  async open(path, options) {
    const f = await denoFs.open(path, options);
    return {
      write: (d) => f.write(d),
      seek: (offset, whence) => f.seek(offset, whence),
      syncData: () => Promise.resolve(),
      sync: () => Promise.resolve(),
      truncate: (n) => f.truncate(n),
      close: () => f.close(),
    };
  },
  syncDir: () => Promise.resolve(),
};

/** File operations a {@linkcode FaultyFs} can fail. */
export type FaultOp =
  | "write"
  | "syncData"
  | "sync"
  | "truncate"
  | "open"
  | "rename"
  | "remove"
  | "syncDir";

/**
 * Wraps a file system and fails chosen operations: `failNext(op)` makes the
 * next matching call throw (a write writes half its bytes first). Counts
 * every call. A handle that writes nothing but zeros (a WAL segment's
 * zero-filling ahead of its records) is not failed, and its writes and
 * syncs count in `fills` instead.
 */
export class FaultyFs implements FileSystem {
  #inner: FileSystem;
  /** Calls seen per operation. */
  readonly counts: Record<FaultOp, number> = {
    write: 0,
    syncData: 0,
    sync: 0,
    truncate: 0,
    open: 0,
    rename: 0,
    remove: 0,
    syncDir: 0,
  };
  /** Writes and syncs of handles that wrote only zeros. */
  fills = 0;
  #faults: { op: FaultOp; path?: RegExp; skip: number }[] = [];
  /** Delay added to every `syncData()`, in milliseconds. */
  syncDelayMs = 0;

  /** Wraps `inner` (default: the real file system). */
  constructor(inner: FileSystem = denoFs) {
    this.#inner = inner;
  }

  /** Fails the call of `op` after `skip` more matching calls succeed. */
  failNext(op: FaultOp, options: { path?: RegExp; skip?: number } = {}): void {
    this.#faults.push({ op, path: options.path, skip: options.skip ?? 0 });
  }

  #check(op: FaultOp, path: string): void {
    this.counts[op]++;
    const i = this.#faults.findIndex((f) =>
      f.op === op && (!f.path || f.path.test(path))
    );
    if (i < 0) return;
    const f = this.#faults[i];
    if (f.skip > 0) {
      f.skip--;
      return;
    }
    this.#faults.splice(i, 1);
    throw new Error(`Injected ${op} failure on ${path}`);
  }

  async open(path: string, options: Deno.OpenOptions): Promise<FileHandle> {
    this.#check("open", path);
    const f = await this.#inner.open(path, options);
    let zerosOnly: boolean | undefined;
    return {
      write: async (d) => {
        zerosOnly = (zerosOnly ?? true) && isAllZero(d);
        if (zerosOnly) {
          this.fills++;
          return f.write(d);
        }
        try {
          this.#check("write", path);
        } catch (e) {
          // A failing write may still have written part of the bytes.
          if (d.byteLength > 1) await f.write(d.subarray(0, d.byteLength >> 1));
          throw e;
        }
        return f.write(d);
      },
      syncData: async () => {
        if (zerosOnly) {
          this.fills++;
          return f.syncData();
        }
        this.#check("syncData", path);
        if (this.syncDelayMs > 0) {
          await new Promise((r) => setTimeout(r, this.syncDelayMs));
        }
        return f.syncData();
      },
      sync: () => {
        this.#check("sync", path);
        return f.sync();
      },
      truncate: (n) => {
        this.#check("truncate", path);
        return f.truncate(n);
      },
      seek: (offset, whence) => f.seek(offset, whence),
      close: () => f.close(),
    };
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.#inner.readFile(path);
  }
  readDir(path: string) {
    return this.#inner.readDir(path);
  }
  stat(path: string) {
    return this.#inner.stat(path);
  }
  mkdir(path: string): Promise<void> {
    return this.#inner.mkdir(path);
  }
  rename(from: string, to: string): Promise<void> {
    this.#check("rename", to);
    return this.#inner.rename(from, to);
  }
  remove(path: string): Promise<void> {
    this.#check("remove", path);
    return this.#inner.remove(path);
  }
  syncDir(path: string): Promise<void> {
    this.#check("syncDir", path);
    return this.#inner.syncDir(path);
  }
}

/** Every file under a directory, by relative path. */
export type DirImage = Map<string, Uint8Array>;

/** Reads every file under `dir` into memory. */
export async function readImage(dir: string): Promise<DirImage> {
  const out: DirImage = new Map();
  async function walk(rel: string) {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(r);
      else out.set(r, await Deno.readFile(join(dir, r)));
    }
  }
  await walk("");
  return out;
}

/** Replaces the contents of `dir` with `image`. */
export async function writeImage(dir: string, image: DirImage): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    await Deno.remove(join(dir, e.name), { recursive: true });
  }
  for (const [rel, bytes] of image) {
    const p = join(dir, rel);
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(p, bytes);
  }
}

/** The WAL segment paths of an image, by sequence order. */
export function segmentsOf(image: DirImage): string[] {
  return [...image.keys()].filter((k) => /^wal\/.*\.wal$/.test(k)).sort();
}

/** Makes `n` entries from `first` in `term`, each with `size` bytes of data. */
export function makeEntries(
  first: number,
  n: number,
  term: number,
  size = 8,
): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(size);
    for (let j = 0; j < size; j++) data[j] = (first + i + j * 7 + term) & 0xff;
    out.push({ term, index: first + i, type: 0, data });
  }
  return out;
}

/** A store that can also report its hard state. */
export type Inspectable = Storage & { hardState(): HardState };

/** Asserts that `actual` reads exactly like the model `expected`. */
export function assertSameStore(
  actual: Inspectable,
  expected: MemoryStorage,
  context = "",
): void {
  const where = context ? ` (${context})` : "";
  assert.equal(
    actual.firstIndex(),
    expected.firstIndex(),
    `firstIndex${where}`,
  );
  assert.equal(actual.lastIndex(), expected.lastIndex(), `lastIndex${where}`);
  assert.deepEqual(
    actual.hardState(),
    expected.hardState(),
    `hardState${where}`,
  );
  assert.deepEqual(
    actual.initialState(),
    expected.initialState(),
    `initialState${where}`,
  );
  const as = actual.snapshot();
  const es = expected.snapshot();
  assert.deepEqual(as.metadata, es.metadata, `snapshot metadata${where}`);
  assert.deepEqual(
    new Uint8Array(as.data),
    new Uint8Array(es.data),
    `snapshot data${where}`,
  );
  const fi = expected.firstIndex();
  assert.equal(
    actual.term(fi - 1),
    expected.term(fi - 1),
    `term(${fi - 1})${where}`,
  );
  if (expected.lastIndex() >= fi) {
    const a = actual.entries(fi, expected.lastIndex() + 1, Infinity);
    const e = expected.entries(fi, expected.lastIndex() + 1, Infinity);
    assert.equal(a.length, e.length, `entry count${where}`);
    for (let i = 0; i < e.length; i++) {
      assert.equal(a[i].index, e[i].index, `index${where}`);
      assert.equal(a[i].term, e[i].term, `term of ${e[i].index}${where}`);
      assert.equal(a[i].type, e[i].type, `type of ${e[i].index}${where}`);
      assert.deepEqual(
        new Uint8Array(a[i].data),
        new Uint8Array(e[i].data),
        `data of ${e[i].index}${where}`,
      );
    }
  }
}

/** Saves each update to `store` and then to the model, in order. */
export async function saveBoth(
  store: LogStore,
  model: MemoryStorage,
  updates: readonly PersistUpdate[],
): Promise<void> {
  for (const u of updates) {
    await store.save(u);
    model.save(u);
  }
}

/**
 * Reopens the data directory `dir` (its store closed or stopped) and
 * asserts that it recovered exactly the model's state; `more` looks further
 * at the reopened store before it is closed.
 */
export function assertRecovers(
  dir: string,
  model: MemoryStorage,
  more?: (reopened: DiskStorage) => void,
): Promise<void> {
  return reopened(dir, (r) => {
    assertSameStore(r, model);
    more?.(r);
  });
}

/** Reopens the data directory `dir`, runs `fn` on the store, and closes it. */
export async function reopened(
  dir: string,
  fn: (store: DiskStorage) => void | Promise<void>,
): Promise<void> {
  const r = await DiskStorage.open(dir, { log: silentLog });
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

/**
 * Where a WAL segment's last record starts and where its records end; the
 * zeros the writer fills ahead are not records.
 */
export function lastRecord(bytes: Uint8Array): { start: number; end: number } {
  let off = 0;
  let last = 0;
  while (off < bytes.byteLength) {
    if (isAllZero(bytes.subarray(off))) break;
    const r = readFrame(bytes, off);
    assert.ok(r.frame, `unreadable record at ${off}: ${r.error}`);
    last = off;
    off = r.frame.end;
  }
  return { start: last, end: off };
}
