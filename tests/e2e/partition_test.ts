/**
 * E2E: network partitions between raftd processes, made with one
 * FaultProxy per directed pair (node i reaches node j only through proxy
 * i→j, because i's `--peers` names the proxy's address for j).
 */

import assert from "node:assert/strict";
import { FaultProxy } from "../../src/transport/fault_proxy.ts";
import { E2E, type E2ECluster, http, sleep, withCluster } from "./harness.ts";

/** proxies[i][j] carries i's traffic to j. */
type Proxies = Record<string, Record<string, FaultProxy>>;

function proxied(proxies: Proxies) {
  return (id: string, real: Record<string, string>) => {
    const peers: Record<string, string> = { [id]: real[id] };
    proxies[id] = {};
    for (const [j, addr] of Object.entries(real)) {
      if (j === id) continue;
      proxies[id][j] = FaultProxy.listen(addr);
      peers[j] = proxies[id][j].addr;
    }
    return peers;
  };
}

function closeProxies(c: E2ECluster, proxies: Proxies): void {
  c.closers.push(() =>
    Promise.all(
      Object.values(proxies).flatMap((m) => Object.values(m)).map((p) =>
        p.close()
      ),
    )
  );
}

/** Every proxy into and out of `id`. */
function around(proxies: Proxies, id: string): FaultProxy[] {
  const out: FaultProxy[] = [];
  for (const [i, m] of Object.entries(proxies)) {
    for (const [j, p] of Object.entries(m)) {
      if (i === id || j === id) out.push(p);
    }
  }
  return out;
}

/**
 * Once the majority (all of `ids` but `old`) writes `<prefix>/after`, the
 * old leader follows in term `t1` or later and holds `<prefix>/before`,
 * `/during` and `/after`.
 */
async function assertRejoined(
  c: E2ECluster,
  ids: string[],
  old: string,
  t1: number,
  prefix: string,
  what: string,
): Promise<void> {
  const majority = ids.filter((id) => id !== old);
  await c.putRetry(majority, `${prefix}/after`, "3");
  await c.waitApplied(ids);
  const st = (await c.status(old))!;
  assert.equal(st.role, "follower");
  assert.ok(st.term >= t1);
  for (
    const key of ["before", "during", "after"].map((k) => `${prefix}/${k}`)
  ) {
    const g = await c.get(old, key, "serializable");
    assert.equal(g.status, 200, `${key} on ${what}`);
  }
}

Deno.test({
  name: "e2e: partitioned leader stops committing; majority elects; heal",
  ...E2E,
  fn: async () => {
    const proxies: Proxies = {};
    await withCluster({ nodes: 3, peersFor: proxied(proxies) }, async (c) => {
      closeProxies(c, proxies);
      const ids = ["n1", "n2", "n3"];
      const old = await c.waitForLeader();
      const majority = ids.filter((id) => id !== old);
      await c.putRetry(ids, "part/before", "1");
      const before = (await c.status(old))!;

      for (const p of around(proxies, old)) p.block();
      // A write to the isolated leader must not succeed. The node answers
      // it within its own 5 s; the client's 30 s only ends a hang.
      const stale = c.put(old, "part/stale", "x", 30_000);

      const next = await c.waitForLeader({ ids: majority, notId: old });
      const t1 = (await c.status(next))!.term;
      assert.ok(t1 > before.term, "the majority elected in a higher term");
      const w = await c.putRetry(majority, "part/during", "2");
      assert.ok(w.revision > 0);

      const r = await stale;
      assert.ok(
        r.status === 503 || r.status === 504,
        `PUT to the isolated leader answered ${r.status} ${
          JSON.stringify(r.body)
        }`,
      );
      const iso = (await c.status(old))!;
      assert.ok(
        iso.commit <= before.commit + 1,
        `isolated leader committed ${before.commit} -> ${iso.commit}`,
      );
      assert.notEqual(iso.role, "leader", "CheckQuorum made it step down");

      // Heal: the old leader follows the new term and has the new writes.
      for (const p of around(proxies, old)) p.unblock();
      const healed = await c.waitForLeader({ ids });
      assert.notEqual(healed, old);
      await assertRejoined(c, ids, old, t1, "part", "the old leader");
      // Whatever became of the stale write, every node agrees on it.
      const views = await Promise.all(
        ids.map((id) => c.get(id, "part/stale", "serializable")),
      );
      assert.equal(new Set(views.map((v) => v.status)).size, 1);
    });
  },
});

Deno.test({
  name: "e2e: peers keep the proxy addresses given in --peers",
  ...E2E,
  fn: async () => {
    const proxies: Proxies = {};
    await withCluster({ nodes: 3, peersFor: proxied(proxies) }, async (c) => {
      closeProxies(c, proxies);
      await c.waitForLeader();
      await c.putRetry(["n1"], "addr/probe", "1");
      await sleep(500);
      // Every byte between peers must flow through the proxies: cut them
      // all and no write can commit.
      for (const m of Object.values(proxies)) {
        for (const p of Object.values(m)) p.block({ mode: "close" });
      }
      await sleep(100);
      const r = await c.put("n1", "addr/cut", "x", 1500);
      assert.notEqual(r.status, 200, "a write committed with every link cut");
      const m = await http<{ members: { id: string; peerAddress: string }[] }>(
        `${c.url("n1")}/v1/cluster?local`,
      );
      assert.equal(m.status, 200);
    });
  },
});

Deno.test({
  name: "e2e: a paused leader (SIGSTOP) is replaced and rejoins as follower",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const ids = ["n1", "n2", "n3"];
      const old = await c.waitForLeader();
      const majority = ids.filter((id) => id !== old);
      await c.putRetry(ids, "pause/before", "1");
      const before = (await c.status(old))!;
      const pid = c.node(old).pid!;

      Deno.kill(pid, "SIGSTOP");
      let resumed = false;
      try {
        // Sent while paused: served only when it resumes, as a stale leader
        // (60 s: longer than the election and writes before SIGCONT can
        // take on a loaded machine, so it is answered, not cut off).
        const stale = c.put(old, "pause/stale", "x", 60_000);
        const next = await c.waitForLeader({ ids: majority, notId: old });
        const t1 = (await c.status(next))!.term;
        assert.ok(t1 > before.term);
        await c.putRetry(majority, "pause/during", "2");
        Deno.kill(pid, "SIGCONT");
        resumed = true;

        const r = await stale;
        // A stale leader must not acknowledge a write it could not commit;
        // if it answered 200 the write must really be in the new log.
        if (r.status === 200) {
          const g = await c.get(next, "pause/stale");
          assert.equal(g.status, 200, "acknowledged write is committed");
          assert.equal(g.body.modRevision, r.body.revision);
        } else {
          assert.ok(
            r.status === 503 || r.status === 504,
            `stale leader answered ${r.status}`,
          );
        }
        await c.waitForLeader({ ids });
        await assertRejoined(c, ids, old, t1, "pause", "the resumed node");
      } finally {
        if (!resumed) Deno.kill(pid, "SIGCONT");
      }
    }),
});
