/**
 * The cluster load generator: starts real clusters on loopback (fsync on),
 * drives each workload at each concurrency for a fixed time with the same
 * client, and prints (and writes as JSON) throughput and p50/p99/max
 * latency — side by side with etcd when asked and installed.
 *
 * ```sh
 * deno task bench:cluster                      # raftlock only
 * deno run -A bench/load.ts --seconds 5 --connections 1,64 --workloads puts,locks
 * deno run -A bench/load.ts --seconds 5 --connections 1,64 --workloads campaigns,semaphores
 * ```
 *
 * `locks`, `campaigns` and `semaphores` measure cycles (acquire or
 * campaign, then release or resign; a lease made with each grant), not
 * contention: each connection has its own lock and election, and four
 * connections share each semaphore of limit 4, so every acquire fits.
 *
 * Connections are spread over every node, and every request goes through
 * the Deno fetch client. For a comparison with etcd that favours neither
 * side (wrk, each system's leader, rounds, leader changes), use
 * `deno task bench:etcd` (`bench/vs_etcd.ts`).
 *
 * @module
 */

import { commandLine } from "../cli/args.ts";
import {
  etcdInstalled,
  type RunningCluster,
  startEtcd,
  startRaftlock,
} from "./load/clusters.ts";
import { runLoops, type WorkloadResult } from "./load/stats.ts";
import { EtcdTarget, RaftlockTarget, type Target } from "./load/targets.ts";

const WORKLOADS = [
  "puts",
  "get-lin",
  "get-ser",
  "locks",
  "leases",
  "watch",
  "campaigns",
  "semaphores",
] as const;
type Workload = typeof WORKLOADS[number];
/** The limit of the semaphores workload's semaphores (connections per semaphore). */
const SEMAPHORE_LIMIT = 4;

const USAGE = `Usage: deno run -A bench/load.ts [options]

  --targets LIST      raftlock,etcd (default raftlock; etcd is skipped with a message when not installed)
  --workloads LIST    ${WORKLOADS.join(",")} (default all;
                      campaigns: campaign+resign cycles, semaphores: acquire+release
                      cycles of a permit of a semaphore of limit ${SEMAPHORE_LIMIT})
  --connections LIST  concurrent connections (default 1,16,64,256)
  --seconds N         measured seconds per run (default 5; plus 1 s warm-up)
  --watchers N        watchers for the watch workload (default 100)
  --out FILE          JSON results (default bench/results/tmp-load-<time>.json)
  -h, --help          show this help`;

const VALUE = "v".repeat(256);

function randomKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return "k" +
    Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("").slice(0, 15);
}

async function machine(): Promise<Record<string, string | number>> {
  let cpu = "unknown";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  return {
    cores: navigator.hardwareConcurrency,
    cpu,
    deno: Deno.version.deno,
    os: Deno.build.os,
  };
}

