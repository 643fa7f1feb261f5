/**
 * Failover time of a real 3-process raftlock cluster: with a writer
 * running, SIGKILL the leader and measure the time until a write succeeds
 * on a surviving node; restart the killed node, wait until the cluster is
 * healthy again, and repeat.
 *
 * ```sh
 * deno run -A bench/failover_bench.ts                # 20 trials
 * deno run -A bench/failover_bench.ts --trials 50 --probe-ms 5
 * ```
 *
 * The time to the first successful write is measured by probes: from the
 * kill on, a new PUT starts every `--probe-ms` (alternating between the
 * two survivors) while earlier ones may still wait, so the figure is not
 * bounded below by any client timeout. The time until a survivor reports
 * itself leader is polled at the same rate. A progress line per trial; a
 * table at the end. A script for `deno run`, not a `deno bench` file:
 * under `deno bench` (and `deno test`) it does nothing.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  E2ECluster,
  firstSuccessfulPut,
  sleep,
  type Status,
} from "../tests/e2e/harness.ts";

const USAGE = `Usage: deno run -A bench/failover_bench.ts [options]

  --trials N        leader kills (default 20)
  --probe-ms N      a new probe PUT every N ms after the kill (default 10)
  --write-ms N      pause between the background writer's PUTs (default 0)
  --election-ticks N  raftd --election-ticks (default: raftd's, 15)
  --heartbeat-ticks N raftd --heartbeat-ticks (default: raftd's, 5)
  --dir DIR         parent directory for the data dirs (default: system temp)
  --json FILE       also write the trials and the summary as JSON
  -h, --help        this help`;

/** One trial's measurements. */
export interface Trial {
  killed: string;
  term: number;
  /** SIGKILL → first PUT acknowledged by a survivor. */
  write: number;
  /** SIGKILL → a survivor reports itself leader of a higher term. */
  elected: number;
  newLeader: string;
  /** The writer's longest stretch without an acknowledged write. */
  writerGap: number;
  /** Restart → the killed node has caught up. */
  recover: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** A writer over the survivors that notes its longest gap. */
function writer(c: E2ECluster, ids: string[], pauseMs: number) {
  let stop = false;
  let lastOk = performance.now();
  let gap = 0;
  let n = 0;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const r = await c.put(ids[i % ids.length], `w/${i}`, "x", 2000);
      const now = performance.now();
      if (r.status === 200) {
        gap = Math.max(gap, now - lastOk);
        lastOk = now;
        n++;
      } else await sleep(5);
      if (pauseMs > 0) await sleep(pauseMs);
    }
  })();
  return {
    get writes() {
      return n;
    },
    async stop(): Promise<number> {
      stop = true;
      await loop;
      return Math.max(gap, performance.now() - lastOk);
    },
  };
}

async function waitNewLeader(
  c: E2ECluster,
  ids: string[],
  term: number,
  t0: number,
  everyMs: number,
): Promise<{ ms: number; id: string }> {
  const deadline = t0 + 15_000;
  while (performance.now() < deadline) {
    const st = await Promise.all(ids.map((id) => c.status(id, 500)));
    const l = st.find((s): s is Status =>
      s !== undefined && s.role === "leader" && s.term > term
    );
    if (l) return { ms: performance.now() - t0, id: l.id };
    await sleep(everyMs);
  }
  throw new Error("No new leader within 15 s");
}

function row(name: string, xs: number[], target?: string): string[] {
  const s = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return [
    name,
    pct(s, 0.5).toFixed(0),
    pct(s, 0.9).toFixed(0),
    s[s.length - 1]?.toFixed(0) ?? "-",
    s[0]?.toFixed(0) ?? "-",
    mean.toFixed(0),
    target ?? "",
  ];
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    "| " +
    cells.map((c, i) => i === 0 ? c.padEnd(w[i]) : c.padStart(w[i])).join(
      " | ",
    ) + " |";
  return [
    line(head),
    "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|",
    ...rows.map(line),
  ].join("\n");
}

/** How to run failover trials. */
export interface FailoverOptions {
  /** Leader kills. */
  trials: number;
  /** A new probe PUT every this many ms after the kill. */
  probeMs: number;
  /** Pause between the background writer's PUTs. */
  writeMs: number;
  /** Where each trial's line goes (default console.log). */
  log?: (line: string) => void;
}

/**
 * Runs failover trials on a running 3-node cluster (n1..n3): each kills
 * the leader with SIGKILL, measures the time to the first acknowledged
 * write and to a new leader, then restarts the killed node and waits
 * until it caught up.
 */
