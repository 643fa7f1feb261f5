/**
 * A full disk is not fatal: a write that finds no space (ENOSPC) is undone
 * and retried, the reserve file is given up to let the node go on, a
 * snapshot that cannot be written is skipped, a store opens on a full disk,
 * and nothing acknowledged is ever lost. (A failed sync stays fatal: see
 * fault_test.ts.)
 *
 * Most tests use a file system that reports ENOSPC on demand; the last one
 * fills a real tmpfs (root only; skipped with a message otherwise).
 */

import assert from "node:assert/strict";
import { DiskStorage, RESERVE_FILE } from "../../src/storage/disk_storage.ts";
import { isNoSpace, StorageFatalError } from "../../src/storage/errors.ts";
import {
  denoFs,
  type FileHandle,
  type FileSystem,
  join,
} from "../../src/storage/fs.ts";
import { captureLog, makeEntries, withTempDir } from "./helpers.ts";

const conf = { voters: ["n1"], learners: [] };

function enospc(path: string): Error {
  return Object.assign(
    new Error(`No space left on device (os error 28): write '${path}'`),
    { code: "ENOSPC" },
  );
}

/**
 * The real file system, except that while `full` every write writes half
 * its bytes and then fails with ENOSPC, as a filling disk does. With
 * `freedByReserve`, removing the reserve file makes room (clears `full`).
 */
class FullFs implements FileSystem {
  full = false;
  freedByReserve = false;
  refusedWrites = 0;

  async open(path: string, options: Deno.OpenOptions): Promise<FileHandle> {
    const f = await denoFs.open(path, options);
    return {
      write: async (d) => {
        if (!this.full) return f.write(d);
        this.refusedWrites++;
        if (d.byteLength > 1) await f.write(d.subarray(0, d.byteLength >> 1));
        throw enospc(path);
      },
      syncData: () => f.syncData(),
      sync: () => f.sync(),
      truncate: (n) => f.truncate(n),
      seek: (offset, whence) => f.seek(offset, whence),
      close: () => f.close(),
    };
  }
  readFile = denoFs.readFile;
  readDir = denoFs.readDir;
  stat = denoFs.stat;
  mkdir = denoFs.mkdir;
  rename = denoFs.rename;
  syncDir = denoFs.syncDir;
  async remove(path: string): Promise<void> {
    await denoFs.remove(path);
    if (this.freedByReserve && path.endsWith(RESERVE_FILE)) this.full = false;
  }
}

async function open(
  dir: string,
  fs: FileSystem,
  options: { reserveBytes?: number; segmentSize?: number } = {},
) {
  const fatal: StorageFatalError[] = [];
  const spaceEvents: boolean[] = [];
  const { log, events } = captureLog();
  const store = await DiskStorage.open(dir, {
    conf,
    fs,
    log,
    onFatal: (e) => fatal.push(e),
    onNoSpace: (v) => spaceEvents.push(v),
    noSpaceRetryMs: 10,
    ...options,
  });
  return { store, fatal, spaceEvents, events };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  return () => done;
}

async function segmentSizes(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of Deno.readDir(join(dir, "wal"))) {
    // A retry's temp file may go between the listing and the stat.
    const info = await Deno.stat(join(dir, "wal", e.name)).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    if (info) out[e.name] = info.size;
  }
  return out;
}

const hs = (commit: number) => ({ term: 1, vote: "n1", commit });

Deno.test("a save on a full disk is undone, waits for space, then goes through", async () => {
  await withTempDir(async (dir) => {
    const fs = new FullFs();
    const { store, fatal, spaceEvents, events } = await open(dir, fs);
    await store.save({ entries: makeEntries(1, 5, 1, 100), hardState: hs(5) });

    fs.full = true;
    const p = store.save({ entries: makeEntries(6, 5, 1, 100) });
    const done = settled(p);
    await until(() => store.noSpace, "the no-space state");
    await new Promise((r) => setTimeout(r, 50)); // a few retries
    assert.equal(done(), false, "acknowledged while the disk was full");
    assert.ok(fs.refusedWrites >= 2);
    assert.deepEqual(fatal, []);
    assert.equal(store.fatalError, undefined);
    // Reads go on from memory.
    assert.equal(store.lastIndex(), 10);

    fs.full = false;
    await p;
    await until(() => !store.noSpace, "space again");
    assert.deepEqual(spaceEvents, [true, false]);
    assert.ok(events.some((e) => e.event === "storage.no_space"));
    assert.ok(events.some((e) => e.event === "storage.space_ok"));
    await store.close();

    // Each half-written record was cut off before the next try: recovery
    // finds every record whole (a torn one before the good one would be
    // refused as corruption).
    const reopened = captureLog();
    const again = await DiskStorage.open(dir, { log: reopened.log });
    assert.deepEqual(
      reopened.events.filter((e) => /torn|broken/.test(e.event)),
      [],
    );
    assert.equal(again.lastIndex(), 10);
    assert.deepEqual(again.entries(1, 11, Infinity), [
      ...makeEntries(1, 5, 1, 100),
      ...makeEntries(6, 5, 1, 100),
    ]);
    await again.close();
  });
});

