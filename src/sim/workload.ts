/**
 * Client workloads through the real replicated state machine inside the
 * deterministic simulator: every node applies committed entries to its own
 * `ServiceStateMachine`, simulated clients issue register, lock,
 * election, semaphore and read-write lock operations (`recipe_ops.ts`)
 * one at a time against random live nodes while the full nemesis runs,
 * and every history is checked for linearizability at the end of the seed,
 * each against its model. After every applied entry the cluster also
 * checks each node's recipe bookkeeping (held + free permits == limit for
 * every semaphore: `SafetyChecker.observeServiceInvariants`).
 *
 * Outcomes. A proposal carries a per-client `requestId`; when the proposing
 * node applies it (same incarnation), the state machine's result completes
 * the operation (`ok`, or `fail` for a refusal such as `lock_held`). A
 * refused proposal (`ProposalDroppedError`) is `fail`; a crash of the
 * proposing node or the deadline is `info` (outcome unknown). A read is a
 * `readIndex` on the node, then `get` once applied up to the read index; a
 * read that cannot finish is `fail` (reads have no effect).
 *
 * Leases: the simulator has no lease clock, so a "janitor" sometimes
 * expires the lease of a lock's (or a recipe's) holder through the leader (a
 * `leaseExpire` command naming the keepalive it saw), as the real lease
 * clock would, while holders renew their leases (`leaseKeepalive`) and so
 * race it. The lock model lets holders expire at any instant; keepalives
 * (no `lock` field) are outside it, and the simulator's state-hash check
 * makes every node agree on the outcome of each race.
 *
 * @module
 */

import { mulberry32 } from "../raft/rand.ts";
import { ProposalDroppedError } from "../raft/errors.ts";
import type { TestingKnobs } from "../raft/raft.ts";
import type { Entry } from "../raft/types.ts";
import { type Command, encodeCommand } from "../state/commands.ts";
import { decode } from "../codec/msgpack.ts";
import { ServiceStateMachine } from "../state/machine.ts";
import type { CommandResult } from "../state/results.ts";
import {
  check,
  type CheckResult,
  electionModel,
  formatReport,
  HistoryRecorder,
  lockModel,
  type Op,
  registerModel,
  rwlockModel,
  semaphoreModel,
} from "../check/mod.ts";
import type { StateTestingKnobs } from "../state/machine.ts";
import {
  RECIPE_KINDS,
  RECIPE_NAMES,
  type RecipeHold,
  recipeHolderLease,
  type RecipeKind,
  startRecipeOp,
} from "./recipe_ops.ts";
import {
  SIM_SERVICE_OPTIONS,
  SimCluster,
  type SimNode,
  type SimStats,
} from "./cluster.ts";
import type { Violation } from "./checker.ts";
import { Nemesis, NEMESIS_KINDS, type NemesisKind } from "./nemesis.ts";

/** What to simulate. */
export interface WorkloadOptions {
  /** The seed every random choice derives from. */
  seed: number;
  /** Initial voters (default 3). */
  nodes?: number;
  /** Ticks of 10 ms under faults (default 1500). */
  steps?: number;
  /** Ticks of calm at the end, to let operations finish (default 300). */
  calmTicks?: number;
  /** Simulated clients (default: 6..10, chosen by the seed). */
  clients?: number;
  /** Register keys (default 3). */
  keys?: number;
  /** Locks (default 2). */
  locks?: number;
  /** Chance per tick that an idle client starts an operation (default 0.3). */
  opRate?: number;
  /** Virtual ms after which a proposal's outcome is unknown (default 2000). */
  deadlineMs?: number;
  /** Faults to inject (default: all). */
  nemesis?: readonly NemesisKind[];
  /** Chance per tick of a fault (default 0.03). */
  nemesisRate?: number;
  /** Planted bugs of the Raft core. */
  knobs?: TestingKnobs;
  /** Planted bugs of the state machine (a semaphore's extra permit). */
  stateKnobs?: StateTestingKnobs;
  /**
   * Simulated clients that use elections, semaphores and read-write locks,
   * besides the register and lock clients (default 6). 0 replays the
   * register and lock workload of before the recipes, seed for seed.
   */
  recipeClients?: number;
  /**
   * Stop at the first broken safety invariant (default true). False keeps
   * running, so the histories alone can show what a planted bug did.
   */
  stopOnViolation?: boolean;
  /** Budget of each linearizability check in ms (default 5000). */
  checkTimeoutMs?: number;
  /** Receives trace lines (replays). */
  trace?: (line: string) => void;
}

