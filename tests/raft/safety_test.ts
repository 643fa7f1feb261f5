/**
 * Safety (§5.4): the election restriction, committing entries from
 * previous terms (Figure 8), leader completeness, election safety, and the
 * planted bugs that prove these tests can fail.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ProposalDroppedError,
  RaftInvariantError,
} from "../../src/raft/errors.ts";
import type { TestingKnobs } from "../../src/raft/raft.ts";
import { mulberry32 } from "../../src/raft/rand.ts";
import type { Entry, NodeId } from "../../src/raft/types.ts";
import {
  CLASSIC,
  data,
  drain,
  electLeader,
  entriesFrom,
  Network,
  newStorage,
  newTestRaft,
  termsOf,
  type TestConfig,
} from "./network.ts";
import { assertProperty } from "../support/property.ts";

const PEERS = ["n1", "n2", "n3"];
const FIVE = ["n1", "n2", "n3", "n4", "n5"];

// §5.4.2: "Raft never commits log entries from previous terms by counting
// replicas. Only log entries from the leader's current term are committed
// by counting replicas."
Deno.test("a leader commits only entries of its current term by counting replicas", () => {
  const cases = [
    // An acknowledgement up to an entry of an earlier term commits nothing.
    { index: 1, commit: 0 },
    { index: 2, commit: 0 },
    // Up to its own no-op (term 3): everything commits.
    { index: 3, commit: 3 },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = newTestRaft("n1", PEERS.slice(0, 2), {
      ...CLASSIC,
      storage: newStorage({
        voters: PEERS.slice(0, 2),
        entries: entriesFrom(1, 1, 2),
        hardState: { term: 2 },
      }),
    });
    electLeader(r);
    assert.equal(r.term, 3);
    r.step({ type: "appResp", from: "n2", to: "n1", term: 3, index: tt.index });
    drain(r);
    assert.equal(r.log.committed, tt.commit, `#${i}`);
  }
});

Deno.test("with commitPreviousTermByCounting the leader commits an old-term entry by counting", () => {
  // The knob must make the previous test fail, or that test proves nothing.
  const r = newTestRaft("n1", PEERS.slice(0, 2), {
    ...CLASSIC,
    testingKnobs: { commitPreviousTermByCounting: true },
    storage: newStorage({
      voters: PEERS.slice(0, 2),
      entries: entriesFrom(1, 1, 2),
      hardState: { term: 2 },
    }),
  });
  electLeader(r);
  r.step({ type: "appResp", from: "n2", to: "n1", term: 3, index: 2 });
  drain(r);
  assert.equal(r.log.committed, 2);
});

/**
 * Runs Figure 8 of the Raft paper on five nodes and returns the safety
 * violations seen: committed (applied) entries that a later leader's log
 * contradicts.
 *
 * The logs are built by hand as they stand after Figure 8 (b):
 *
 * ```
 *        1  2
 *   n1 [ 1, 2 ]    n1 led term 2 and got index 2 to n2 only
 *   n2 [ 1, 2 ]
 *   n3 [ 1 ]
 *   n4 [ 1 ]
 *   n5 [ 1, 3 ]    n5 led term 3 (votes of n3, n4) and wrote index 2 alone
 * ```
 */
