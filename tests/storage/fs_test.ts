import assert from "node:assert/strict";
import { join, writeFileAtomic } from "../../src/storage/fs.ts";
import { FaultyFs, withTempDir } from "./helpers.ts";

Deno.test("writeFileAtomic writes its parts in order and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    const path = join(dir, "f");
    await writeFileAtomic(fs, path, [
      new Uint8Array([1, 2]),
      new Uint8Array(),
      new Uint8Array([3]),
    ]);
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    await writeFileAtomic(fs, path, new Uint8Array([9]));
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([9]));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f"]);
    assert.equal(fs.counts.sync, 2);
    assert.equal(fs.counts.rename, 2);
    assert.equal(fs.counts.syncDir, 2);
  });
});

Deno.test("writeFileAtomic keeps the old file when the new one fails to sync", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    const path = join(dir, "f");
    await writeFileAtomic(fs, path, new Uint8Array([1]));
    fs.failNext("sync", { path: /f\.tmp$/ });
    await assert.rejects(
      writeFileAtomic(fs, path, new Uint8Array([2])),
      /Injected sync failure/,
    );
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1]));
    assert.equal(fs.counts.rename, 1, "no rename after the failed sync");
  });
});
