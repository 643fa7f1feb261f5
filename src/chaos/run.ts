/**
 * One chaos run, start to verdict: the cluster (on loopback, or each node
 * in a network namespace of its own), the clients (in this process, or in
 * client processes in namespaces of their own), the nemesis, then the
 * checks (registers, locks, elections, semaphores and read-write locks
 * linearizable, lease timing, watches complete, the cluster recovered) and
 * the summary. `cli/chaos.ts` parses
 * the flags and calls {@linkcode runChaos}.
 *
 * Namespaced runs have two nemesis lanes at once: one for network faults
 * (`net_nemesis.ts`), one for process and disk faults (`nemesis.ts`), so
 * a node may be killed while a client is cut off or packets are late.
 *
 * @module
 */

import {
  check,
  checkLeaseTiming,
  type CheckResult,
  electionModel,
  formatReport,
  formatTimingReport,
  type HistoryEvent,
  HistoryRecorder,
  lockModel,
  registerModel,
  rwlockModel,
  semaphoreModel,
  stringifyHistory,
  toOperations,
} from "../check/mod.ts";
import { mulberry32 } from "../raft/rand.ts";
import { ClientProcess, type ClientSink } from "./client_pool.ts";
import type { ClientProcConfig, ClientSpec } from "./client_proc.ts";
import { sharedClock } from "./client_proc.ts";
import { ChaosCluster } from "./cluster.ts";
import {
  type FaultNote,
  injectFault,
  NEMESES,
  type NemesisKind,
  NODE_NEMESES,
} from "./nemesis.ts";
import {
  injectNetFault,
  NET_NEMESES,
  type NetNemesisKind,
} from "./net_nemesis.ts";
import { type DelayerStats, NetFaults } from "./netem.ts";
import { type LabMemberSpec, NetnsLab, netnsSupport } from "./netns.ts";
import { failovers, type FaultWindow, writeLatency } from "./stats.ts";
import {
  type AckedWrite,
  checkWatches,
  type WatcherLog,
} from "./watch_check.ts";
import {
  assignSites,
  WAN_LOCK_TTL,
  WAN_RAFT_FLAGS,
  WAN_TIMEOUT_MS,
  wanDelays,
} from "./wan.ts";
import {
  lockClient,
  registerClient,
  watcher,
  type WorkloadContext,
} from "./workloads.ts";
import {
  CHAOS_RECIPES,
  type ChaosRecipe,
  recipeClient,
} from "./recipe_workloads.ts";

/** Every client workload a run can name (watchers are counted apart). */
export const ALL_WORKLOADS: readonly string[] = [
  "register",
  "lock",
  ...CHAOS_RECIPES,
];

/** Every nemesis a run can name: node faults, and network faults (netns). */
export const ALL_NEMESES: readonly string[] = [
  ...new Set<string>([...NODE_NEMESES, ...NET_NEMESES]),
];

/** What a run does. */
export interface ChaosOptions {
  /** Seconds of faults. */
  seconds: number;
  /** Cluster size. */
  nodes: number;
  /** Register and lock clients (a third cycle locks). */
  clients: number;
  /**
   * The client workloads, from {@linkcode ALL_WORKLOADS} (default all):
   * without `lock` every client of `clients` is a register client, and
   * without `register` only the third that locks runs.
   */
  workloads?: readonly string[];
  /** Clients of each recipe workload (elections, semaphores, read-write locks; default 2). */
  recipeClients?: number;
  /** Watchers. */
  watchers: number;
  /** Registers shared at a time. */
  keys: number;
  /** Milliseconds before the registers move on to fresh keys. */
  keyPeriodMs: number;
  /** The nemeses (names from {@linkcode ALL_NEMESES}); empty: none. */
  kinds: readonly string[];
  /** Stop the clients after this many operations. */
  maxOps: number;
  /** Seed of every random choice. */
  seed: number;
  /** Output directory. */
  out: string;
  /** First peer port (loopback) or the peer port (netns); HTTP is +50. */
  basePort: number;
  /** A planted bug for every node. */
  plant?: string;
  /** Where the nodes and clients run. */
  net: "loopback" | "netns";
  /** `wan`: three simulated sites (netns only). */
  profile: "lan" | "wan";
  /** How far the processes' clocks may disagree, ms (timing checks). */
  driftMs: number;
  /** The command line, for the summary. */
  command: string;
}

