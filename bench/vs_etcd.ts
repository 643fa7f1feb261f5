/**
 * raftlock against etcd, measured by a client that favours neither:
 * `deno task bench:etcd`.
 *
 * Starts a 3-node raftlock cluster and a 3-member etcd cluster (real
 * processes on loopback, fsync on), and for each round runs every
 * workload at every concurrency with each client, alternating the systems
 * row by row, against each system's current leader:
 *
 * - `wrk` with the Lua scripts in `bench/wrk/` (the neutral rows, on
 *   which the issue-14 targets are checked);
 * - the Deno fetch loop of `bench/load/targets.ts`, labelled
 *   "deno-fetch client", to show how far it agrees with wrk;
 * - the client libraries: raftlock's `Client` against `npm:etcd3`.
 *
 * Every row records the leadership before and after; a row with a leader
 * change is marked and left out of the medians. Prints a table per round,
 * the medians, the fetch-against-wrk comparison and the targets; writes
 * the raw rows as JSON under `bench/results/`.
 *
 * ```sh
 * deno task bench:etcd                                   # 10 s rows, 1 and 64 connections, 2 rounds
 * deno task bench:etcd --seconds 2 --connections 1,64 --rounds 1   # a smoke run
 * deno task bench:etcd --readme --out bench/results/etcd-2026-12-03.json
 * deno task bench:etcd --from bench/results/etcd-2026-12-03.json --readme
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cleanup } from "./load/cleanup.ts";
import {
  type RunningCluster,
  startEtcd,
  startRaftlock,
} from "./load/clusters.ts";
import { checkGoals } from "./load/goals.ts";
import {
  compareViews,
  EtcdLeaderProbe,
  type LeaderView,
  RaftlockLeaderProbe,
  waitForLeader,
} from "./load/leader.ts";
import { describeMachine, type Machine, machineLine } from "./load/machine.ts";
import { etcd3Library, raftlockLibrary } from "./load/node_clients.ts";
import {
  fmtMs,
  fmtRate,
  fullReport,
  methodLine,
  readmeBlock,
  type RunOptions,
  type RunReport,
} from "./load/report.ts";
import {
  agreements,
  type ClientKind,
  CLIENTS,
  type Row,
  type System,
  type Workload,
  WORKLOADS,
} from "./load/rows.ts";
import {
  KEYS,
  type RowPlan,
  type RowSettings,
  runRow,
  type SystemUnderTest,
} from "./load/runner.ts";
import { runLoops } from "./load/stats.ts";
import { EtcdTarget, RaftlockTarget } from "./load/targets.ts";

const CLIENT_FLAGS: Record<string, ClientKind> = {
  wrk: "wrk",
  fetch: "deno-fetch",
  library: "library",
};

const USAGE = `Usage: deno task bench:etcd [options]

  --seconds N            measured seconds per row (default 10; whole seconds)
  --warmup N             warm-up seconds before each row (default 1)
  --settle N             before the first row, N s each of puts, gets and lock
                         cycles on each system, to warm fresh processes (default 3)
  --connections LIST     concurrent connections or callers (default 1,64)
  --rounds N             run everything N times, alternating (default 2)
  --workloads LIST       ${WORKLOADS.join(",")} (default all)
  --clients LIST         wrk,fetch,library (default all)
  --value-bytes N        value size of puts (default 16)
  --client-endpoints M   leader (default) or all: what the client libraries get
  --wrk-threads N        wrk threads for put and get rows (default: cores)
  --out FILE             raw JSON (default bench/results/tmp-etcd-<time>.json,
                         which git ignores; name a kept run etcd-<date>.json)
  --readme               also print the README block (method, machine, medians)
  --from FILE            print the report of a saved run instead of running
  -h, --help             show this help

Needs wrk (apt-get install wrk) for the neutral rows and etcd
(apt-get install etcd-server) for the comparison; without either it says so
and measures what it can.`;

function die(message: string): never {
  console.error(`bench:etcd: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

function wholeNumber(s: string | undefined, flag: string, min = 1): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) {
    die(`${flag} takes a whole number of at least ${min}`);
  }
  return n;
}

function list<T extends string>(
  s: string,
  flag: string,
  allowed: readonly string[],
): T[] {
  const xs = s.split(",").map((x) => x.trim()).filter(Boolean);
  for (const x of xs) {
    if (!allowed.includes(x)) {
      die(`${flag}: unknown "${x}"; choose from ${allowed.join(", ")}`);
    }
  }
  return xs as T[];
}

function parse() {
  let v;
  try {
    v = parseArgs({
      args: Deno.args,
      options: {
        seconds: { type: "string", default: "10" },
        warmup: { type: "string", default: "1" },
        settle: { type: "string", default: "3" },
        connections: { type: "string", default: "1,64" },
        rounds: { type: "string", default: "2" },
        workloads: { type: "string", default: WORKLOADS.join(",") },
        clients: { type: "string", default: "wrk,fetch,library" },
        "value-bytes": { type: "string", default: "16" },
        "client-endpoints": { type: "string", default: "leader" },
        "wrk-threads": { type: "string" },
        out: { type: "string" },
        readme: { type: "boolean", default: false },
        from: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    die((e as Error).message);
  }
  if (v.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const endpoints = v["client-endpoints"]!;
  if (endpoints !== "leader" && endpoints !== "all") {
    die("--client-endpoints is leader or all");
  }
  const options: RunOptions = {
    seconds: wholeNumber(v.seconds, "--seconds"),
    warmup: wholeNumber(v.warmup, "--warmup", 0),
    settle: wholeNumber(v.settle, "--settle", 0),
    rounds: wholeNumber(v.rounds, "--rounds"),
    connections: v.connections!.split(",").map((c) =>
      wholeNumber(c, "--connections")
    ),
    workloads: list<Workload>(v.workloads!, "--workloads", WORKLOADS),
    clients: list(v.clients!, "--clients", Object.keys(CLIENT_FLAGS)),
    valueBytes: wholeNumber(v["value-bytes"], "--value-bytes"),
    clientEndpoints: endpoints,
    wrkThreads: v["wrk-threads"]
      ? wholeNumber(v["wrk-threads"], "--wrk-threads")
      : navigator.hardwareConcurrency,
  };
  return { options, out: v.out, readme: v.readme!, from: v.from };
}

async function saveJson(file: string, report: RunReport): Promise<void> {
  const dir = file.includes("/") ? file.replace(/\/[^/]*$/, "") : ".";
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(report, null, 2) + "\n");
}

/**
 * Writes keys k0..k999 so the first get rows find them, then runs puts,
 * linearizable gets and lock cycles for `settle` seconds each: a freshly
 * started raftlock node answers puts 2× slower for its first 10–15 s
 * (a cold JIT, most likely), which would otherwise land on the first rows.
 */
