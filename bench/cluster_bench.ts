/**
 * Put throughput and latency of a real 3-process raftlock cluster on
 * loopback (fsync on: every acknowledged write is durable on a majority).
 *
 * ```sh
 * deno run -A bench/cluster_bench.ts                    # 10 s at 1 and 64
 * deno run -A bench/cluster_bench.ts --seconds 5 --concurrency 1,8,64
 * deno run -A bench/cluster_bench.ts --target all       # round robin over nodes
 * deno run -A bench/cluster_bench.ts --dir /mnt/ssd     # data dirs there
 * ```
 *
 * Each of `--concurrency` N runs N async loops, each doing one PUT at a
 * time (random 16-byte key, 256-byte value) over keep-alive fetch, for
 * `--seconds`. Progress is printed every second; a table at the end.
 * This is a script for `deno run`, not a `deno bench` file: under
 * `deno bench` (and `deno test`) it does nothing.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { E2ECluster, http, type LogRecord } from "../tests/e2e/harness.ts";

const USAGE = `Usage: deno run -A bench/cluster_bench.ts [options]

  --seconds N         measured time per concurrency level (default 10)
  --warmup N          unmeasured warm-up seconds (default 2)
  --concurrency LIST  comma-separated loop counts (default 1,64)
  --target T          leader (default) or all (round robin over the 3 nodes)
  --value-bytes N     value size (default 256)
  --snapshot-every N  raftd --snapshot-every (default: raftd's, 10000)
  --dir DIR           parent directory for the data dirs (default: system temp)
  -h, --help          this help`;

/** One measured run. */
interface Run {
  concurrency: number;
  puts: number;
  errors: number;
  seconds: number;
  lat: number[];
  /** Elections during the run (term at the end minus term at the start). */
  elections?: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function ms(v: number): string {
  if (!Number.isFinite(v)) return "-";
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

function randomText(n: number): string {
  const b = crypto.getRandomValues(new Uint8Array(n));
  let s = "";
  for (let i = 0; i < n; i++) s += ALNUM[b[i] % ALNUM.length];
  return s;
}

async function machine(dir: string): Promise<string[]> {
  const lines = [
    `cores:   ${navigator.hardwareConcurrency}`,
    `deno:    ${Deno.version.deno} (v8 ${Deno.version.v8}, ${Deno.build.target})`,
  ];
  try {
    const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(
      /model name\s*:\s*(.*)/,
    );
    if (cpu) lines.push(`cpu:     ${cpu[1]}`);
  } catch {
    // Not Linux.
  }
  try {
    const mounts = (await Deno.readTextFile("/proc/mounts")).split("\n")
      .map((l) => l.split(" ")).filter((f) => f.length > 2);
    const real = await Deno.realPath(dir);
    const m = mounts.filter((f) => real.startsWith(f[1]))
      .sort((a, b) => b[1].length - a[1].length)[0];
    if (m) lines.push(`data fs: ${m[2]} (${m[0]} on ${m[1]})`);
  } catch {
    // Unknown.
  }
  lines.push(`data:    ${dir} (fsync on every write, 3 replicas)`);
  return lines;
}

async function runLevel(
  urls: string[],
  concurrency: number,
  seconds: number,
  valueBytes: number,
  label: string,
  quiet = false,
): Promise<Run> {
  const value = randomText(valueBytes);
  const lat: number[] = [];
  let puts = 0;
  let errors = 0;
  let lastError = "";
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let lastPuts = 0;
  const progress = quiet ? undefined : setInterval(() => {
    if (performance.now() > end + 900) return;
    const s = (performance.now() - t0) / 1000;
    console.log(
      `  ${label} ${s.toFixed(0).padStart(3)} s: ${puts} puts, ${
        puts - lastPuts
      }/s now, ${errors} errors${lastError ? ` (last: ${lastError})` : ""}`,
    );
    lastPuts = puts;
  }, 1000);
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = w; performance.now() < end; i++) {
      const url = `${urls[i % urls.length]}/v1/kv/bench/${randomText(16)}`;
      const s = performance.now();
      try {
        const r = await fetch(url, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: `{"value":"${value}"}`,
          signal: AbortSignal.timeout(10_000),
        });
        await r.arrayBuffer();
        if (r.ok) {
          lat.push(performance.now() - s);
          puts++;
        } else {
          errors++;
          lastError = `HTTP ${r.status}`;
        }
      } catch (e) {
        errors++;
        lastError = (e as Error).message;
      }
    }
  }));
  clearInterval(progress);
  const took = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { concurrency, puts, errors, seconds: took, lat };
}

const ELECTION_EVENTS = new Set([
  "raft.lostQuorum",
  "raft.steppedDown",
  "raft.campaign",
  "raft.becameLeader",
  "node.snapshot",
]);

function isElectionLine(l: LogRecord): boolean {
  return typeof l.event === "string" && ELECTION_EVENTS.has(l.event);
}

/** The HTTP floor: one GET /healthz at a time (no Raft, no disk). */
async function httpFloor(url: string, seconds: number): Promise<number[]> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const s = performance.now();
    const r = await fetch(`${url}/healthz`);
    await r.arrayBuffer();
    lat.push(performance.now() - s);
  }
  return lat.sort((a, b) => a - b);
}

function table(runs: Run[]): string {
  const head = [
    "concurrency",
    "puts",
    "errors",
    "puts/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "elections",
  ];
  const rows = runs.map((r) => [
    String(r.concurrency),
    String(r.puts),
    String(r.errors),
    (r.puts / r.seconds).toFixed(0),
    ms(pct(r.lat, 0.5)),
    ms(pct(r.lat, 0.9)),
    ms(pct(r.lat, 0.99)),
    ms(r.lat[r.lat.length - 1]),
    String(r.elections ?? "-"),
  ]);
  const w = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padStart(w[i])).join(" | ") + " |";
  return [
    line(head),
    "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|",
    ...rows.map(line),
  ].join("\n");
}

