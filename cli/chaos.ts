/**
 * `deno task chaos`: a Jepsen-style run against real `raftd` processes on
 * loopback. Register clients read, write and compare-and-set a few keys,
 * lock clients cycle locks (acquire, a fenced write, release), and
 * watchers follow the registers, all through the HTTP API of every node,
 * while a nemesis injects one fault after another: kill -9 and restart,
 * SIGSTOP pauses, network partitions through fault proxies, a slow disk,
 * and a restart after cutting the WAL's unsynced tail. The run is bounded
 * in time and operations; then the cluster must recover, the register and
 * lock histories must be linearizable and every watcher must have seen
 * every event once, in order. It writes the history and a summary.
 *
 * ```sh
 * deno task chaos --time 60 --nemesis kill,pause,partition --seed 7
 * ```
 *
 * Exits 1 when it finds an anomaly (the history and node logs are kept).
 *
 * @module
 */

import { type CommandLine, commandLine } from "./args.ts";
import {
  check,
  formatReport,
  HistoryRecorder,
  lockModel,
  registerModel,
  stringifyHistory,
} from "../src/check/mod.ts";
import { ChaosCluster } from "../src/chaos/cluster.ts";
import {
  injectFault,
  NEMESES,
  type NemesisKind,
} from "../src/chaos/nemesis.ts";
import { checkWatches } from "../src/chaos/watch_check.ts";
import {
  lockClient,
  registerClient,
  watcher,
  type WorkloadContext,
} from "../src/chaos/workloads.ts";
import { mulberry32 } from "../src/raft/rand.ts";
import { KNOBS } from "../src/server/faults.ts";

const USAGE = `Usage: deno task chaos [options]

  --time S           seconds of faults (default 60), then a calm period
  --nodes N          cluster size (default 3)
  --clients N        concurrent register and lock clients (default 12;
                     a third cycle locks)
  --watchers N       watchers following the registers (default 3)
  --keys N           registers the clients share at a time (default 5)
  --key-period S     seconds before the clients move on to fresh keys
                     (default 5; keeps each key's history checkable)
  --nemesis LIST     comma-separated, from: ${NEMESES.join(", ")}
                     (default all; "none" for a fault-free run)
  --max-ops N        stop the clients after N operations (default 1000000)
  --seed N           seed for the clients' and nemesis' choices (default: time)
  --out DIR          where to write history.jsonl, summary.json and node logs
                     (default chaos-results/<time>)
  --base-port P      first peer port (default 17400; HTTP ports are P+50..)
  --plant KNOB       run every node with a planted bug, to show the run
                     catches it: ${KNOBS.join(", ")}
  -h, --help         show this help`;