/** The default nemeses of a run with these settings. */
export function defaultNemeses(
  net: ChaosOptions["net"],
  profile: ChaosOptions["profile"],
): string[] {
  if (profile === "wan") return ["kill-leader"];
  if (net === "netns") {
    return [...new Set<string>([...NEMESES, ...NET_NEMESES])];
  }
  return [...NEMESES];
}

/** Things to undo, last first, on the way out (also on Ctrl-C). */
export class Cleanups {
  #fns: (() => Promise<unknown> | unknown)[] = [];
  /** Adds an undo step. */
  add(fn: () => Promise<unknown> | unknown): void {
    this.#fns.push(fn);
  }
  /** Runs every step, last added first; errors are ignored. */
  async run(): Promise<void> {
    while (this.#fns.length) {
      const fn = this.#fns.pop()!;
      try {
        await fn();
      } catch { /* keep undoing */ }
    }
  }
}

/** A run that cannot start here (no root, no namespaces): exit status 4. */
export class ChaosUnsupportedError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ClientGroup {
  member: string;
  host: number;
  clients: ClientSpec[];
}

/** How many clients of each workload a run has. */
export interface ClientPlan {
  /** Lock clients (`l0`...). */
  lockers: number;
  /** Register clients (`c<k>`, numbered after the lock clients). */
  registers: number;
  /** Clients of each recipe (`e0`..., `s0`..., `rw0`...). */
  recipes: Record<ChaosRecipe, number>;
}

/**
 * The clients of a run: see {@linkcode ChaosOptions.workloads}.
 *
 * @example
 * ```ts ignore
 * const plan = clientPlan({ ...options, workloads: ["register", "semaphore"] });
 * // plan.lockers === 0, plan.recipes.semaphore === 2
 * ```
 */
export function clientPlan(o: ChaosOptions): ClientPlan {
  const on = new Set(o.workloads ?? ALL_WORKLOADS);
  const lockers = on.has("lock") ? Math.floor(o.clients / 3) : 0;
  const per = o.recipeClients ?? 2;
  return {
    lockers,
    registers: on.has("register") ? o.clients - lockers : 0,
    recipes: {
      election: on.has("election") ? per : 0,
      semaphore: on.has("semaphore") ? per : 0,
      rwlock: on.has("rwlock") ? per : 0,
    },
  };
}

/**
 * The history names of a recipe's clients: `e0`, `s0`, `rw0`...
 *
 * @example
 * ```ts ignore
 * recipeClientName("rwlock", 1); // "rw1"
 * ```
 */
export function recipeClientName(kind: ChaosRecipe, i: number): string {
  return `${kind === "election" ? "e" : kind === "semaphore" ? "s" : "rw"}${i}`;
}

/** Splits the clients over lab members: each lock client alone, registers by 4, each recipe's clients together, watchers together. */
function clientGroups(plan: ClientPlan, watchers: number): ClientGroup[] {
  const { lockers } = plan;
  const clients = lockers + plan.registers;
  const groups: ClientGroup[] = [];
  for (let c = 0; c < lockers; c++) {
    groups.push({
      member: `l${c}`,
      host: 100 + c,
      clients: [{ name: `l${c}`, kind: "lock" }],
    });
  }
  for (let c = lockers, g = 0; c < clients; c += 4, g++) {
    const names = [];
    for (let k = c; k < Math.min(clients, c + 4); k++) names.push(`c${k}`);
    groups.push({
      member: `r${g}`,
      host: 150 + g,
      clients: names.map((name) => ({ name, kind: "register" })),
    });
  }
  for (const [i, kind] of CHAOS_RECIPES.entries()) {
    const n = plan.recipes[kind];
    if (n === 0) continue;
    groups.push({
      member: recipeClientName(kind, 0).replace(/0$/, "g"),
      host: 120 + i,
      clients: Array.from({ length: n }, (_, k) => ({
        name: recipeClientName(kind, k),
        kind,
      })),
    });
  }
  if (watchers > 0) {
    groups.push({
      member: "w0",
      host: 200,
      clients: Array.from({ length: watchers }, (_, w) => ({
        name: `w${w}`,
        kind: "watch" as const,
      })),
    });
  }
  return groups;
}