/** One node's WAL persist histogram, summarised. */
async function persistSummary(url: string): Promise<string | undefined> {
  const r = await fetch(`${url}/metrics`).catch(() => undefined);
  if (!r?.ok) return undefined;
  const text = await r.text();
  const metric = "raftlock_wal_persist_duration_seconds";
  const num = (re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
  const count = num(new RegExp(`^${metric}_count(?:\\{\\})? (\\S+)`, "m"));
  const sum = num(new RegExp(`^${metric}_sum(?:\\{\\})? (\\S+)`, "m"));
  if (!(count > 0)) return undefined;
  const le = (b: string) =>
    num(new RegExp(`^${metric}_bucket\\{le="${b}"\\} (\\S+)`, "m"));
  const over = (b: string) => count - le(b);
  return `${count} syncs, mean ${ms((sum / count) * 1000)} ms; over 50 ms: ${
    over("0.05")
  }, over 100 ms: ${over("0.1")}, over 250 ms: ${over("0.25")}`;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "2" },
      concurrency: { type: "string", default: "1,64" },
      target: { type: "string", default: "leader" },
      "value-bytes": { type: "string", default: "256" },
      dir: { type: "string" },
      "snapshot-every": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const seconds = Number(v.seconds);
  const warmup = Number(v.warmup);
  const levels = v.concurrency!.split(",").map(Number);
  const valueBytes = Number(v["value-bytes"]);
  if (
    !(seconds > 0) || !(warmup >= 0) ||
    levels.some((n) => !Number.isInteger(n) || n < 1) ||
    !Number.isInteger(valueBytes) || valueBytes < 0 ||
    (v["snapshot-every"] !== undefined &&
      !(Number.isInteger(Number(v["snapshot-every"])) &&
        Number(v["snapshot-every"]) > 0)) ||
    (v.target !== "leader" && v.target !== "all")
  ) {
    console.error(USAGE);
    Deno.exit(2);
  }

  console.log("raftlock cluster bench: 3 raftd processes on 127.0.0.1");
  console.log("starting the cluster…");
  const snapshotEvery = v["snapshot-every"]
    ? Number(v["snapshot-every"])
    : undefined;
  const c = await E2ECluster.start({
    nodes: 3,
    baseDir: v.dir,
    snapshotEvery,
  });
  try {
    for (const l of await machine(c.dir)) console.log(`  ${l}`);
    const leader = await c.waitForLeader();
    const urls = v.target === "all"
      ? c.running().map((id) => c.url(id))
      : [c.url(leader)];
    console.log(
      `leader ${leader}; PUTs go to ${
        v.target === "all" ? "every node, round robin" : "the leader"
      }; 16-byte keys, ${valueBytes}-byte values`,
    );
    if (warmup > 0) {
      console.log(`warming up for ${warmup} s…`);
      await runLevel(urls, 8, warmup, valueBytes, "warmup", true);
    }
    const runs: Run[] = [];
    const term = async () =>
      Math.max(
        ...(await c.statuses()).map((s) => s?.term ?? 0),
      );
    for (const n of levels) {
      console.log(`concurrency ${n} for ${seconds} s…`);
      const before = await term();
      const from = new Map(
        [...c.nodes.values()].map((p) => [p.id, p.logs().length]),
      );
      const r = await runLevel(urls, n, seconds, valueBytes, `c=${n}`);
      r.elections = (await term()) - before;
      if (r.elections > 0) {
        console.log(
          `  note: ${r.elections} election(s) during this run (term ${before} -> ${
            before + r.elections
          }); the nodes said:`,
        );
        for (const p of c.nodes.values()) {
          const lines = p.logs().slice(from.get(p.id) ?? 0);
          for (const l of lines.filter(isElectionLine).slice(-12)) {
            console.log(`    [${p.id}] ${l.raw}`);
          }
        }
      }
      console.log(
        `  done: ${(r.puts / r.seconds).toFixed(0)} puts/s, p50 ${
          ms(pct(r.lat, 0.5))
        } ms, p99 ${ms(pct(r.lat, 0.99))} ms`,
      );
      runs.push(r);
    }
    console.log("HTTP floor: GET /healthz one at a time for 2 s…");
    const floor = await httpFloor(c.url(leader), 2);
    const st = await http<{ term: number; leader: string }>(
      `${c.url(leader)}/v1/status`,
    );
    const persist: string[] = [];
    for (const id of c.running()) {
      const p = await persistSummary(c.url(id));
      if (p) persist.push(`${id}${id === leader ? " (leader)" : ""}: ${p}`);
    }

    console.log("\n== raftlock cluster bench");
    for (const l of await machine(c.dir)) console.log(`  ${l}`);
    console.log(
      `  cluster: 3 raftd, snapshot every ${
        snapshotEvery ?? "10000 (default)"
      } entries, target ${v.target}, ${seconds} s per level, leader ${leader} (term ${st.body.term}${
        st.body.leader === leader ? ", unchanged" : `, now ${st.body.leader}`
      })`,
    );
    for (const p of persist) console.log(`  wal ${p}`);
    console.log(
      `  http floor (GET /healthz, one at a time): p50 ${
        ms(pct(floor, 0.5))
      } ms, p99 ${ms(pct(floor, 0.99))} ms`,
    );
    console.log("");
    console.log(table(runs));
  } finally {
    await c.close();
  }
}

if (import.meta.main) await main();