const cli: CommandLine = commandLine("chaos", USAGE);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const v = cli.parse({
    time: { type: "string", default: "60" },
    nodes: { type: "string", default: "3" },
    clients: { type: "string", default: "12" },
    watchers: { type: "string", default: "3" },
    keys: { type: "string", default: "5" },
    "key-period": { type: "string", default: "5" },
    nemesis: { type: "string", default: NEMESES.join(",") },
    "max-ops": { type: "string", default: "1000000" },
    seed: { type: "string" },
    out: { type: "string" },
    "base-port": { type: "string", default: "17400" },
    plant: { type: "string" },
  });
  if (v === undefined) return;
  const num = (name: string, s: string, min: number, max: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) {
      cli.fail(`--${name} takes a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const seconds = num("time", v.time!, 1, 24 * 3600);
  const n = num("nodes", v.nodes!, 1, 9);
  const clients = num("clients", v.clients!, 1, 200);
  const watchers = num("watchers", v.watchers!, 0, 100);
  const keys = num("keys", v.keys!, 1, 100);
  const keyPeriodMs = num("key-period", v["key-period"]!, 1, 86_400) * 1000;
  const maxOps = num("max-ops", v["max-ops"]!, 1, 1e9);
  const base = num("base-port", v["base-port"]!, 1024, 65000);
  const seed = v.seed === undefined
    ? Date.now() % 1_000_000
    : num("seed", v.seed, 0, 2 ** 31);
  const kinds = v.nemesis === "none"
    ? []
    : v.nemesis!.split(",").filter((k) => k !== "") as NemesisKind[];
  for (const k of kinds) {
    if (!NEMESES.includes(k)) {
      cli.fail(`unknown nemesis "${k}"; choose from ${NEMESES.join(", ")}`);
    }
  }
  if (v.plant !== undefined && !(KNOBS as string[]).includes(v.plant)) {
    cli.fail(`unknown --plant "${v.plant}"; choose from ${KNOBS.join(", ")}`);
  }
  const random = mulberry32(seed);
  const out = v.out ??
    `chaos-results/${new Date().toISOString().replace(/[:.]/g, "-")}`;
  await Deno.mkdir(out, { recursive: true });
  const dataDir = await Deno.makeTempDir({ prefix: "raftlock-chaos-" });

  // ---------------------------------------------------------------- cluster
  console.log(
    `Chaos run, seed ${seed}: ${n} nodes, ${clients} clients, ${watchers} watchers, ${keys} keys, nemesis ${
      kinds.join(",") || "none"
    }, ${seconds} s${v.plant ? `, PLANTED BUG ${v.plant}` : ""}`,
  );
  const t0 = Date.now();
  const cluster = await ChaosCluster.start({
    nodes: n,
    basePort: base,
    dataDir,
    logDir: `${out}/logs`,
    knob: v.plant,
  });
  Deno.addSignalListener("SIGINT", async () => {
    await cluster.stop();
    Deno.exit(130);
  });
  if (!(await cluster.waitReady(30_000))) {
    await cluster.stop();
    cli.fail(`the cluster did not become ready within 30 s; see ${out}/logs/`);
  }
  console.log(`Cluster ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // ---------------------------------------------------------------- clients
  const start = performance.now();
  const stop = new AbortController();
  const ctx: WorkloadContext = {
    http: cluster.nodes.map((p) => p.http),
    history: new HistoryRecorder({ clock: () => performance.now() - start }),
    random,
    signal: stop.signal,
    counts: { ok: 0, fail: 0, info: 0 },
    acked: [],
    attempted: new Set(),
    maxOps,
    generation: () => Math.floor((performance.now() - start) / keyPeriodMs),
  };
  const lockers = Math.floor(clients / 3);
  const loops = Array.from(
    { length: clients },
    (_, c) =>
      c < lockers
        ? lockClient(ctx, `l${c}`)
        : registerClient(ctx, `c${c}`, keys, clients),
  );
  const watches = Array.from(
    { length: watchers },
    (_, w) => watcher(ctx, `w${w}`),
  );

  // ---------------------------------------------------------------- nemesis
  const faults: Record<string, number> = {};
  const faultLog: string[] = [];
  const elapsed = () => ((performance.now() - start) / 1000).toFixed(1);
  const log = (s: string) => console.log(`${elapsed().padStart(7)} s  ${s}`);
  const { counts } = ctx;
  const faultEnd = performance.now() + seconds * 1000;
  while (performance.now() < faultEnd && !stop.signal.aborted) {
    await sleep(1000 + random() * 2000);
    if (counts.ok + counts.fail + counts.info >= maxOps) break;
    if (kinds.length === 0 || performance.now() >= faultEnd) continue;
    const kind = kinds[Math.floor(random() * kinds.length)];
    faults[kind] = (faults[kind] ?? 0) + 1;
    faultLog.push(
      `${elapsed()} s: ${await injectFault(kind, cluster, random, log)}`,
    );
    log(
      `ops so far: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info`,
    );
  }
  log("faults over; 3 s of calm");
  await sleep(3000);

  // The cluster must come back: every node ready, all at one revision.
  const anomalies: string[] = [];
  if (!(await cluster.waitReady(30_000))) {
    anomalies.push(
      `not every node was ready 30 s after the faults ended; see ${out}/logs/`,
    );
  }
  log("every node ready; stopping the clients");
  stop.abort();
  await Promise.all(loops);
  log("clients stopped; waiting for the watchers");
  const watchLogs = watches.map((w) => w.log);
  const stuck = await Promise.race([
    Promise.all(watches.map((w) => w.done)).then(() => false),
    sleep(15_000).then(() => true),
  ]);
  if (stuck) {
    anomalies.push("a watcher did not stop within 15 s of being told to");
  }
  log("watchers stopped; waiting for the nodes to converge");
  const converged = await converge(cluster.nodes.map((p) => p.http), 20_000);
  if (!converged.ok) {
    anomalies.push(`the nodes did not converge: ${converged.detail}`);
  }
  await cluster.stop();

  // ---------------------------------------------------------------- check
  log("checking the histories");
  const events = ctx.history.events();
  await Deno.writeTextFile(`${out}/history.jsonl`, stringifyHistory(events));
  await Deno.writeTextFile(
    `${out}/watches.json`,
    JSON.stringify(watchLogs),
  );
  const registers = check(events, registerModel(), { timeoutMs: 120_000 });
  const locks = check(events, lockModel(), { timeoutMs: 120_000 });
  const watch = checkWatches(watchLogs, ctx.acked, ctx.attempted);
  anomalies.push(...watch.anomalies.map((a) => `watch: ${a}`));
  const illegal = registers.result === "illegal" ||
    locks.result === "illegal" || anomalies.length > 0;
  const summary = {
    seed,
    command: `deno task chaos ${Deno.args.join(" ")}`,
    seconds,
    nodes: n,
    clients,
    watchers,
    keys,
    planted: v.plant ?? null,
    operations: counts,
    faults,
    faultLog,
    result: illegal
      ? "illegal"
      : registers.result === "ok" && locks.result === "ok"
      ? "ok"
      : "unknown",
    registers: registers.result,
    locks: locks.result,
    watch: {
      ok: watch.ok,
      delivered: watch.delivered,
      distinctEvents: watch.distinct,
      compactedSkips: watch.compactedSkips,
    },
    anomalies,
    partitions: registers.partitions + locks.partitions,
    checkMs: Math.round(registers.timeMs + locks.timeMs),
  };
  await Deno.writeTextFile(
    `${out}/summary.json`,
    JSON.stringify(summary, null, 2) + "\n",
  );
  for (const r of [registers, locks]) {
    console.log(`\n${formatReport(r).split("\n").slice(0, 40).join("\n")}`);
  }
  for (const a of anomalies) console.log(`ANOMALY: ${a}`);
  console.log(
    `\nOperations: ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info; faults ${
      JSON.stringify(faults)
    }`,
  );
  console.log(
    `Watchers: ${watch.delivered} events delivered, ${watch.distinct} distinct, ${watch.compactedSkips} compacted skips.`,
  );
  console.log(
    `Registers: ${registers.result}; locks and fencing: ${locks.result}; watches: ${
      watch.ok ? "ok" : "ANOMALIES"
    }. History and summary in ${out}/`,
  );
  // The nodes' data directories are evidence when something went wrong.
  if (illegal) {
    const kept = await Deno.rename(dataDir, `${out}/data`).then(
      () => `${out}/data`,
      () => dataDir, // another file system: leave them where they are
    );
    console.log(`The nodes' data directories are kept in ${kept}/`);
    Deno.exit(1);
  }
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  // Exit now: a stuck connection must not keep the process alive.
  Deno.exit(summary.result === "ok" ? 0 : 3);
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

if (import.meta.main) main();