Deno.test("the reserve file is given up so the write goes through at once, then written again", async () => {
  await withTempDir(async (dir) => {
    const fs = new FullFs();
    fs.freedByReserve = true;
    const { store, fatal, spaceEvents, events } = await open(dir, fs, {
      reserveBytes: 64 * 1024,
    });
    const reserve = join(dir, RESERVE_FILE);
    assert.equal((await Deno.stat(reserve)).size, 64 * 1024);
    fs.full = true;
    await store.save({ entries: makeEntries(1, 3, 1), hardState: hs(3) });
    assert.ok(events.some((e) => e.event === "storage.reserve_released"));
    // Space came back (the reserve's): the reserve is written again.
    await until(() => !store.noSpace, "the reserve again");
    assert.equal((await Deno.stat(reserve)).size, 64 * 1024);
    assert.deepEqual(spaceEvents, [true, false]);
    assert.deepEqual(fatal, []);
    await store.close();
  });
});

Deno.test("a segment that cannot be created for lack of space is not created", async () => {
  await withTempDir(async (dir) => {
    const fs = new FullFs();
    const { store, fatal } = await open(dir, fs, { segmentSize: 600 });
    await store.save({ entries: makeEntries(1, 4, 1, 100), hardState: hs(4) });
    const before = Object.keys(await segmentSizes(dir));
    fs.full = true;
    const p = store.save({ entries: makeEntries(5, 4, 1, 100) });
    await until(() => store.noSpace, "the no-space state");
    await new Promise((r) => setTimeout(r, 30));
    // No new segment (a try's temp file may be there for a moment).
    assert.deepEqual(
      Object.keys(await segmentSizes(dir)).filter((n) => n.endsWith(".wal")),
      before,
    );
    fs.full = false;
    await p;
    assert.deepEqual(fatal, []);
    const after = Object.keys(await segmentSizes(dir));
    assert.ok(after.length > 1);
    assert.ok(after.every((n) => n.endsWith(".wal")), "temp files left");
    await store.close();
    const reopened = captureLog();
    const again = await DiskStorage.open(dir, { log: reopened.log });
    assert.deepEqual(
      reopened.events.filter((e) => /torn|broken|temp/.test(e.event)),
      [],
    );
    assert.deepEqual(again.entries(1, 9, Infinity), [
      ...makeEntries(1, 4, 1, 100),
      ...makeEntries(5, 4, 1, 100),
    ]);
    await again.close();
  });
});

Deno.test("a snapshot that finds the disk full is skipped; the WAL keeps its entries", async () => {
  await withTempDir(async (dir) => {
    const fs = new FullFs();
    const { store, fatal, events } = await open(dir, fs);
    await store.save({ entries: makeEntries(1, 10, 1), hardState: hs(10) });
    fs.full = true;
    const snap = await store.createSnapshot(8, conf, new Uint8Array(5000));
    assert.equal(snap.metadata.index, 8);
    assert.ok(events.some((e) => e.event === "snapshot.skipped_no_space"));
    assert.equal(store.noSpace, true);
    // No snapshot file and no temp file.
    assert.deepEqual([...Deno.readDirSync(join(dir, "snap"))], []);
    fs.full = false;
    await until(() => !store.noSpace, "space again");
    await store.save({ entries: makeEntries(11, 2, 1), hardState: hs(12) });
    // The next snapshot is written.
    await store.createSnapshot(12, conf, new Uint8Array(10));
    assert.equal([...Deno.readDirSync(join(dir, "snap"))].length, 1);
    assert.deepEqual(fatal, []);
    await store.close();
    const again = await DiskStorage.open(dir, { log: () => {} });
    assert.equal(again.snapshot().metadata.index, 12);
    assert.equal(again.lastIndex(), 12);
    await again.close();
  });
});

Deno.test("a store closed while a save waits for space rejects it, not fatally", async () => {
  await withTempDir(async (dir) => {
    const fs = new FullFs();
    const { store, fatal } = await open(dir, fs);
    await store.save({ entries: makeEntries(1, 2, 1), hardState: hs(2) });
    fs.full = true;
    const p = store.save({ entries: makeEntries(3, 2, 1) });
    await until(() => store.noSpace, "the no-space state");
    await store.close();
    await assert.rejects(p, (e) => !(e instanceof StorageFatalError));
    assert.deepEqual(fatal, []);
    fs.full = false;
    const again = await DiskStorage.open(dir, { log: () => {} });
    assert.equal(again.lastIndex(), 2);
    await again.close();
  });
});