function figure8(knobs: TestingKnobs): {
  violations: string[];
  net: Network;
  commitAfterC: number;
} {
  const store = (terms: number[], term: number, vote: NodeId) =>
    newStorage({
      voters: FIVE,
      entries: entriesFrom(1, ...terms),
      hardState: { term, vote, commit: 1 },
    });
  const net = new Network(FIVE, {
    config: { ...CLASSIC, testingKnobs: knobs },
    storages: {
      n1: store([1, 2], 3, ""),
      n2: store([1, 2], 2, "n1"),
      n3: store([1], 3, "n5"),
      n4: store([1], 3, "n5"),
      n5: store([1, 3], 3, "n5"),
    },
  });
  const violations: string[] = [];

  // (c) n5 is down; n1 is elected in term 4 by n1, n2, n3 and replicates its
  // term-2 entry to n3, so it is on a majority. Its own no-op (index 3)
  // reaches nobody before it crashes: strip it from what n1 sends.
  net.crash("n5");
  net.isolate("n4");
  net.intercept = (m) =>
    m.from === "n1" && m.type === "app"
      ? { ...m, entries: (m.entries ?? []).filter((e) => e.index < 3) }
      : m;
  net.campaign("n1");
  assert.equal(net.leader(), "n1");
  assert.equal(net.raft("n1").term, 4);
  for (const id of ["n1", "n2", "n3"]) {
    assert.deepEqual(termsOf(net.log(id)).slice(0, 2), [1, 2], id);
  }
  const commitAfterC = net.raft("n1").log.committed;

  // (d) n1 crashes; n5 comes back and, its last term (3) being later than
  // the others' (2), is elected in term 5 by n2, n3 and n4. Only the
  // election runs here (n5's AppendEntries are held back), so the check
  // below sees the logs as they are when n5 wins.
  net.crash("n1");
  net.intercept = undefined;
  net.heal();
  net.filter = (m) => !(m.from === "n5" && m.type === "app");
  net.restart("n5");
  net.campaign("n5"); // term 4: n2 and n3 already voted for n1 in term 4
  net.campaign("n5"); // term 5
  const leader = net.leader();
  assert.equal(leader, "n5");
  assert.equal(net.raft("n5").term, 5);

  // Leader completeness / state machine safety: everything any node applied
  // must be in the new leader's log.
  const leaderLog = net.log("n5");
  for (const [id, applied] of net.applied) {
    for (const e of applied) {
      const mine = leaderLog[e.index - 1];
      if (!mine || mine.term !== e.term) {
        violations.push(
          `${id} applied index ${e.index} of term ${e.term}, but leader n5 has term ${mine?.term}`,
        );
      }
    }
  }
  return { violations, net, commitAfterC };
}

Deno.test("Figure 8: an old-term entry on a majority is not committed, and may be overwritten safely", () => {
  const { violations, net, commitAfterC } = figure8({});
  assert.equal(
    commitAfterC,
    1,
    "index 2 (term 2) is on 3 of 5 but not committed",
  );
  assert.deepEqual(violations, []);
  // n5 now replicates: its entry replaces the term-2 entry everywhere.
  net.heal();
  net.tick("n5", 5);
  for (const id of ["n2", "n3", "n4", "n5"]) {
    assert.deepEqual(termsOf(net.log(id)), [1, 3, 5], id);
    assert.equal(net.raft(id).log.committed, 3, id);
  }
  // n1 comes back and is repaired too.
  net.restart("n1");
  net.tick("n5", 5);
  assert.deepEqual(termsOf(net.log("n1")), [1, 3, 5]);
  assert.equal(net.raft("n1").log.committed, 3);
});

Deno.test("Figure 8 with commitPreviousTermByCounting: a committed entry is lost", () => {
  const { violations, commitAfterC } = figure8({
    commitPreviousTermByCounting: true,
  });
  assert.equal(commitAfterC, 2, "the planted bug commits index 2 of term 2");
  // n5 was legitimately elected without that entry: the safety checks fire.
  assert.ok(
    violations.some((v) => v.startsWith("n1 applied index 2 of term 2")),
    violations.join("\n"),
  );
});

// §5.4.1: "a candidate must contact a majority of the cluster in order to
// be elected, which means that every committed entry must be present in at
// least one of those servers."
for (const preVote of [false, true]) {
  Deno.test(`leader completeness: a node missing a committed entry cannot be elected (preVote: ${preVote})`, () => {
    const net = new Network(PEERS, { config: { preVote, checkQuorum: false } });
    net.campaign("n1");
    net.isolate("n3");
    net.propose("n1", "x");
    assert.equal(net.raft("n1").log.committed, 2, "committed by n1 and n2");
    assert.equal(net.log("n3").length, 1, "n3 missed it");

    net.crash("n1");
    net.heal();
    for (let i = 0; i < 5; i++) {
      net.campaign("n3");
      assert.notEqual(net.raft("n3").status().role, "leader");
    }
    assert.equal(net.leader(), undefined);

    net.campaign("n2");
    assert.equal(net.leader(), "n2");
    assert.ok(net.log("n2").some((e) => e.data.byteLength > 0));
    net.propose("n2", "y");
    for (const id of ["n2", "n3"]) {
      assert.deepEqual(net.appliedData(id), ["x", "y"], id);
      assert.deepEqual(net.log(id), net.log("n2"));
    }
  });
}