async function runWorkload(
  target: Target,
  workload: Workload,
  connections: number,
  seconds: number,
  watchers: number,
): Promise<WorkloadResult> {
  const label = `${target.name.padEnd(8)} ${workload.padEnd(8)} ×${
    String(connections).padEnd(4)
  }`;
  const progress = (done: number, elapsed: number) => {
    const line = `\r  ${label} ${elapsed.toFixed(0)}/${seconds} s  ${
      (done / Math.max(elapsed, 0.001)).toFixed(0)
    } ops/s   `;
    if (Deno.stdout.isTerminal()) {
      Deno.stdout.writeSync(new TextEncoder().encode(line));
    }
  };
  // Keys for reads exist before reading.
  const readKeys = Array.from({ length: 64 }, (_, i) => `read/${i}`);
  if (workload === "get-lin" || workload === "get-ser") {
    for (const k of readKeys) await target.put(0, k, VALUE);
  }
  let events = 0;
  const ac = new AbortController();
  if (workload === "watch") {
    for (let w = 0; w < watchers; w++) {
      await target.watch(w, "w/", () => events++, ac.signal);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  let eventsAtStart = 0;
  const op = (conn: number, i: number): Promise<void> => {
    switch (workload) {
      case "puts":
        return target.put(conn, randomKey(), VALUE);
      case "get-lin":
        return target.get(conn, readKeys[(conn + i) % readKeys.length], false);
      case "get-ser":
        return target.get(conn, readKeys[(conn + i) % readKeys.length], true);
      case "locks":
        // Each connection cycles its own lock: throughput, not contention.
        return target.lockCycle(conn, `bench-lock-${conn}`);
      case "leases":
        return target.leaseCycle(conn);
      case "watch":
        return target.put(conn, `w/${randomKey()}`, VALUE);
      case "campaigns":
        return target.campaignCycle!(conn, `bench-election-${conn}`);
      case "semaphores":
        return target.semaphoreCycle!(
          conn,
          `bench-sem-${Math.floor(conn / SEMAPHORE_LIMIT)}`,
          SEMAPHORE_LIMIT,
        );
    }
  };
  const r = await runLoops(op, {
    connections,
    seconds,
    onProgress: (done, elapsed) => {
      if (workload === "watch" && eventsAtStart === 0) eventsAtStart = events;
      progress(done, elapsed);
    },
  });
  ac.abort();
  if (Deno.stdout.isTerminal()) {
    Deno.stdout.writeSync(
      new TextEncoder().encode("\r" + " ".repeat(70) + "\r"),
    );
  }
  const s = r.lat.summary();
  const throughput = workload === "watch"
    ? (events - eventsAtStart) / r.seconds
    : r.ops / r.seconds;
  const result: WorkloadResult = {
    target: target.name,
    workload,
    connections,
    ops: r.ops,
    errors: r.errors,
    seconds: r.seconds,
    throughput,
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    firstError: r.firstError,
  };
  console.log(
    `  ${label} ${fmtRate(throughput).padStart(9)} ${
      workload === "watch" ? "events/s" : "ops/s   "
    }  p50 ${fmtMs(s.p50)}  p99 ${fmtMs(s.p99)}  max ${fmtMs(s.max)}${
      r.errors ? `  (${r.errors} errors: ${r.firstError})` : ""
    }`,
  );
  return result;
}

function fmtRate(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}

function fmtMs(n: number): string {
  return (n < 10 ? n.toFixed(2) : n.toFixed(0)).padStart(6) + " ms";
}

function table(results: WorkloadResult[], targets: string[]): string {
  const rows: string[] = [];
  const both = targets.includes("etcd") && targets.includes("raftlock");
  rows.push(
    both
      ? "| workload | conns | raftlock ops/s | p50 / p99 ms | etcd ops/s | p50 / p99 ms | ratio |"
      : "| workload | conns | ops/s | p50 ms | p99 ms | max ms |",
  );
  rows.push(
    both
      ? "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
      : "| --- | ---: | ---: | ---: | ---: | ---: |",
  );
  const keys = [
    ...new Set(results.map((r) => `${r.workload}|${r.connections}`)),
  ];
  for (const k of keys) {
    const [w, c] = k.split("|");
    const rl = results.find((r) =>
      r.target === "raftlock" && r.workload === w && String(r.connections) === c
    );
    const et = results.find((r) =>
      r.target === "etcd" && r.workload === w && String(r.connections) === c
    );
    const unit = w === "watch" ? " ev/s" : "";
    if (both) {
      const ratio = rl && et && et.throughput > 0
        ? (rl.throughput / et.throughput).toFixed(1) + "×"
        : "–";
      rows.push(
        `| ${w} | ${c} | ${rl ? fmtRate(rl.throughput) + unit : "–"} | ${
          rl ? `${rl.p50.toFixed(2)} / ${rl.p99.toFixed(1)}` : "–"
        } | ${et ? fmtRate(et.throughput) + unit : "–"} | ${
          et ? `${et.p50.toFixed(2)} / ${et.p99.toFixed(1)}` : "–"
        } | ${ratio} |`,
      );
    } else {
      const r = rl ?? et!;
      rows.push(
        `| ${w} | ${c} | ${fmtRate(r.throughput)}${unit} | ${
          r.p50.toFixed(2)
        } | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |`,
      );
    }
  }
  return rows.join("\n");
}

async function main(): Promise<void> {
  const v = commandLine("load", USAGE).parse({
    targets: { type: "string", default: "raftlock" },
    workloads: { type: "string", default: WORKLOADS.join(",") },
    connections: { type: "string", default: "1,16,64,256" },
    seconds: { type: "string", default: "5" },
    watchers: { type: "string", default: "100" },
    out: { type: "string" },
  });
  if (v === undefined) return;
  const workloads = v.workloads!.split(",") as Workload[];
  for (const w of workloads) {
    if (!WORKLOADS.includes(w)) {
      console.error(
        `load: unknown workload "${w}"; choose from ${WORKLOADS.join(", ")}`,
      );
      Deno.exit(2);
    }
  }
  const conns = v.connections!.split(",").map(Number);
  if (conns.some((c) => !Number.isInteger(c) || c < 1)) {
    console.error("load: --connections takes whole numbers like 1,16,64");
    Deno.exit(2);
  }
  const seconds = Number(v.seconds);
  const watchers = Number(v.watchers);
  let targets = v.targets!.split(",");
  if (targets.includes("etcd") && !(await etcdInstalled())) {
    console.log(
      "etcd is not installed, so it is skipped (install it with: apt-get install etcd-server)",
    );
    targets = targets.filter((t) => t !== "etcd");
  }
  const info = await machine();
  console.log(`Machine: ${info.cores} cores, ${info.cpu}, Deno ${info.deno}`);
  console.log(
    `Workloads ${workloads.join(", ")} at ${
      conns.join("/")
    } connections, ${seconds} s each (+1 s warm-up); fsync on\n`,
  );

  const results: WorkloadResult[] = [];
  for (const t of targets) {
    console.log(`Starting a 3-node ${t} cluster on loopback…`);
    let cluster: RunningCluster;
    try {
      cluster = t === "etcd" ? await startEtcd() : await startRaftlock();
    } catch (e) {
      console.error(`Could not start ${t}: ${(e as Error).message}`);
      Deno.exit(1);
    }
    const target: Target = t === "etcd"
      ? new EtcdTarget(cluster.endpoints)
      : new RaftlockTarget(cluster.endpoints);
    try {
      for (const w of workloads) {
        const missing = (w === "campaigns" && !target.campaignCycle) ||
          (w === "semaphores" && !target.semaphoreCycle);
        if (missing) {
          console.log(`  ${t} has no ${w} workload; skipped`);
          continue;
        }
        for (const c of conns) {
          results.push(await runWorkload(target, w, c, seconds, watchers));
        }
      }
    } finally {
      await cluster.stop();
    }
    console.log("");
  }
  console.log(table(results, targets));
  const out = v.out ??
    `bench/results/tmp-load-${
      new Date().toISOString().replace(/[:.]/g, "-")
    }.json`;
  await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true }).catch(
    () => {},
  );
  await Deno.writeTextFile(
    out,
    JSON.stringify({ machine: info, seconds, results }, null, 2),
  );
  console.log(`\nResults written to ${out}`);
}

if (import.meta.main) main();