/** Counts of completed operations. */
export interface OpCounts {
  /** Operations invoked. */
  invoked: number;
  /** Completed with a result. */
  ok: number;
  /** Definitely did not happen. */
  fail: number;
  /** Outcome unknown. */
  info: number;
}

/** The verdict of one history. */
export interface HistoryVerdict {
  /** `ok`, `illegal` or `unknown` (budget ran out). */
  result: CheckResult["result"];
  /** Operations checked. */
  operations: number;
  /** Checking time in ms. */
  timeMs: number;
  /** For an illegal history: the checker's report, shortened. */
  report?: string;
}

/** The outcome of one seed. */
export interface WorkloadResult {
  /** The seed. */
  seed: number;
  /** The first broken invariant: a safety check, else linearizability. */
  violation?: Violation;
  /** The first broken safety invariant (the cluster's own checks). */
  safety?: Violation;
  /** The register history's verdict. */
  register: HistoryVerdict;
  /** The lock history's verdict. */
  lock: HistoryVerdict;
  /** Register operations by outcome. */
  registerOps: OpCounts;
  /** Lock operations by outcome. */
  lockOps: OpCounts;
  /** The election, semaphore and read-write lock histories' verdicts. */
  recipes: Record<RecipeKind, HistoryVerdict>;
  /** Recipe operations by outcome. */
  recipeOps: Record<RecipeKind, OpCounts>;
  /** Cluster counters. */
  stats: SimStats;
  /** Faults by kind. */
  faults: Record<string, number>;
  /** The recorded histories (events), for reports and replays. */
  histories: Record<WorkloadKind, HistoryRecorder>;
}

/** The kinds of client operation, each with a history of its own. */
export type WorkloadKind = "register" | "lock" | RecipeKind;

type Kind = WorkloadKind;

interface Pending {
  kind: Kind;
  recId: number;
  node: SimNode;
  incarnation: number;
  deadline: number;
  /** Proposals: the request's sequence number, matched at apply. */
  seq?: number;
  /** Completes the operation from the state machine's result. */
  onResult?: (result: CommandResult) => void;
  /** Reads: set once served. */
  read?: boolean;
}

interface Client {
  name: string;
  seq: number;
  pending?: Pending;
  /** Locks this client believes it holds: name → token. */
  held: Map<string, number>;
  /** The lease of each held lock. */
  leases: Map<string, number>;
  /** Recipe grants this client believes it holds, by `kind:name`. */
  holds: Map<string, RecipeHold>;
  /** Virtual time before which the client stays idle (backoff after a refusal). */
  idleUntil: number;
}

const SHORT_REPORT = 1500;

