/**
 * E2E: a cluster of raftd processes with a peer secret shrugs off forged
 * peers — a handshake with the wrong secret, one with no secret, and a
 * replay of a genuine node's recorded handshake — and the rejections show
 * in /metrics. Without a secret, a member id forged at the wire cannot
 * crash a node with a term of 2^53 − 1 either, and the id of a member
 * whose connection is alive is refused (`duplicate_id`).
 */

import assert from "node:assert/strict";
import type { Message } from "../../src/raft/types.ts";
import { ensurePeerSecretFile } from "../../src/transport/tcp.ts";
import { RawPeer, RecordingRelay } from "../transport/raw_peer.ts";
import {
  E2E,
  type E2ECluster,
  http,
  RAFTD,
  reservePorts,
  sleep,
  type Status,
  withCluster,
} from "./harness.ts";

const IDS = ["n1", "n2", "n3"];

/** What must not change: per node, its view of leader, term and log. */
type View = Record<
  string,
  Pick<Status, "leader" | "term" | "lastIndex" | "commit">
>;

// Waits until every node agrees on the leader and has applied all it has
// (the members publish their addresses right after the first election),
// and nothing moves for half a second.
async function settled(c: E2ECluster): Promise<View> {
  const deadline = Date.now() + 15_000;
  let prev = "";
  let last: View = {};
  while (Date.now() < deadline) {
    const st = await c.statuses(IDS);
    if (st.every((s) => s !== undefined)) {
      last = Object.fromEntries(st.map((s) => [s!.id, {
        leader: s!.leader,
        term: s!.term,
        lastIndex: s!.lastIndex,
        commit: s!.commit,
      }]));
      const calm = st.every((s) =>
        s!.leader === st[0]!.leader && s!.leader !== "" &&
        s!.commit === s!.lastIndex && s!.applied === s!.commit &&
        s!.lastIndex === st[0]!.lastIndex
      );
      const now = JSON.stringify(last);
      if (calm && now === prev) return last;
      prev = calm ? now : "";
    }
    await sleep(500);
  }
  throw new Error(`The cluster did not settle: ${JSON.stringify(last)}`);
}

async function view(c: E2ECluster): Promise<View> {
  const st = await c.statuses(IDS);
  return Object.fromEntries(st.map((s, i) => [IDS[i], {
    leader: s?.leader ?? "down",
    term: s?.term ?? -1,
    lastIndex: s?.lastIndex ?? -1,
    commit: s?.commit ?? -1,
  }]));
}