export async function runFailoverTrials(
  c: E2ECluster,
  options: FailoverOptions,
): Promise<{ results: Trial[]; failures: string[] }> {
  const { trials, probeMs, writeMs } = options;
  const log = options.log ?? console.log;
  const results: Trial[] = [];
  const failures: string[] = [];
  const ids = ["n1", "n2", "n3"];
  for (let t = 1; t <= trials; t++) {
    const leader = await c.waitForLeader({ ids });
    await c.waitApplied(ids);
    const term = (await c.status(leader))!.term;
    const survivors = ids.filter((id) => id !== leader);
    const w = writer(c, survivors, writeMs);
    await sleep(300); // the writer is in full swing

    const t0 = performance.now();
    await c.node(leader).kill("SIGKILL");
    try {
      const [first, elected] = await Promise.all([
        firstSuccessfulPut(c, survivors, `probe/${t}`, {
          t0,
          everyMs: probeMs,
          timeoutMs: 15_000,
        }),
        waitNewLeader(c, survivors, term, t0, probeMs),
      ]);
      await sleep(200);
      const writerGap = await w.stop();

      const r0 = performance.now();
      c.node(leader).start();
      await c.waitForLeader({ ids, timeoutMs: 20_000 });
      await c.waitApplied(ids, { timeoutMs: 20_000 });
      const recover = performance.now() - r0;
      const trial: Trial = {
        killed: leader,
        term,
        write: first.ms,
        elected: elected.ms,
        newLeader: elected.id,
        writerGap,
        recover,
      };
      results.push(trial);
      log(
        `trial ${
          String(t).padStart(2)
        }/${trials}: SIGKILL ${leader} (term ${term}) → ${elected.id} leads after ${
          elected.ms.toFixed(0)
        } ms, first write ${
          first.ms.toFixed(0)
        } ms (on ${first.node}, ${first.attempts} probes); writer gap ${
          writerGap.toFixed(0)
        } ms, ${w.writes} writer PUTs; restarted node caught up in ${
          recover.toFixed(0)
        } ms`,
      );
    } catch (e) {
      await w.stop();
      const msg = `trial ${t}: ${(e as Error).message}`;
      failures.push(msg);
      log(msg);
      if (!c.node(leader).running) c.node(leader).start();
      await c.waitForLeader({ ids, timeoutMs: 30_000 });
    }
  }
  return { results, failures };
}

/** p50 and max of each measure, in ms. */
export function failoverSummary(results: Trial[]): Record<
  string,
  { p50: number; p90: number; max: number }
> {
  const out: Record<string, { p50: number; p90: number; max: number }> = {};
  const measures: [string, (t: Trial) => number][] = [
    ["firstWrite", (t) => t.write],
    ["elected", (t) => t.elected],
    ["writerGap", (t) => t.writerGap],
    ["recover", (t) => t.recover],
  ];
  for (const [name, f] of measures) {
    const xs = results.map(f).sort((a, b) => a - b);
    out[name] = {
      p50: Math.round(pct(xs, 0.5)),
      p90: Math.round(pct(xs, 0.9)),
      max: Math.round(xs[xs.length - 1] ?? NaN),
    };
  }
  return out;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      trials: { type: "string", default: "20" },
      "probe-ms": { type: "string", default: "10" },
      "write-ms": { type: "string", default: "0" },
      "election-ticks": { type: "string" },
      "heartbeat-ticks": { type: "string" },
      dir: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const trials = Number(v.trials);
  const probeMs = Number(v["probe-ms"]);
  const writeMs = Number(v["write-ms"]);
  if (
    !Number.isInteger(trials) || trials < 1 || !(probeMs > 0) ||
    !(writeMs >= 0)
  ) {
    console.error(USAGE);
    Deno.exit(2);
  }

  // raftd's defaults: a 10 ms tick, 15 and 5 ticks.
  const electionTicks = Number(v["election-ticks"] ?? 15);
  const heartbeatTicks = Number(v["heartbeat-ticks"] ?? 5);
  const extraArgs: string[] = [];
  if (v["election-ticks"]) {
    extraArgs.push("--election-ticks", v["election-ticks"]);
  }
  if (v["heartbeat-ticks"]) {
    extraArgs.push("--heartbeat-ticks", v["heartbeat-ticks"]);
  }
  console.log(
    `raftlock failover bench: 3 raftd processes on 127.0.0.1, ${trials} trials${
      extraArgs.length ? ` (${extraArgs.join(" ")})` : ""
    }`,
  );
  console.log(
    `  cores ${navigator.hardwareConcurrency}, deno ${Deno.version.deno}, ${Deno.build.target}`,
  );
  const c = await E2ECluster.start({ nodes: 3, baseDir: v.dir, extraArgs });
  let run: { results: Trial[]; failures: string[] };
  try {
    run = await runFailoverTrials(c, { trials, probeMs, writeMs });
  } catch (e) {
    c.printLogs((e as Error).message, 40);
    throw e;
  } finally {
    await c.close();
  }
  const { results, failures } = run;
  const col = (f: (t: Trial) => number) => results.map(f);
  const writes = col((t) => t.write).sort((a, b) => a - b);
  const p50 = pct(writes, 0.5);
  const max = writes[writes.length - 1];
  console.log(
    `\n== raftlock failover: ${results.length} trials (${failures.length} failed), cores ${navigator.hardwareConcurrency}, deno ${Deno.version.deno}`,
  );
  console.log(
    `   times in ms from SIGKILL of the leader (election timeout ${
      electionTicks * 10
    }-${electionTicks * 20} ms, heartbeat ${heartbeatTicks * 10} ms)\n`,
  );
  console.log(table(
    ["measure", "p50", "p90", "max", "min", "mean", "target"],
    [
      row(
        "first successful write",
        col((t) => t.write),
        "p50 < 400, max < 1000",
      ),
      row("new leader elected", col((t) => t.elected)),
      row("writer's longest gap", col((t) => t.writerGap)),
      row("restart → caught up", col((t) => t.recover)),
    ],
  ));
  console.log(
    `\nfailover p50 ${p50.toFixed(0)} ms (target < 400: ${
      p50 < 400 ? "met" : "MISSED"
    }), max ${max.toFixed(0)} ms (target < 1000: ${
      max < 1000 ? "met" : "MISSED"
    })`,
  );
  for (const f of failures) console.log(`failed: ${f}`);
  if (v.json) {
    await Deno.writeTextFile(
      v.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: navigator.hardwareConcurrency,
          deno: Deno.version.deno,
          raftdArgs: extraArgs,
          summary: failoverSummary(results),
          trials: results,
          failures,
        },
        null,
        2,
      ),
    );
  }
}

if (import.meta.main) await main();