/** Runs one seed of the client workload and checks its histories. */
export function runWorkload(options: WorkloadOptions): WorkloadResult {
  const random = mulberry32(options.seed);
  const nClients = options.clients ?? 6 + Math.floor(random() * 5);
  const keys = Array.from({ length: options.keys ?? 3 }, (_, i) => `k${i}`);
  const locks = Array.from({ length: options.locks ?? 2 }, (_, i) => `l${i}`);
  const opRate = options.opRate ?? 0.3;
  const deadlineMs = options.deadlineMs ?? 2000;
  const nRecipe = options.recipeClients ?? 6;
  const clients: Client[] = Array.from(
    { length: nClients + nRecipe },
    (_, i) => ({
      name: i < nClients ? `c${i}` : `r${i - nClients}`,
      seq: 0,
      held: new Map(),
      leases: new Map(),
      holds: new Map(),
      idleUntil: 0,
    }),
  );
  const byName = new Map(clients.map((c) => [c.name, c]));
  const zero = (): OpCounts => ({ invoked: 0, ok: 0, fail: 0, info: 0 });
  const counts: Record<Kind, OpCounts> = {
    register: zero(),
    lock: zero(),
    election: zero(),
    semaphore: zero(),
    rwlock: zero(),
  };

  // Values written per key, so CAS sometimes expects the current one.
  const written = new Map<string, string[]>();

  const clock = () => cluster.now;
  const rec: Record<Kind, HistoryRecorder> = {
    register: new HistoryRecorder({ clock }),
    lock: new HistoryRecorder({ clock }),
    election: new HistoryRecorder({ clock }),
    semaphore: new HistoryRecorder({ clock }),
    rwlock: new HistoryRecorder({ clock }),
  };

  const complete = (
    c: Client,
    how: "ok" | "fail" | "info",
    value?: unknown,
  ): void => {
    const p = c.pending!;
    c.pending = undefined;
    counts[p.kind][how]++;
    rec[p.kind][how](p.recId, value);
    if (how !== "ok") {
      c.idleUntil = cluster.now + 50 + Math.floor(cluster.random() * 250);
    }
  };

  const onApply = (node: SimNode, entry: Entry, result: CommandResult) => {
    const rid = requestIdOf(entry.data);
    if (!rid) return;
    const c = byName.get(rid.client);
    const p = c?.pending;
    if (
      !c || !p || p.seq !== rid.seq || p.node !== node ||
      p.incarnation !== node.incarnation
    ) return;
    p.onResult!(result);
  };

  const cluster: SimCluster = new SimCluster({
    nodes: options.nodes ?? 3,
    random,
    knobs: options.knobs,
    trace: options.trace,
    snapshotEvery: 32 + Math.floor(random() * 96),
    service: () =>
      new ServiceStateMachine({
        ...SIM_SERVICE_OPTIONS,
        testingKnobs: options.stateKnobs,
      }),
    onApply,
  });
  const nemesis = new Nemesis({
    kinds: options.nemesis ?? NEMESIS_KINDS,
    rate: options.nemesisRate,
    voters: options.nodes ?? 3,
  });
  cluster.network.setFaults({ minDelay: 1, maxDelay: 5 });

  const pick = <T>(xs: readonly T[]): T =>
    xs[Math.floor(cluster.random() * xs.length)];

  const propose = (
    c: Client,
    kind: Kind,
    op: Op,
    node: SimNode,
    cmd: Command,
    onResult: (c: Client, r: CommandResult) => void,
  ): void => {
    const seq = ++c.seq;
    counts[kind].invoked++;
    const recId = rec[kind].invoke(c.name, op);
    c.pending = {
      kind,
      recId,
      node,
      incarnation: node.incarnation,
      deadline: cluster.now + deadlineMs,
      seq,
      onResult: (r) => onResult(c, r),
    };
    try {
      cluster.proposeData(
        node,
        encodeCommand({ ...cmd, requestId: { client: c.name, seq } }),
      );
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      complete(c, "fail", "dropped");
    }
  };

  const read = (
    c: Client,
    kind: Kind,
    op: Op,
    node: SimNode,
    value: (n: SimNode) => unknown,
  ): void => {
    counts[kind].invoked++;
    const recId = rec[kind].invoke(c.name, op);
    const p: Pending = {
      kind,
      recId,
      node,
      incarnation: node.incarnation,
      deadline: cluster.now + deadlineMs,
      read: true,
    };
    c.pending = p;
    const started = cluster.read(node, (n) => {
      if (c.pending === p && n.incarnation === p.incarnation) {
        complete(c, "ok", value(n));
      }
    });
    if (!started) complete(c, "fail", "dropped");
  };

  const recipeOp = (c: Client, node: SimNode, kind: RecipeKind): void =>
    startRecipeOp({
      client: c.name,
      holds: c.holds,
      random: () => cluster.random(),
      propose: (k, op, cmd, onResult) =>
        propose(c, k, op, node, cmd, (_c, r) => onResult(r)),
      read: (k, op, value) => read(c, k, op, node, (n) => value(n.service!)),
      complete: (how, value) => complete(c, how, value),
    }, kind);

  const start = (c: Client, node: SimNode): void => {
    if (c.name.startsWith("r")) {
      recipeOp(c, node, pick(RECIPE_KINDS));
      return;
    }
    const r = cluster.random();
    const held = [...c.held.entries()];
    if (held.length > 0 && r < 0.5) {
      const [lock, token] = pick(held);
      const roll = cluster.random();
      const lease = c.leases.get(lock);
      if (roll >= 0.45 && roll < 0.65 && lease !== undefined) {
        // Renew the lease, racing the janitor's expiry: an expiry that
        // names an older keepalive must then change nothing.
        propose(
          c,
          "lock",
          { f: "keepalive", lock, lease },
          node,
          { type: "leaseKeepalive", id: lease },
          (c, res) => {
            if (res.ok) complete(c, "ok");
            else {
              c.held.delete(lock);
              complete(c, "fail", res.error.code);
            }
          },
        );
      } else if (roll < 0.45) {
        propose(
          c,
          "lock",
          { f: "fencedWrite", lock, token },
          node,
          {
            type: "put",
            key: `fenced/${lock}`,
            value: `${c.name}-${c.seq + 1}`,
            fence: { lock, token },
          },
          (c, res) => {
            if (res.ok) complete(c, "ok");
            else {
              c.held.delete(lock);
              complete(c, "fail", res.error.code);
            }
          },
        );
      } else {
        c.held.delete(lock);
        propose(
          c,
          "lock",
          { f: "release", lock, token },
          node,
          { type: "lockRelease", name: lock, token },
          (c, res) =>
            res.ok ? complete(c, "ok") : complete(c, "fail", res.error.code),
        );
      }
      return;
    }
    if (r < 0.7) {
      const key = pick(keys);
      const k = cluster.random();
      if (k < 0.4) {
        read(
          c,
          "register",
          { f: "read", key },
          node,
          (n) => n.service!.get(key)?.value ?? null,
        );
      } else if (k < 0.75) {
        const value = `${c.name}-${c.seq + 1}`;
        remember(written, key, value);
        propose(
          c,
          "register",
          { f: "write", key, value },
          node,
          { type: "put", key, value },
          (c, res) =>
            res.ok ? complete(c, "ok") : complete(c, "fail", res.error.code),
        );
      } else {
        const seen = written.get(key) ?? [];
        const expected = seen.length > 0 ? pick(seen) : "none";
        const value = `${c.name}-${c.seq + 1}`;
        remember(written, key, value);
        propose(
          c,
          "register",
          { f: "cas", key, expected, value },
          node,
          {
            type: "txn",
            compare: [{ key, target: "value", op: "==", value: expected }],
            success: [{ type: "put", key, value }],
            failure: [],
          },
          (c, res) =>
            res.ok
              ? complete(c, "ok", (res as { succeeded: boolean }).succeeded)
              : complete(c, "fail", res.error.code),
        );
      }
      return;
    }
    const lock = pick(locks);
    if (cluster.random() < 0.3) {
      read(
        c,
        "lock",
        { f: "holder", lock },
        node,
        (n) => n.service!.lock(lock).holder?.token ?? null,
      );
      return;
    }
    propose(
      c,
      "lock",
      { f: "acquire", lock },
      node,
      {
        type: "lockAcquire",
        name: lock,
        owner: c.name,
        ttl: 10,
        tryOnly: true,
      },
      (c, res) => {
        if (res.ok && "token" in res) {
          c.held.set(lock, res.token);
          c.leases.set(lock, res.lease);
          complete(c, "ok", res.token);
        } else complete(c, "fail", res.ok ? "queued" : res.error.code);
      },
    );
  };

  // The lease clock stand-in: expire a holder's lease now and then.
  const janitor = (): void => {
    const leader = cluster.leader();
    if (!leader?.service || cluster.random() >= 0.01) return;
    let id: number | undefined;
    if (nRecipe > 0 && cluster.random() < 0.5) {
      const kind = pick(RECIPE_KINDS);
      id = recipeHolderLease(
        leader.service,
        kind,
        pick(RECIPE_NAMES[kind]),
        () => cluster.random(),
      );
    } else id = leader.service.lock(pick(locks)).holder?.lease;
    if (id === undefined) return;
    const lease = leader.service.lease(id);
    if (!lease) return;
    try {
      cluster.proposeData(
        leader,
        encodeCommand({
          type: "leaseExpire",
          id: lease.id,
          keepaliveIndex: lease.keepaliveIndex,
        }),
      );
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  };

  // Times out and abandons operations; starts new ones.
  const clientStep = (starting: boolean): void => {
    const live = cluster.liveNodes();
    for (const c of clients) {
      const p = c.pending;
      if (p) {
        const gone = !p.node.up || p.node.incarnation !== p.incarnation;
        if (gone || cluster.now >= p.deadline) {
          complete(c, p.read ? "fail" : "info", gone ? "crash" : "timeout");
        }
      }
      if (
        starting && !c.pending && live.length > 0 &&
        cluster.now >= c.idleUntil && cluster.random() < opRate
      ) {
        start(c, pick(live));
      }
    }
  };

  const stop = () =>
    options.stopOnViolation !== false && !!cluster.checker.violation;
  const steps = options.steps ?? 1500;
  for (let i = 0; i < steps; i++) {
    nemesis.act(cluster);
    clientStep(true);
    janitor();
    cluster.tick();
    if (stop()) break;
    if (i % 50 === 0) cluster.retireRemoved();
  }
  if (!stop()) {
    nemesis.healAll(cluster);
    const calm = options.calmTicks ?? 300;
    for (let i = 0; i < calm; i++) {
      clientStep(false);
      cluster.tick();
      if (stop()) break;
      if (clients.every((c) => !c.pending)) break;
    }
  }
  // Whatever is still open stays open: the checker counts it as info.

  const timeoutMs = options.checkTimeoutMs ?? 5000;
  let violation = cluster.checker.violation;
  const verdict = (kind: Kind): HistoryVerdict => {
    const events = rec[kind].events();
    const res = kind === "register"
      ? check(events, registerModel(), { timeoutMs })
      : kind === "lock"
      ? check(events, lockModel(), { timeoutMs })
      : kind === "election"
      ? check(events, electionModel(), { timeoutMs })
      : kind === "semaphore"
      ? check(events, semaphoreModel(), { timeoutMs })
      : check(events, rwlockModel(), { timeoutMs });
    let report: string | undefined;
    if (res.result === "illegal") {
      report = formatReport(res);
      if (report.length > SHORT_REPORT) {
        report = report.slice(0, SHORT_REPORT) + "…";
      }
      violation ??= {
        invariant: "linearizability",
        detail: `${kind} history: ${report}`,
        step: cluster.stepCount,
      };
    }
    return {
      result: res.result,
      operations: res.operations,
      timeMs: res.timeMs,
      report,
    };
  };
  const register = verdict("register");
  const lock = verdict("lock");
  const recipes = {
    election: verdict("election"),
    semaphore: verdict("semaphore"),
    rwlock: verdict("rwlock"),
  };
  return {
    seed: options.seed,
    violation,
    safety: cluster.checker.violation,
    register,
    lock,
    registerOps: counts.register,
    lockOps: counts.lock,
    recipes,
    recipeOps: {
      election: counts.election,
      semaphore: counts.semaphore,
      rwlock: counts.rwlock,
    },
    stats: cluster.stats,
    faults: nemesis.counts,
    histories: rec,
  };
}

function remember(written: Map<string, string[]>, key: string, v: string) {
  let list = written.get(key);
  if (!list) written.set(key, list = []);
  list.push(v);
  if (list.length > 4) list.shift();
}

function requestIdOf(
  data: Uint8Array,
): { client: string; seq: number } | undefined {
  try {
    const cmd = decode(data) as { requestId?: { client: string; seq: number } };
    return cmd?.requestId;
  } catch {
    return undefined;
  }
}