Deno.test("a store opens on a full disk, in the no-space state, and reads", async () => {
  await withTempDir(async (dir) => {
    const first = await open(dir, denoFs);
    await first.store.save({ entries: makeEntries(1, 3, 1), hardState: hs(3) });
    await first.store.close();
    const fs = new FullFs();
    fs.full = true;
    const { store, spaceEvents } = await open(dir, fs, {
      reserveBytes: 64 * 1024,
    });
    assert.equal(store.noSpace, true);
    assert.deepEqual(spaceEvents, [true]);
    assert.equal(store.lastIndex(), 3);
    assert.deepEqual(store.entries(1, 4, Infinity), makeEntries(1, 3, 1));
    fs.full = false;
    await until(() => !store.noSpace, "space again");
    await store.close();
  });
});

Deno.test("a sync that fails with ENOSPC is still fatal", async () => {
  await withTempDir(async (dir) => {
    const fs: FileSystem = {
      ...denoFs,
      async open(path, options) {
        const f = await denoFs.open(path, options);
        return {
          write: (d) => f.write(d),
          // Data written but not durable: the kernel may have dropped it.
          syncData: () => Promise.reject(enospc(path)),
          sync: () => f.sync(),
          truncate: (n) => f.truncate(n),
          seek: (offset, whence) => f.seek(offset, whence),
          close: () => f.close(),
        };
      },
    };
    const { store, fatal } = await open(dir, fs);
    await assert.rejects(
      store.save({ entries: makeEntries(1, 1, 1), hardState: hs(1) }),
      (e) => e instanceof StorageFatalError,
    );
    assert.equal(fatal.length, 1);
    assert.equal(store.noSpace, false);
    await store.close();
  });
});

Deno.test("ENOSPC is recognized by its code, its errno, or as a cause", () => {
  assert.equal(isNoSpace(enospc("x")), true);
  assert.equal(
    isNoSpace(new Error("No space left on device (os error 28)")),
    true,
  );
  assert.equal(isNoSpace(new Error("x", { cause: enospc("y") })), true);
  assert.equal(isNoSpace(new Error("Input/output error (os error 5)")), false);
  assert.equal(isNoSpace(undefined), false);
});

/** Mounts a tmpfs of `size` on a fresh directory, or says why it cannot. */
async function mountTmpfs(size: string): Promise<string | Error> {
  const dir = await Deno.makeTempDir({ prefix: "raftlock_tmpfs_" });
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return dir;
    await Deno.remove(dir);
    return new Error(new TextDecoder().decode(out.stderr).trim());
  } catch (e) {
    await Deno.remove(dir).catch(() => {});
    return e as Error;
  }
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
  await Deno.remove(dir).catch(() => {});
}

Deno.test("a real full disk (tmpfs): nothing acknowledged is lost, never fatal", async (t) => {
  const mnt = await mountTmpfs("2m");
  if (mnt instanceof Error) {
    console.log(
      `skipped: cannot mount a tmpfs here (needs root): ${mnt.message}`,
    );
    t.step({ name: "needs a tmpfs mount (root)", ignore: true, fn: () => {} });
    return;
  }
  try {
    const dir = join(mnt, "data");
    // Room to free later, as an operator would.
    await Deno.writeFile(join(mnt, "ballast"), new Uint8Array(768 * 1024));
    const { store, fatal, spaceEvents } = await open(dir, denoFs, {
      reserveBytes: 128 * 1024,
      segmentSize: 64 * 1024,
    });
    let index = 0;
    let blocked: Promise<void> | undefined;
    // Saves until one waits for space (the reserve goes first).
    for (let i = 0; i < 10_000 && !blocked; i++) {
      const p = store.save({
        entries: makeEntries(index + 1, 4, 1, 4096),
        hardState: hs(index + 4),
      });
      const done = settled(p);
      const deadline = Date.now() + 1000;
      while (!done() && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      if (done()) {
        await p;
        index += 4;
      } else blocked = p.then(() => void (index += 4));
    }
    assert.ok(blocked, "the disk never filled");
    assert.equal(store.noSpace, true);
    assert.equal(
      await Deno.stat(join(dir, RESERVE_FILE)).then(() => true, () => false),
      false,
      "the reserve was given up",
    );
    const acknowledged = index;
    assert.ok(acknowledged > 0);
    // Space comes back: the waiting save goes through, the reserve returns.
    await Deno.remove(join(mnt, "ballast"));
    await blocked;
    await until(() => !store.noSpace, "space again");
    assert.deepEqual(spaceEvents, [true, false]);
    assert.deepEqual(fatal, []);
    await store.close();
    const again = await DiskStorage.open(dir, { log: () => {} });
    assert.equal(again.lastIndex(), acknowledged + 4);
    for (let i = 1; i <= acknowledged + 4; i += 4) {
      assert.deepEqual(
        again.entries(i, i + 4, Infinity),
        makeEntries(i, 4, 1, 4096),
      );
    }
    await again.close();
  } finally {
    await unmount(mnt);
  }
});