// §5.2 Election Safety: "at most one leader can be elected in a given term".
function splitCandidates(knobs: TestingKnobs): Network {
  const net = new Network(PEERS, {
    config: { ...CLASSIC, testingKnobs: knobs },
  });
  // n1 and n3 campaign in the same term and can only reach n2.
  net.cut("n1", "n3");
  net.raft("n1").campaign();
  net.raft("n3").campaign();
  net.deliverAll();
  return net;
}

Deno.test("election safety: two candidates of one term cannot both win", () => {
  const net = splitCandidates({});
  const leaders = PEERS.filter((id) => net.raft(id).status().role === "leader");
  assert.deepEqual(leaders, ["n1"]);
  assert.equal(net.raft("n3").status().role, "candidate");
});

Deno.test("election safety with the voteTwice knob: two leaders in one term", () => {
  const net = splitCandidates({ voteTwice: true });
  const leaders = PEERS.filter((id) => net.raft(id).status().role === "leader");
  assert.deepEqual(leaders, ["n1", "n3"]);
  assert.equal(net.raft("n1").term, net.raft("n3").term);
});

/** What a random run of a network saw. */
interface ChaosResult {
  /** Broken safety properties. */
  violations: string[];
  /** Terms that had a leader. */
  terms: number;
  /** Committed indexes. */
  commits: number;
  /** Reads confirmed. */
  reads: number;
}

/**
 * Drives a network through a random schedule of crashes, restarts, cut
 * links, proposals, reads, log compactions, leadership transfers and
 * membership changes, and checks after every step:
 *
 * - election safety: at most one leader per term;
 * - state machine safety: one entry per committed index, on every node;
 * - linearizable reads: a confirmed read's index is at least the highest
 *   index applied anywhere before the read was requested, and the read is
 *   reported on the node that asked for it.
 *
 * n1..n3 start as voters; n4 and n5 start empty and may be added.
 */
