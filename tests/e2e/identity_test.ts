/**
 * E2E: identity with real processes. A data directory records its node and
 * cluster id, and raftd refuses to start it as another node or cluster,
 * naming both. A second process started with a live member's id is
 * refused by the leader (`duplicate_id`, counted and logged with both
 * addresses); the member keeps its connection and the cluster carries on.
 */

import assert from "node:assert/strict";
import {
  E2E,
  http,
  RAFTD,
  RaftdProcess,
  reservePorts,
  type Status,
  withCluster,
} from "./harness.ts";

async function raftd(args: string[]): Promise<{ code: number; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      RAFTD,
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, err: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "e2e: a data directory refuses another node id or cluster id",
  ...E2E,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "raftlock-identity-" });
    try {
      const [peer, api] = reservePorts(2);
      const n1 = new RaftdProcess({
        id: "n1",
        listen: `127.0.0.1:${peer}`,
        http: `127.0.0.1:${api}`,
        dataDir: `${dir}/n1`,
      });
      n1.start();
      for (let i = 0; i < 100; i++) {
        const r = await http<Status>(`${n1.url}/v1/status`);
        if (r.status === 200 && r.body.role === "leader") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await n1.kill("SIGTERM")).code, 0);
      const common = [
        "--data-dir",
        `${dir}/n1`,
        "--listen",
        `127.0.0.1:${peer}`,
        "--http",
        `127.0.0.1:${api}`,
      ];
      const asN2 = await raftd(["--id", "n2", ...common]);
      assert.equal(asN2.code, 1);
      assert.match(
        asN2.err,
        /could not start: Data directory .*\/n1 belongs to node "n1", but this node is "n2" \(--id\): start n1 with it, or give n2 its own data directory/,
      );
      const other = await raftd([
        "--id",
        "n1",
        "--cluster-id",
        "c2",
        ...common,
      ]);
      assert.equal(other.code, 1);
      assert.match(
        other.err,
        /belongs to cluster "raftlock", but this node runs with --cluster-id "c2": start it with --cluster-id raftlock/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "e2e: a second process with a live member's id is refused",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      const victim = ["n1", "n2", "n3"].find((id) => id !== leader)!;
      const before = (await c.status(leader))!;
      // Same id, its own data and addresses; it knows only the leader.
      const twin = c.addNode(`${victim}-twin`);
      twin.config = {
        ...twin.config,
        id: victim,
        peers: {
          [leader]: c.node(leader).config.listen,
          [victim]: twin.config.listen,
        },
      };
      const twinAddr = twin.config.listen;
      twin.start();
      const line = await c.node(leader).waitForLog(
        (r) => r.reason === "duplicate_id",
        { timeoutMs: 10_000 },
      );
      assert.equal(line.level, "warn");
      assert.equal(line.peer, victim);
      assert.match(
        String(line.detail),
        new RegExp(
          `node ${victim} is already connected from 127\\.0\\.0\\.1:\\d+ .*this connection from 127\\.0\\.0\\.1:\\d+ claims the same id`,
        ),
      );
      // The twin hears why.
      await twin.waitForLog(
        (r) =>
          r.message === "Peer unreachable" &&
          /duplicate_id/.test(String(r.reason)),
        { timeoutMs: 10_000 },
      );
      const metrics = await (await fetch(`${c.url(leader)}/metrics`)).text();
      assert.match(
        metrics,
        /raftlock_peer_connections_rejected_total\{reason="duplicate_id"\} [1-9]/,
      );
      // Nothing moved while the twin runs: same leader and term, and the
      // real member still gets and applies every write.
      const w = await c.putRetry([leader], "after/twin", "1");
      for (let i = 0;; i++) {
        const g = await c.get(victim, "after/twin", "serializable");
        if (g.status === 200) {
          assert.equal(g.body.modRevision, w.revision);
          break;
        }
        assert.ok(i < 100, `${victim} never applied the write`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const after = (await c.status(leader))!;
      assert.equal(after.leader, leader);
      assert.equal(after.term, before.term);
      assert.notEqual(twinAddr, c.node(victim).config.listen);
      await twin.kill("SIGKILL");
    }),
});