async function prepare(
  sut: SystemUnderTest,
  valueBytes: number,
  settle: number,
): Promise<void> {
  const leader = await waitForLeader(sut.probe);
  const t = sut.fetchTarget(leader.url);
  const value = "v".repeat(valueBytes);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async (_, conn) => {
    while (next < KEYS) await t.put(conn, `k${next++}`, value);
  }));
  if (settle === 0) return;
  const ops = [
    (conn: number, i: number) => t.put(conn, `k${i % KEYS}`, value),
    (conn: number, i: number) => t.get(conn, `k${i % KEYS}`, false),
    (conn: number) => t.lockCycle(conn, `bench-settle-${conn}`),
  ];
  for (const op of ops) {
    await runLoops(op, { connections: 16, seconds: settle, warmupSeconds: 0 });
  }
}

function plans(
  options: RunOptions,
  systems: System[],
  clients: ClientKind[],
): RowPlan[] {
  const out: RowPlan[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    // Odd rounds start with raftlock, even ones with etcd, so neither
    // always runs right after the other's heaviest row.
    const order = round % 2 === 1 ? systems : [...systems].reverse();
    for (const client of clients) {
      for (const workload of options.workloads as Workload[]) {
        if (client === "library" && workload === "get-ser") continue;
        for (const connections of options.connections) {
          for (const system of order) {
            out.push({
              round,
              index: out.length + 1,
              client,
              system,
              workload,
              connections,
            });
          }
        }
      }
    }
  }
  return out;
}