function chaosRun(
  seed: number,
  steps: number,
  knobs: TestingKnobs,
  extra: TestConfig = {},
): ChaosResult {
  const rand = mulberry32(seed);
  const ids = FIVE;
  const config = {
    testingKnobs: knobs,
    electionTicks: 10,
    heartbeatTicks: 2,
    ...extra,
  };
  const net = new Network(ids.slice(0, 3), {
    config,
    perNode: Object.fromEntries(
      ids.map((id, i) => [id, { random: mulberry32(seed * 31 + i) }]),
    ),
  });
  net.addNode("n4");
  net.addNode("n5");
  const leaders = new Map<number, NodeId>();
  // The committed entry at each index, as first applied anywhere.
  const committed = new Map<number, Entry>();
  const reads = new Map<string, { node: NodeId; atLeast: number }>();
  let readsDone = 0;
  let maxApplied = 0;
  const violations = new Set<string>();
  const observe = () => {
    for (const [id, r] of net.rafts) {
      if (r.status().role !== "leader") continue;
      const other = leaders.get(r.term);
      if (other && other !== id) {
        violations.add(`two leaders in term ${r.term}: ${other} and ${id}`);
      }
      leaders.set(r.term, id);
    }
    for (const [id, applied] of net.applied) {
      for (const e of applied) {
        maxApplied = Math.max(maxApplied, e.index);
        const c = committed.get(e.index);
        if (!c) committed.set(e.index, e);
        else if (c.term !== e.term || c.data.join() !== e.data.join()) {
          violations.add(`${id} applied a different entry at ${e.index}`);
        }
      }
    }
    for (const [id, states] of net.readStates) {
      for (const rs of states.splice(0)) {
        const req = reads.get(rs.context);
        if (!req || req.node !== id) {
          violations.add(`${id} got read ${rs.context} it did not ask for`);
        } else if (rs.index < req.atLeast) {
          violations.add(
            `stale read ${rs.context}: index ${rs.index} < ${req.atLeast}`,
          );
        }
        reads.delete(rs.context);
        readsDone++;
      }
    }
  };
  const dropped = (e: unknown) => {
    if (!(e instanceof ProposalDroppedError)) throw e;
  };
  const changes = ["addVoter", "addLearner", "promote", "remove"] as const;
  let n = 0;
  for (let step = 0; step < steps; step++) {
    const dice = rand();
    const id = ids[Math.floor(rand() * ids.length)];
    const other = ids[Math.floor(rand() * ids.length)];
    const up = net.rafts.has(id);
    try {
      if (dice < 0.04 && up) net.crash(id);
      else if (dice < 0.12 && !up) net.restart(id);
      else if (dice < 0.16 && id !== other) net.cut(id, other);
      else if (dice < 0.2) net.heal();
      else if (dice < 0.32 && up) {
        try {
          net.propose(id, `v${n++}`);
        } catch (e) {
          dropped(e);
        }
      } else if (dice < 0.37 && up) {
        const ctx = `${id}/read${step}`;
        reads.set(ctx, { node: id, atLeast: maxApplied });
        try {
          net.raft(id).readIndex(ctx);
          net.deliverAll();
        } catch (e) {
          reads.delete(ctx);
          dropped(e);
        }
      } else if (dice < 0.4 && up) {
        // The host snapshots its state machine and compacts its log.
        const r = net.raft(id);
        const s = net.storages.get(id)!;
        const i = r.log.applied;
        if (i > s.firstIndex() && i <= s.lastIndex()) {
          s.createSnapshot(i, r.confStateAt(i), data(`state@${i}`));
        }
      } else if (dice < 0.42 && up) {
        try {
          net.raft(id).transferLeader(other);
          net.deliverAll();
        } catch (e) {
          dropped(e);
        }
      } else if (dice < 0.45 && up) {
        const type = changes[Math.floor(rand() * changes.length)];
        try {
          net.raft(id).proposeConfChange({ type, node: other });
          net.deliverAll();
        } catch (e) {
          dropped(e);
        }
      } else net.tickAll();
    } catch (e) {
      if (!(e instanceof RaftInvariantError)) throw e;
      violations.add(`invariant: ${e.message}`);
      break;
    }
    observe();
  }
  return {
    violations: [...violations],
    terms: leaders.size,
    commits: committed.size,
    reads: readsDone,
  };
}

Deno.test("property: one leader per term, one entry per committed index and linearizable reads under faults", (t) => {
  const runs: ChaosResult[] = [];
  assertProperty(
    t,
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
      const run = chaosRun(seed, 300, {});
      assert.deepEqual(run.violations, [], `seed ${seed}`);
      runs.push(run);
    }),
    { numRuns: 30, seed: 0x5eed },
  );
  // The schedules exercised the protocol: in most runs leaders came and
  // went, entries committed and reads were served.
  const busy =
    runs.filter((r) => r.terms >= 2 && r.commits >= 10 && r.reads >= 2).length;
  assert.ok(busy >= runs.length / 2, `only ${busy} of ${runs.length} busy`);
});

for (
  const [knob, symptom] of [
    ["voteTwice", "two leaders"],
    ["skipReadIndexQuorum", "stale read"],
    // commitPreviousTermByCounting needs the rare Figure 8 schedule (and the
    // leader's no-op makes it rarer); the Figure 8 test above catches it.
  ] as const
) {
  Deno.test(`the same property run catches the ${knob} knob`, () => {
    let seed = 1;
    for (; seed <= 200; seed++) {
      const run = chaosRun(seed, 300, { [knob]: true }, CLASSIC);
      if (run.violations.some((v) => v.includes(symptom))) break;
    }
    assert.ok(seed <= 200, `no seed exposed ${knob}`);
  });
}