async function rejected(
  c: E2ECluster,
  id: string,
): Promise<Record<string, number>> {
  const r = await fetch(`${c.url(id)}/metrics`);
  const text = await r.text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = line.match(
      /^raftlock_peer_connections_rejected_total\{reason="([a-z_]+)"\} (\d+)$/,
    );
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Forged traffic from `from` to `to` at the state the attacker last saw. */
function forgeries(from: string, to: string, s: View[string]): Message[] {
  return [
    // Would depose the leader (a newer term).
    { type: "heartbeat", from, to, term: s.term + 5, commit: s.commit },
    // Would be appended and, once committed, applied.
    {
      type: "app",
      from,
      to,
      term: s.term + 5,
      logTerm: s.term,
      index: s.lastIndex,
      commit: s.lastIndex + 1,
      entries: [{
        term: s.term + 5,
        index: s.lastIndex + 1,
        type: 0,
        data: new TextEncoder().encode("forged"),
      }],
    },
    // Would make the node campaign at 2^53 and crash, again at every start.
    { type: "heartbeat", from, to, term: Number.MAX_SAFE_INTEGER },
  ];
}

async function attack(
  addr: string,
  claim: { from: string; to: string },
  secret: string | undefined,
  messages: Message[],
): Promise<string> {
  const raw = await RawPeer.connect(addr);
  try {
    const out = await raw.handshake(claim, secret);
    for (const m of messages) if (!await raw.send(m)) break;
    assert.ok(await raw.closedByPeer(), "the node closes the connection");
    return out.result;
  } finally {
    raw.close();
  }
}

Deno.test({
  name:
    "e2e: with a peer secret, forged, secretless and replayed handshakes change nothing",
  ...E2E,
  async fn() {
    const secretDir = await Deno.makeTempDir({ prefix: "raftlock-secret-" });
    const secretFile = await ensurePeerSecretFile(`${secretDir}/peer.secret`);
    // Every node reaches every other through a relay that records what
    // the dialer sends.
    const relays = new Map<string, RecordingRelay>();
    try {
      await withCluster({
        extraArgs: ["--peer-secret-file", secretFile],
        peersFor: (id, real) => {
          const view = { ...real };
          for (const to of IDS) {
            if (to === id) continue;
            const relay = new RecordingRelay();
            relay.target = real[to];
            relays.set(`${id}>${to}`, relay);
            view[to] = relay.addr;
          }
          return view;
        },
      }, async (c) => {
        const before = await settled(c);
        // The leader has dialled each follower.
        const leader = before.n1.leader;
        const victim = IDS.find((id) => id !== leader)!;
        const genuine = relays.get(`${leader}>${victim}`)!.recorded[0];
        assert.ok(genuine?.byteLength > 0, "a recorded genuine handshake");
        const addr = (id: string) => c.node(id).config.listen;
        const results: string[] = [];
        for (const to of IDS) {
          // Claim to be another member (ids are public: GET /v1/cluster).
          const from = IDS.find((id) => id !== to)!;
          const msgs = forgeries(from, to, before[to]);
          results.push(
            await attack(
              addr(to),
              { from, to },
              "not the cluster secret at all",
              msgs,
            ),
            await attack(addr(to), { from, to }, undefined, msgs),
          );
        }
        // A replay of the leader's genuine handshake (and the messages
        // after it) to the follower it was meant for.
        const replay = await RawPeer.connect(addr(victim));
        await replay.write(genuine);
        assert.ok(await replay.closedByPeer(), "replay closed");
        assert.deepEqual(results, [
          "bad_proof",
          "auth_required",
          "bad_proof",
          "auth_required",
          "bad_proof",
          "auth_required",
        ]);

        // Longer than an election timeout: a forged heartbeat would have
        // deposed the leader by now.
        await sleep(1000);
        assert.deepEqual(await view(c), before);
        assert.deepEqual(c.running().sort(), IDS);
        for (const id of IDS) {
          const r = await rejected(c, id);
          assert.equal(
            r.bad_proof,
            id === victim ? 2 : 1,
            `${id}: ${JSON.stringify(r)}`,
          );
          assert.equal(r.auth_required, 1, id);
          assert.equal(r.invalid_message, undefined, id);
          const logged = c.node(id).findLogs((l) =>
            l.event === "transport" && l.reason === "bad_proof"
          );
          assert.equal(logged.length, id === victim ? 2 : 1, id);
          assert.equal(logged[0].level, "warn");
        }
        // The cluster still works.
        const put = await c.put(leader, "after", "ok");
        assert.equal(put.status, 200, JSON.stringify(put.body));
        // A node with the secret joins (learner, then voter) as usual.
        c.addNode("n4", {
          join: c.url(leader),
          extraArgs: ["--peer-secret-file", secretFile],
        }).start();
        const deadline = Date.now() + 20_000;
        let role = "";
        while (role !== "voter" && Date.now() < deadline) {
          await sleep(200);
          const r = await http<{ members: { id: string; role: string }[] }>(
            `${c.url(leader)}/v1/cluster`,
          );
          role = r.body.members?.find((m) => m.id === "n4")?.role ?? "";
        }
        assert.equal(role, "voter", "n4 joined and was promoted");
        await c.waitApplied(["n4"]);
        const got = await c.get("n4", "after");
        assert.equal(got.status, 200, JSON.stringify(got.body));
      });
    } finally {
      await Promise.all([...relays.values()].map((r) => r.close()));
      await Deno.remove(secretDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "e2e: without a secret, a forged member's 2^53−1 term is refused at the wire",
  ...E2E,
  fn: () =>
    withCluster({}, async (c) => {
      // A member that never runs (a learner), so its id is free to forge:
      // a member whose connection is alive cannot be impersonated.
      const [port] = reservePorts(1);
      await c.waitForLeader();
      // A follower forwards to the leader once it has published its HTTP
      // address (503 until then): retry while it is not known yet.
      let learner;
      const until = Date.now() + 30_000;
      do {
        learner = await http(`${c.url("n1")}/v1/cluster/members`, {
          method: "POST",
          body: { id: "n4", peerAddress: `127.0.0.1:${port}` },
          timeoutMs: 10_000,
        });
        if (learner.status !== 503) break;
        await new Promise((r) => setTimeout(r, 100));
      } while (Date.now() < until);
      assert.ok([201, 409].includes(learner.status), JSON.stringify(learner));
      const before = await settled(c);
      const leader = before.n1.leader;
      const follower = IDS.find((id) => id !== leader)!;
      assert.equal(
        await attack(
          c.node(leader).config.listen,
          { from: follower, to: leader },
          undefined,
          [],
        ),
        "duplicate_id",
        "a live member's id is taken",
      );
      for (const to of IDS) {
        const from = "n4";
        const result = await attack(
          c.node(to).config.listen,
          { from, to },
          undefined,
          [{ type: "heartbeat", from, to, term: Number.MAX_SAFE_INTEGER }],
        );
        assert.equal(result, "admitted", "no secret: the forged id gets in");
      }
      await sleep(1000);
      const after = await view(c);
      assert.deepEqual(c.running().sort(), IDS);
      for (const id of IDS) {
        assert.equal(after[id].term, before[id].term, id);
        assert.equal(after[id].leader, leader, id);
        assert.equal((await rejected(c, id)).invalid_message, 1, id);
      }
      const r = await http(`${c.url(leader)}/v1/status`);
      assert.equal(r.status, 200);
    }),
});

Deno.test({
  name:
    "e2e: raftd refuses a bad peer secret file, and an open peer port without one",
  ...E2E,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "raftlock-secret-" });
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          new URL("../../deno.json", import.meta.url).pathname,
          RAFTD,
          "--data-dir",
          `${dir}/data`,
          "--http",
          "127.0.0.1:0",
          ...args,
        ],
        env: { NO_COLOR: "1", ...env },
        stdout: "null",
        stderr: "piped",
      }).output();
      return { code: out.code, err: new TextDecoder().decode(out.stderr) };
    };
    try {
      await Deno.writeTextFile(`${dir}/short`, "tooshort\n");
      const cases: [string[], Record<string, string>, RegExp][] = [
        [["--peer-secret-file", `${dir}/none`], {}, /none does not exist/],
        [["--peer-secret-file", `${dir}/short`], {}, /at least 16 are needed/],
        [[], { RAFTLOCK_PEER_SECRET_FILE: `${dir}/env` }, /env does not exist/],
        // The flag wins over the environment.
        [
          ["--peer-secret-file", `${dir}/flag`],
          { RAFTLOCK_PEER_SECRET_FILE: `${dir}/env` },
          /flag does not exist/,
        ],
        [["--listen", "0.0.0.0:0"], {}, /not a loopback address/],
      ];
      for (const [args, env, pattern] of cases) {
        const r = await run(args, env);
        assert.equal(r.code, 2, r.err);
        assert.match(r.err, pattern);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
