/**
 * Restoring a backup into a fresh data directory (in process): the
 * directory holds one snapshot at the backup's index with the new
 * membership and records the identity; a server started on it serves
 * every key at its revision; a damaged backup, a used directory and peers
 * without the node are refused.
 */

import assert from "node:assert/strict";
import { decode } from "../../src/codec/msgpack.ts";
import { restoreBackup } from "../../src/server/restore.ts";
import { startServer } from "../../src/server/server.ts";
import { BackupError } from "../../src/storage/backup.ts";
import { readDataDirMarker } from "../../src/storage/data_dir.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { withNode } from "../api/single_node.ts";

async function backupOfSomeState(): Promise<Uint8Array> {
  let file = new Uint8Array();
  await withNode(async (n) => {
    for (let i = 0; i < 20; i++) {
      await n.call("PUT", `/v1/kv/k${i}`, { value: `v${i}` });
    }
    await n.call("DELETE", "/v1/kv/k3");
    const l = await n.call("POST", "/v1/locks/job/acquire", { ttl: 60 });
    assert.equal(l.status, 200);
    const r = await n.app.request("/v1/snapshot");
    file = new Uint8Array(await r.arrayBuffer());
  });
  return file;
}

Deno.test("restore writes a fresh data directory a server starts from", async () => {
  const file = await backupOfSomeState();
  const tmp = await Deno.makeTempDir({ prefix: "raftlock_restore_" });
  try {
    const peers = { n1: "127.0.0.1:1", n2: "127.0.0.1:2", n3: "127.0.0.1:3" };
    const r = await restoreBackup(file, {
      dataDir: `${tmp}/n2`,
      id: "n2",
      peers,
      clusterId: "restored",
    });
    assert.equal(r.clusterId, "restored");
    assert.deepEqual(r.conf, { voters: ["n1", "n2", "n3"], learners: [] });
    assert.equal(r.header.revision, 22);
    assert.deepEqual(await readDataDirMarker(`${tmp}/n2`), {
      format: "raftlock-data",
      version: 1,
      clusterId: "restored",
      nodeId: "n2",
    });
    const s = await DiskStorage.open(`${tmp}/n2`, { log: () => {} });
    try {
      const snap = s.snapshot();
      assert.equal(snap.metadata.index, r.header.index);
      assert.equal(snap.metadata.term, r.header.term);
      assert.deepEqual(snap.metadata.conf, r.conf);
      assert.equal(s.lastIndex(), r.header.index);
      assert.deepEqual(s.initialState().hardState, {
        term: r.header.term,
        vote: "",
        commit: r.header.index,
      });
      const data = decode<{ v: number; members: unknown[] }>(snap.data);
      assert.equal(data.v, 1);
      assert.deepEqual(data.members, [
        { id: "n1", peerAddress: "127.0.0.1:1" },
        { id: "n2", peerAddress: "127.0.0.1:2" },
        { id: "n3", peerAddress: "127.0.0.1:3" },
      ]);
    } finally {
      await s.close();
    }

    // Not over a directory in use, not with peers that omit the node.
    await assert.rejects(
      restoreBackup(file, { dataDir: `${tmp}/n2`, id: "n2", peers }),
      /Data directory .*\/n2 is not empty: a restore writes a fresh data directory/,
    );
    await assert.rejects(
      restoreBackup(file, { dataDir: `${tmp}/n9`, id: "n9", peers }),
      /must include this node \(n9\)/,
    );
    // A damaged backup: refused with the offset, nothing written.
    const bad = file.slice();
    bad[file.byteLength >> 1] ^= 1;
    await assert.rejects(
      restoreBackup(bad, { dataDir: `${tmp}/n3`, id: "n3", peers }),
      (e: Error) => {
        assert.ok(e instanceof BackupError);
        assert.equal(
          e.offset,
          (file.byteLength >> 1) - ((file.byteLength >> 1) % 4096),
        );
        return true;
      },
    );
    await assert.rejects(Deno.stat(`${tmp}/n3`), Deno.errors.NotFound);

    // A one-member cluster restored and started in process.
    await restoreBackup(file, {
      dataDir: `${tmp}/solo`,
      id: "n1",
      peers: { n1: "127.0.0.1:1" },
    });
    const server = await startServer({
      id: "n1",
      dataDir: `${tmp}/solo`,
      listen: "127.0.0.1:0",
      http: "127.0.0.1:0",
      peers: { n1: "127.0.0.1:1" },
    });
    try {
      await server.node.waitForLeader();
      const svc = server.service;
      assert.equal((await svc.get("k7"))?.value, "v7");
      assert.equal(await svc.get("k3"), null);
      assert.equal((await svc.get("k19"))?.modRevision, 20);
      assert.equal(svc.state.revision, 22);
      const lock = await svc.lock("job");
      assert.ok(lock.holder);
      assert.equal(lock.holder.token, 22);
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