/**
 * Runs one chaos run and resolves with its exit status: 0 all checks
 * passed, 1 an anomaly, 3 a checker ran out of time. Throws
 * {@linkcode ChaosUnsupportedError} when a namespaced run cannot run here.
 * Undo steps go to `cleanups` as they become needed; the caller runs them
 * on Ctrl-C, and the run itself before it resolves.
 *
 * @example
 * ```ts ignore
 * const cleanups = new Cleanups();
 * Deno.addSignalListener("SIGINT", () => cleanups.run().then(() => Deno.exit(130)));
 * const code = await runChaos({
 *   seconds: 60, nodes: 3, clients: 12, watchers: 3, keys: 5,
 *   keyPeriodMs: 5000, kinds: defaultNemeses("netns", "lan"),
 *   maxOps: 1e6, seed: 7, out: "chaos-results/x", basePort: 7000,
 *   net: "netns", profile: "lan", driftMs: 50, command: "example",
 * }, cleanups);
 * ```
 */
export async function runChaos(
  o: ChaosOptions,
  cleanups: Cleanups,
  print: (line: string) => void = console.log,
): Promise<number> {
  const netns = o.net === "netns";
  const wan = o.profile === "wan";
  if (wan && !netns) {
    throw new ChaosUnsupportedError("--profile wan needs --net netns");
  }
  for (const k of o.kinds) {
    if (
      !netns && (NET_NEMESES as readonly string[]).includes(k) &&
      k !== "partition"
    ) {
      throw new ChaosUnsupportedError(`the ${k} nemesis needs --net netns`);
    }
  }
  if (netns) {
    const support = await netnsSupport();
    if (!support.ok) throw new ChaosUnsupportedError(support.reason);
  }
  const random = mulberry32(o.seed);
  await Deno.mkdir(o.out, { recursive: true });
  const dataDir = await Deno.makeTempDir({ prefix: "raftlock-chaos-" });
  let keepData = false;
  cleanups.add(() =>
    keepData ? undefined : Deno.remove(dataDir, { recursive: true })
  );
  const lockTtl = wan ? WAN_LOCK_TTL : 3;
  const timeoutMs = wan ? WAN_TIMEOUT_MS : netns ? 3000 : 1000;
  const durationScale = wan ? 2 : 1;

  print(
    `Chaos run, seed ${o.seed}: ${o.nodes} nodes, ${o.clients} clients, ${o.watchers} watchers, ${o.keys} keys, nemesis ${
      o.kinds.join(",") || "none"
    }, ${o.seconds} s${
      netns ? `, network namespaces${wan ? " (WAN)" : ""}` : ""
    }${o.plant ? `, PLANTED BUG ${o.plant}` : ""}`,
  );
  const t0 = Date.now();

  // ------------------------------------------------------------- network
  const nodeIds = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const plan = clientPlan(o);
  const groups = netns ? clientGroups(plan, o.watchers) : [];
  let lab: NetnsLab | undefined;
  let faults: NetFaults | undefined;
  let sites: Map<string, string> | undefined;
  if (netns) {
    const specs: LabMemberSpec[] = [
      ...nodeIds.map((name, i) => ({ name, host: 11 + i })),
      ...groups.map((g) => ({ name: g.member, host: g.host })),
    ];
    lab = await NetnsLab.create(specs, { log: print });
    const made = lab;
    cleanups.add(() => made.destroy());
    print(
      `Namespaces ${lab.prefix}-*: nodes ${
        nodeIds.map((n) => `${n}=${made.member(n).addr}`).join(" ")
      }; clients ${
        groups.map((g) => `${g.member}=${made.member(g.member).addr}`).join(" ")
      }`,
    );
    faults = await NetFaults.start(lab);
    const f = faults;
    cleanups.add(() => f.stop());
    if (faults.delayUnavailable) {
      print(
        `Delays, jitter and reordering are unavailable: ${faults.delayUnavailable}`,
      );
      if (wan) {
        throw new ChaosUnsupportedError(
          `the WAN profile needs packet delays: ${faults.delayUnavailable}`,
        );
      }
    }
    if (wan) {
      sites = assignSites(nodeIds, groups.map((g) => g.member));
      await faults.setBase(wanDelays(sites));
      const bySite = new Map<string, string[]>();
      for (const [m, s] of sites) bySite.set(s, [...(bySite.get(s) ?? []), m]);
      print(
        `WAN sites: ${
          [...bySite].map(([s, ms]) => `${s} {${ms.join(",")}}`).join(" ")
        }; one-way A-B 20 ms, A-C 50 ms, B-C 80 ms (±10%)`,
      );
    }
  }

  // ------------------------------------------------------------- cluster
  const cluster = await ChaosCluster.start({
    nodes: o.nodes,
    basePort: o.basePort,
    dataDir,
    logDir: `${o.out}/logs`,
    knob: o.plant,
    lab,
    raftdFlags: wan ? WAN_RAFT_FLAGS : [],
  });
  cleanups.add(() => cluster.stop());
  if (!(await cluster.waitReady(60_000))) {
    await cleanups.run();
    throw new Error(
      `The cluster did not become ready within 60 s; see ${o.out}/logs/`,
    );
  }
  print(`Cluster ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // ------------------------------------------------------------- clients
  const runStart = performance.timeOrigin + performance.now();
  const clock = sharedClock(runStart);
  const stop = new AbortController();
  const counts = { ok: 0, fail: 0, info: 0 };
  const acked: AckedWrite[] = [];
  const attempted = new Set<string>();
  const childEvents: HistoryEvent[] = [];
  const holding = new Map<string, boolean>();
  const recorder = new HistoryRecorder({ clock });
  const http = cluster.nodes.map((p) => p.http);
  const watchLogs: WatcherLog[] = [];
  const anomalies: string[] = [];
  const clockOffsets: Record<string, { offsetMs: number; rttMs: number }> = {};
  let finishClients: () => Promise<void>;

  if (!netns) {
    const ctx: WorkloadContext = {
      http,
      history: recorder,
      random,
      signal: stop.signal,
      counts,
      acked,
      attempted,
      maxOps: o.maxOps,
      generation: () => Math.floor(clock() / o.keyPeriodMs),
      timeoutMs,
      lockTtl,
    };
    const { lockers } = plan;
    const loops = Array.from(
      { length: lockers + plan.registers },
      (_, c) =>
        c < lockers
          ? lockClient(ctx, `l${c}`)
          : registerClient(ctx, `c${c}`, o.keys, o.clients),
    );
    for (const kind of CHAOS_RECIPES) {
      for (let i = 0; i < plan.recipes[kind]; i++) {
        loops.push(recipeClient(ctx, recipeClientName(kind, i), kind));
      }
    }
    const watches = Array.from(
      { length: o.watchers },
      (_, w) => watcher(ctx, `w${w}`),
    );
    finishClients = async () => {
      stop.abort();
      await Promise.all(loops);
      print(`${stamp(clock)}  clients stopped; waiting for the watchers`);
      const stuck = await Promise.race([
        Promise.all(watches.map((w) => w.done)).then(() => false),
        sleep(15_000).then(() => true),
      ]);
      if (stuck) {
        anomalies.push("a watcher did not stop within 15 s of being told to");
      }
      watchLogs.push(...watches.map((w) => w.log));
    };
  } else {
    const sink: ClientSink = {
      event(e) {
        childEvents.push(e);
        if (e.type !== "invoke") counts[e.type]++;
        const f = e.op?.f;
        if (f === "acquire" || f === "release") {
          holding.set(String(e.client), f === "acquire" && e.type === "ok");
        }
      },
      acked: (a) => acked.push(a),
      attempted: (t) => attempted.add(t),
    };
    const procs: ClientProcess[] = [];
    let firstId = 0;
    for (const [k, g] of groups.entries()) {
      const config: ClientProcConfig = {
        runStart,
        seed: o.seed * 1000 + k,
        http,
        clients: g.clients,
        keys: o.keys,
        allClients: o.clients,
        keyPeriodMs: o.keyPeriodMs,
        firstId,
        timeoutMs,
        lockTtl,
        abandonRate: 0.08,
      };
      firstId += 100_000_000;
      const p = await ClientProcess.start(
        g.member,
        lab!.wrap(g.member, []),
        config,
        sink,
      );
      procs.push(p);
      cleanups.add(() => p.kill());
    }
    for (const p of procs) clockOffsets[p.name] = await p.clockOffset(clock);
    // Each offset is known to ± half its round trip: report the bound, and
    // call it an anomaly only when the clocks certainly disagree by more
    // than the timing check allows.
    const bound = Math.max(
      0,
      ...Object.values(clockOffsets).map((c) =>
        Math.abs(c.offsetMs) + c.rttMs / 2
      ),
    );
    const certain = Math.max(
      0,
      ...Object.values(clockOffsets).map((c) =>
        Math.abs(c.offsetMs) - c.rttMs / 2
      ),
    );
    print(
      `${procs.length} client processes started; their clocks agree with the runner's within ${
        bound.toFixed(1)
      } ms as measured through their pipes (drift bound ${o.driftMs} ms)`,
    );
    if (certain > o.driftMs) {
      anomalies.push(
        `the client processes' clocks disagree by at least ${
          certain.toFixed(1)
        } ms, more than the ${o.driftMs} ms the timing check allows`,
      );
    }
    finishClients = async () => {
      stop.abort();
      const results = await Promise.all(procs.map((p) => p.stop(20_000)));
      print(`${stamp(clock)}  client processes stopped`);
      for (const [i, r] of results.entries()) {
        if (!r.clean) {
          anomalies.push(
            `client process ${procs[i].name} did not stop within 20 s`,
          );
        }
        for (const w of r.watchers) {
          if (w.stuck) {
            anomalies.push(
              `watcher ${w.log.name} did not stop within 12 s of being told to`,
            );
          }
          watchLogs.push(w.log);
        }
      }
    };
  }

  // ------------------------------------------------------------- nemesis
  const faultCounts: Record<string, number> = {};
  const faultLog: string[] = [];
  const windows: FaultWindow[] = [];
  const kills: { node: string; at: number }[] = [];
  const log = (s: string) => print(`${stamp(clock)}  ${s}`);
  const total = () => counts.ok + counts.fail + counts.info;
  const faultEnd = performance.now() + o.seconds * 1000;
  const note = (n: FaultNote) => {
    if (n.killedLeader) kills.push({ node: n.killedLeader, at: clock() });
  };
  const netKinds = netns
    ? o.kinds.filter((k) => (NET_NEMESES as readonly string[]).includes(k))
    : [];
  const nodeKinds = o.kinds.filter((k) => !netKinds.includes(k));
  const gap = wan ? [4000, 4000] : [1000, 2000];
  const lane = async (
    kinds: readonly string[],
    rnd: () => number,
    inject: (kind: string) => Promise<string>,
  ) => {
    while (performance.now() < faultEnd && !stop.signal.aborted) {
      await sleep(gap[0] + rnd() * gap[1]);
      if (total() >= o.maxOps) break;
      if (kinds.length === 0 || performance.now() >= faultEnd) continue;
      const kind = kinds[Math.floor(rnd() * kinds.length)];
      faultCounts[kind] = (faultCounts[kind] ?? 0) + 1;
      const start = clock();
      let what: string;
      try {
        what = await inject(kind);
      } catch (e) {
        what = `${kind} failed: ${(e as Error).message}`;
        log(what);
      }
      windows.push({ kind, start, end: clock() });
      faultLog.push(`${(start / 1000).toFixed(1)} s: ${what}`);
      log(
        `ops so far: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info`,
      );
    }
  };
  const env = netns
    ? {
      cluster,
      faults: faults!,
      clients: groups.map((g) => g.member),
      holders: () =>
        groups.filter((g) => g.clients.some((c) => holding.get(c.name)))
          .map((g) => g.member),
      durationScale,
    }
    : undefined;
  // Loopback runs keep the one random sequence they always had.
  const nodeLane = netns ? mulberry32(o.seed + 1) : random;
  const nodeFaults = netns ? mulberry32(o.seed + 2) : random;
  const netLane = mulberry32(o.seed + 3);
  const netFaults = mulberry32(o.seed + 4);
  await Promise.all([
    lane(
      nodeKinds,
      nodeLane,
      (k) => injectFault(k as NemesisKind, cluster, nodeFaults, log, note),
    ),
    ...(netKinds.length
      ? [lane(
        netKinds,
        netLane,
        (k) => injectNetFault(k as NetNemesisKind, env!, netFaults, log),
      )]
      : []),
  ]);
  await faults?.heal();
  log("faults over; 3 s of calm");
  await sleep(3000);

  // The cluster must come back: every node ready, all at one revision.
  if (!(await cluster.waitReady(30_000))) {
    anomalies.push(
      `not every node was ready 30 s after the faults ended; see ${o.out}/logs/`,
    );
  }
  log("every node ready; stopping the clients");
  await finishClients();
  log("waiting for the nodes to converge");
  const converged = await converge(http, 20_000);
  if (!converged.ok) {
    anomalies.push(`the nodes did not converge: ${converged.detail}`);
  }
  const delayer: DelayerStats | undefined = await faults?.stats();
  await cluster.stop();

  // ------------------------------------------------------------- check
  log("checking the histories");
  const events = netns ? childEvents : recorder.events();
  await Deno.writeTextFile(`${o.out}/history.jsonl`, stringifyHistory(events));
  await Deno.writeTextFile(`${o.out}/watches.json`, JSON.stringify(watchLogs));
  const registers = check(events, registerModel(), { timeoutMs: 120_000 });
  const locks = check(events, lockModel(), { timeoutMs: 120_000 });
  const recipes: Record<ChaosRecipe, CheckResult> = {
    election: check(events, electionModel(), { timeoutMs: 60_000 }),
    semaphore: check(events, semaphoreModel(), { timeoutMs: 60_000 }),
    rwlock: check(events, rwlockModel(), { timeoutMs: 60_000 }),
  };
  const recipeResults = CHAOS_RECIPES.map((k) => recipes[k]);
  // Each recipe's operations by outcome (they name their record by kind).
  const recipeOps = Object.fromEntries(CHAOS_RECIPES.map((k) => {
    const n = { ok: 0, fail: 0, info: 0 };
    for (const op of toOperations(events)) {
      if (typeof op.op[k] === "string") n[op.status]++;
    }
    return [k, n];
  }));
  const ops = toOperations(events);
  const timing = checkLeaseTiming(ops, { driftMs: o.driftMs });
  const watch = checkWatches(watchLogs, acked, attempted);
  anomalies.push(...watch.anomalies.map((a) => `watch: ${a}`));
  const latency = writeLatency(ops, windows);
  const failed = failovers(ops, kills);
  const illegal = registers.result === "illegal" ||
    locks.result === "illegal" ||
    recipeResults.some((r) => r.result === "illegal") || !timing.ok ||
    anomalies.length > 0;
  const summary = {
    seed: o.seed,
    command: o.command,
    net: o.net,
    profile: o.profile,
    seconds: o.seconds,
    nodes: o.nodes,
    clients: o.clients,
    workloads: o.workloads ?? ALL_WORKLOADS,
    recipeClients: plan.recipes,
    watchers: o.watchers,
    keys: o.keys,
    planted: o.plant ?? null,
    operations: counts,
    faults: faultCounts,
    faultLog,
    result: illegal
      ? "illegal"
      : [registers, locks, ...recipeResults].every((r) => r.result === "ok")
      ? "ok"
      : "unknown",
    registers: registers.result,
    locks: locks.result,
    elections: recipes.election.result,
    semaphores: recipes.semaphore.result,
    rwlocks: recipes.rwlock.result,
    recipeOperations: recipeOps,
    timing: {
      ok: timing.ok,
      anomalies: timing.count,
      grants: timing.grants,
      renewals: timing.renewals,
      expiries: timing.expiries,
      driftMs: timing.driftMs,
      lockTtlSeconds: lockTtl,
    },
    watch: {
      ok: watch.ok,
      delivered: watch.delivered,
      distinctEvents: watch.distinct,
      compactedSkips: watch.compactedSkips,
    },
    anomalies,
    latency: { writes: latency.all, writesWithoutFaults: latency.quiet },
    failovers: failed,
    ...(netns
      ? {
        namespaces: lab!.prefix,
        clientClocks: clockOffsets,
        delayer,
        ...(wan
          ? {
            raftFlags: WAN_RAFT_FLAGS.join(" "),
            sites: Object.fromEntries(sites!),
          }
          : {}),
      }
      : {}),
    partitions: [registers, locks, ...recipeResults].reduce(
      (n, r) => n + r.partitions,
      0,
    ),
    checkMs: Math.round(
      [registers, locks, ...recipeResults].reduce((n, r) => n + r.timeMs, 0),
    ),
  };
  await Deno.writeTextFile(
    `${o.out}/summary.json`,
    JSON.stringify(summary, null, 2) + "\n",
  );
  for (const r of [registers, locks, ...recipeResults]) {
    print(`\n${formatReport(r).split("\n").slice(0, 40).join("\n")}`);
  }
  print(`\n${formatTimingReport(timing).split("\n").slice(0, 40).join("\n")}`);
  for (const a of anomalies) print(`ANOMALY: ${a}`);
  print(
    `\nOperations: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info; faults ${
      JSON.stringify(faultCounts)
    }`,
  );
  print(
    `Watchers: ${watch.delivered} events delivered, ${watch.distinct} distinct, ${watch.compactedSkips} compacted skips.`,
  );
  const ms = (x: number | null) => x === null ? "-" : `${x} ms`;
  print(
    `Put latency: p50 ${ms(latency.all.p50)}, p99 ${
      ms(latency.all.p99)
    } (${latency.all.n} puts); without faults nearby: p50 ${
      ms(latency.quiet.p50)
    }, p99 ${ms(latency.quiet.p99)} (${latency.quiet.n})`,
  );
  if (failed.length) {
    const known = failed.map((f) => f.ms).filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    print(
      `Failover (SIGKILL of the leader to the first acknowledged write): ${
        failed.map((f) => `${f.node} ${ms(f.ms)}`).join(", ")
      }${
        known.length
          ? `; median ${known[Math.floor((known.length - 1) / 2)]} ms, max ${
            known.at(-1)
          } ms`
          : ""
      }`,
    );
  }
  if (delayer?.packets) {
    print(
      `Packet delayer: ${delayer.packets} packets queued, ${delayer.delayed} delayed, ${delayer.reordered} sent ahead; at most ${delayer.maxHeld} held at once`,
    );
  }
  print(
    `Registers: ${registers.result}; locks and fencing: ${locks.result}; elections: ${recipes.election.result}; semaphores: ${recipes.semaphore.result}; read-write locks: ${recipes.rwlock.result}; lease timing: ${
      timing.ok ? "ok" : "BROKEN"
    }; watches: ${
      watch.ok ? "ok" : "ANOMALIES"
    }. History and summary in ${o.out}/`,
  );
  if (illegal) {
    // The nodes' data directories are evidence.
    keepData = true;
    const kept = await Deno.rename(dataDir, `${o.out}/data`).then(
      () => `${o.out}/data`,
      () => dataDir, // another file system: leave them where they are
    );
    print(`The nodes' data directories are kept in ${kept}/`);
  }
  await cleanups.run();
  return illegal ? 1 : summary.result === "ok" ? 0 : 3;
}

function stamp(clock: () => number): string {
  return `${(clock() / 1000).toFixed(1).padStart(7)} s`;
}

/** Waits until every node reports the same applied revision. */
async function converge(
  http: readonly string[],
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string }> {
  const end = Date.now() + timeoutMs;
  let detail = "";
  while (Date.now() < end) {
    const revs = await Promise.all(http.map(async (h) => {
      try {
        const r = await fetch(`http://${h}/v1/status`, {
          signal: AbortSignal.timeout(500),
        });
        const s = await r.json();
        return `${s.revision}@${s.applied}`;
      } catch {
        return "unreachable";
      }
    }));
    detail = http.map((h, i) => `${h} revision@applied ${revs[i]}`).join(
      ", ",
    );
    const r0 = revs[0].split("@")[0];
    if (
      revs.every((r) => r !== "unreachable" && r.split("@")[0] === r0)
    ) return { ok: true, detail };
    await sleep(200);
  }
  return { ok: false, detail };
}
