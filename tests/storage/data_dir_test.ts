/**
 * The data directory's identity: the marker records the cluster id and the
 * node id, a directory of another node or cluster is refused with both
 * named, and an old marker without ids gets them on its first start.
 */

import assert from "node:assert/strict";
import { openDataDir, readDataDirMarker } from "../../src/storage/data_dir.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { DataDirError } from "../../src/storage/errors.ts";
import { join } from "../../src/storage/fs.ts";
import { captureLog, silentLog, withTempDir } from "./helpers.ts";

const n1 = { clusterId: "prod", nodeId: "n1" };

async function marker(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(join(dir, "raftlock.json")));
}

Deno.test("a new directory records the cluster id and node id", async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "n1");
    const { log, events } = captureLog();
    const layout = await openDataDir(dir, { identity: n1, log });
    assert.equal(layout.created, true);
    assert.deepEqual(await marker(dir), {
      format: "raftlock-data",
      version: 1,
      clusterId: "prod",
      nodeId: "n1",
    });
    assert.deepEqual(events.map((e) => e.event), ["data_dir.created"]);
    assert.deepEqual(await readDataDirMarker(dir), await marker(dir));
    assert.equal(await readDataDirMarker(join(tmp, "none")), undefined);
    // The same identity opens it again, and so does none at all.
    assert.equal((await openDataDir(dir, { identity: n1 })).created, false);
    assert.equal((await openDataDir(dir, { log: silentLog })).created, false);
  });
});

Deno.test("another node's directory is refused, naming both ids", async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "n1");
    await openDataDir(dir, { identity: n1, log: silentLog });
    const before = await marker(dir);
    await assert.rejects(
      openDataDir(dir, {
        identity: { clusterId: "prod", nodeId: "n2" },
        log: silentLog,
      }),
      (e: Error) => {
        assert.ok(e instanceof DataDirError);
        assert.match(
          e.message,
          /belongs to node "n1", but this node is "n2" \(--id\): start n1 with it, or give n2 its own data directory/,
        );
        return true;
      },
    );
    await assert.rejects(
      openDataDir(dir, {
        identity: { clusterId: "staging", nodeId: "n1" },
        log: silentLog,
      }),
      (e: Error) => {
        assert.ok(e instanceof DataDirError);
        assert.match(
          e.message,
          /belongs to cluster "prod", but this node runs with --cluster-id "staging": start it with --cluster-id prod/,
        );
        return true;
      },
    );
    // Refusing changed nothing.
    assert.deepEqual(await marker(dir), before);
    // DiskStorage passes the identity through.
    await assert.rejects(
      DiskStorage.open(dir, {
        identity: { clusterId: "prod", nodeId: "n3" },
        log: silentLog,
      }),
      DataDirError,
    );
    const s = await DiskStorage.open(dir, { identity: n1, log: silentLog });
    await s.close();
  });
});

Deno.test("an old marker without ids gets them on the first start", async () => {
  await withTempDir(async (dir) => {
    // What builds before the ids wrote, with a WAL behind it.
    const old = await DiskStorage.open(dir, {
      conf: { voters: ["n1"], learners: [] },
      log: silentLog,
    });
    await old.save({
      entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array([7]) }],
      hardState: { term: 1, vote: "n1", commit: 1 },
    });
    await old.close();
    assert.deepEqual(await marker(dir), {
      format: "raftlock-data",
      version: 1,
    });
    const { log, events } = captureLog();
    const s = await DiskStorage.open(dir, { identity: n1, log });
    assert.equal(s.lastIndex(), 1);
    await s.close();
    assert.deepEqual(await marker(dir), {
      format: "raftlock-data",
      version: 1,
      clusterId: "prod",
      nodeId: "n1",
    });
    const recorded = events.find((e) =>
      e.event === "data_dir.identity_recorded"
    );
    assert.deepEqual(recorded?.fields, {
      dir,
      clusterId: "prod",
      nodeId: "n1",
    });
    // From now on it is n1's.
    await assert.rejects(
      openDataDir(dir, {
        identity: { clusterId: "prod", nodeId: "n2" },
        log: silentLog,
      }),
      /belongs to node "n1"/,
    );
  });
});

Deno.test("a marker with ids of the wrong type is refused", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "raftlock.json"),
      JSON.stringify({ format: "raftlock-data", version: 1, nodeId: 7 }),
    );
    await assert.rejects(
      openDataDir(dir, { log: silentLog }),
      /whose nodeId is not a string/,
    );
  });
});