function progressLine(plan: RowPlan, total: number, row: Row): string {
  const flags = [
    row.leader.sincePrevious
      ? `leader changed before this row (${row.leader.sincePrevious})`
      : "",
    row.leader.changed ? "⚠ leader changed" : "",
    !row.leader.changed && row.leader.counted > 0
      ? `${row.leader.counted} role changes`
      : "",
    row.errors ? `${row.errors} errors: ${row.firstError ?? "?"}` : "",
  ].filter(Boolean).join("; ");
  return `  r${plan.round} ${String(plan.index).padStart(3)}/${total}  ${
    plan.client.padEnd(10)
  } ${plan.workload.padEnd(7)} ×${String(plan.connections).padEnd(3)} ${
    plan.system.padEnd(8)
  } ${fmtRate(row.throughput).padStart(7)} ops/s  p50 ${
    fmtMs(row.p50).padStart(5)
  }  p99 ${fmtMs(row.p99).padStart(5)} ms  ${row.leader.text}${
    flags ? `  ${flags}` : ""
  }`;
}

async function run(
  options: RunOptions,
  machine: Machine,
  out: string,
  readme: boolean,
): Promise<void> {
  const startedAt = new Date().toISOString();
  const notes: string[] = [];
  console.log(`Machine: ${machineLine(machine)}`);
  if (machine.loadAverage[0] > machine.cores * 0.25) {
    console.log(
      `  (the machine is busy: load ${
        machine.loadAverage[0].toFixed(2)
      } on ${machine.cores} cores; figures are smoke, not a measurement)`,
    );
    notes.push(
      `Load average ${
        machine.loadAverage[0].toFixed(2)
      } at the start on ${machine.cores} cores: a busy machine, smoke figures only`,
    );
  }
  const systems: System[] = ["raftlock"];
  if (machine.etcd) {
    systems.push("etcd");
  } else {
    const n =
      "etcd is not installed (apt-get install etcd-server): raftlock only, no ratios, no targets";
    console.log(n);
    notes.push(n);
  }
  let clients = CLIENTS.filter((c) =>
    options.clients.some((f) => CLIENT_FLAGS[f] === c)
  );
  if (!machine.wrk && clients.includes("wrk")) {
    const n =
      "wrk is not installed (apt-get install wrk): no neutral rows; the deno-fetch client rows below are not a neutral comparison";
    console.log(n);
    notes.push(n);
    clients = clients.filter((c) => c !== "wrk");
    if (!clients.includes("deno-fetch")) clients.unshift("deno-fetch");
  }
  console.log(`Method: ${methodLine(options)}\n`);

  const clusters: RunningCluster[] = [];
  cleanup.onSignals();
  try {
    const suts: Partial<Record<System, SystemUnderTest>> = {};
    console.log("Starting a 3-node raftlock cluster…");
    const rl = await startRaftlock();
    clusters.push(rl);
    suts.raftlock = {
      system: "raftlock",
      endpoints: rl.endpoints,
      probe: new RaftlockLeaderProbe(rl.endpoints),
      fetchTarget: (url) => new RaftlockTarget([url]),
      library: (e) => Promise.resolve(raftlockLibrary(e)),
    };
    if (systems.includes("etcd")) {
      console.log(`Starting a 3-member etcd ${machine.etcd} cluster…`);
      const et = await startEtcd();
      clusters.push(et);
      suts.etcd = {
        system: "etcd",
        endpoints: et.endpoints,
        probe: new EtcdLeaderProbe(et.endpoints),
        fetchTarget: (url) => new EtcdTarget([url]),
        library: etcd3Library,
      };
    }
    const active = systems.map((s) => suts[s]!);
    for (const sut of active) {
      if (options.settle > 0) {
        console.log(
          `Settling ${sut.system}: ${options.settle} s each of puts, gets and lock cycles…`,
        );
      }
      await prepare(sut, options.valueBytes, options.settle);
    }
    const rowsStart = new Date();
    const first: Partial<Record<System, LeaderView>> = {};
    for (const sut of active) first[sut.system] = await sut.probe.view();
    // The leadership at the end of each system's latest row.
    const last = { ...first };

    if (clients.includes("library") && suts.etcd) {
      const probe = await etcd3Library(suts.etcd.endpoints);
      if (probe instanceof Error) {
        const n = `etcd3 rows skipped: ${probe.message}`;
        console.log(n);
        notes.push(n);
      } else {
        probe.close();
      }
    }

    const all = plans(options, systems, clients);
    const rowSettings: RowSettings = {
      seconds: options.seconds,
      warmup: options.warmup,
      valueBytes: options.valueBytes,
      wrkThreads: options.wrkThreads,
      wrkLabel: `wrk ${machine.wrk}`,
      clientEndpoints: options.clientEndpoints as "leader" | "all",
    };
    const rows: Row[] = [];
    // Failures in a row per client and system; three skip the rest.
    const failures = new Map<string, number>();
    console.log(
      `${all.length} rows of ${options.seconds} s (+${options.warmup} s warm-up)\n`,
    );
    for (const plan of all) {
      const what = `${plan.client} ${plan.system}`;
      if ((failures.get(what) ?? 0) >= 3) continue;
      if (Deno.stdout.isTerminal()) {
        Deno.stdout.writeSync(new TextEncoder().encode(
          `  r${plan.round} ${
            String(plan.index).padStart(3)
          }/${all.length}  ${plan.client} ${plan.workload} ×${plan.connections} ${plan.system}…\r`,
        ));
      }
      try {
        const row = await runRow(
          suts[plan.system]!,
          plan,
          rowSettings,
          last[plan.system],
        );
        last[plan.system] = row.leader.after;
        rows.push(row);
        failures.delete(what);
        console.log(progressLine(plan, all.length, row));
      } catch (e) {
        // Killed by the signal handler's clean-up, which exits shortly.
        if (cleanup.stopping) await new Promise(() => {});
        // A failed row is noted and the run goes on; a client that cannot
        // run at all (etcd3 not loading, say) stops after three.
        const n = failures.get(what) ?? 0;
        failures.set(what, n + 1);
        const note =
          `r${plan.round} ${plan.client} ${plan.workload} ×${plan.connections} ${plan.system} failed: ${
            (e as Error).message
          }${n + 1 >= 3 ? ` (three in a row: no more ${what} rows)` : ""}`;
        console.log(`  ${note}`);
        notes.push(note);
      }
    }

    const whole: Partial<Record<System, ReturnType<typeof compareViews>>> = {};
    for (const sut of active) {
      whole[sut.system] = compareViews(
        first[sut.system]!,
        await sut.probe.view(),
        sut.endpoints.length,
      );
    }
    const report: RunReport = {
      startedAt,
      options,
      machine,
      rows,
      agreement: agreements(rows),
      goals: checkGoals(rows, options.connections, whole.raftlock),
      notes,
    };
    if (whole.etcd?.changed) {
      notes.push(`etcd's leader changed during the run (${whole.etcd.text})`);
    }
    if (whole.raftlock?.changed && rl.leadershipLog) {
      const lines = await rl.leadershipLog(rowsStart);
      notes.push(
        `raftlock's leader changed during the run; its nodes logged:${
          lines.length > 0
            ? lines.slice(0, 30).map((l) => `\n      ${l}`).join("")
            : " nothing about leadership (no campaign, step-down or stall)"
        }`,
      );
    }
    await saveJson(out, report);
    console.log(`\n${fullReport(report, out)}`);
    if (readme) console.log(`\n${readmeBlock(report, out)}`);
  } finally {
    for (const c of clusters) await c.stop();
    await cleanup.run();
    cleanup.offSignals();
  }
}

async function main(): Promise<void> {
  const { options, out, readme, from } = parse();
  if (from) {
    const report = JSON.parse(await Deno.readTextFile(from)) as RunReport;
    console.log(fullReport(report, from));
    if (readme) console.log(`\n${readmeBlock(report, from)}`);
    return;
  }
  const file = out ??
    `bench/results/tmp-etcd-${
      new Date().toISOString().replace(/[:.]/g, "-")
    }.json`;
  await run(options, await describeMachine(), file, readme);
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`bench:etcd: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
