/**
 * `deno task sim`: run the deterministic cluster simulator.
 *
 * ```sh
 * deno task sim --seed 7 [--nodes 5] [--steps 3000]   # replay one seed, with a trace
 * deno task sim --seeds 1..300 [--nodes 5]            # sweep a range of seeds
 * deno task sim --workload --seeds 1..100             # client workload, histories checked
 * deno task sim --workload --seed 3 --knob semaphoreExtraPermit   # a planted recipe bug
 * ```
 *
 * On a violation it prints the invariant, the failing seed and the command
 * that replays it, and exits with status 1.
 *
 * @module
 */

import { type CommandLine, commandLine } from "./args.ts";
import { measureFailover } from "../src/sim/failover.ts";
import { NEMESIS_KINDS, type NemesisKind } from "../src/sim/nemesis.ts";
import {
  runSimulation,
  runSimulationOnDisk,
  type SimOptions,
  type SimResult,
} from "../src/sim/run.ts";
import type { TestingKnobs } from "../src/raft/raft.ts";
import type { StateTestingKnobs } from "../src/state/machine.ts";
import {
  runWorkload,
  type WorkloadOptions,
  type WorkloadResult,
} from "../src/sim/workload.ts";

const USAGE = `Usage: deno task sim [options]

  --seed N           replay one seed and print its trace
  --seeds A..B       sweep seeds A to B (inclusive) with a progress line
  --nodes N          initial voters (default 3)
  --steps K          ticks of 10 ms under faults (default 3000)
  --nemesis a,b,...  faults to inject (default all: ${NEMESIS_KINDS.join(",")})
  --knob NAME        plant a bug (voteTwice, commitPreviousTermByCounting, skipReadIndexQuorum;
                     with --workload also semaphoreExtraPermit, in the state machine)
  --failover N       time N leader failovers (crash to new leader) and print the distribution
  --workload         run simulated clients through the real state machine and
                     check every register, lock, election, semaphore and
                     read-write lock history for linearizability, and the
                     recipes' bookkeeping (held + free permits == limit)
                     after every entry (steps default 1500)
  --keep-going       with --workload: run on past a broken safety check, so the
                     histories alone show what a planted bug did
  --disk             with --seed: file-backed slow mode (real WAL and snapshot files in a temp dir)
  --quiet            with --seed: print only the summary
  -h, --help         show this help`;

const cli: CommandLine = commandLine("sim", USAGE);

function parseIntArg(
  name: string,
  v: string | undefined,
  dflt: number,
): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    cli.fail(`--${name} takes a whole number, got "${v}"`);
  }
  return n;
}

async function main(): Promise<void> {
  const v = cli.parse({
    seed: { type: "string" },
    seeds: { type: "string" },
    nodes: { type: "string" },
    steps: { type: "string" },
    nemesis: { type: "string" },
    knob: { type: "string" },
    quiet: { type: "boolean" },
    disk: { type: "boolean" },
    workload: { type: "boolean" },
    "keep-going": { type: "boolean" },
    failover: { type: "string" },
  });
  if (v === undefined) return;
  const nodes = parseIntArg("nodes", v.nodes, 3);
  if (nodes < 1 || nodes > 9) cli.fail("--nodes must be between 1 and 9");
  const steps = parseIntArg("steps", v.steps, v.workload ? 1500 : 3000);
  let nemesis: NemesisKind[] | undefined;
  if (v.nemesis) {
    nemesis = v.nemesis.split(",").map((k) => {
      if (!(NEMESIS_KINDS as readonly string[]).includes(k)) {
        cli.fail(
          `unknown nemesis "${k}"; choose from ${NEMESIS_KINDS.join(", ")}`,
        );
      }
      return k as NemesisKind;
    });
  }
  let knobs: TestingKnobs | undefined;
  let stateKnobs: StateTestingKnobs | undefined;
  if (v.knob === "semaphoreExtraPermit") {
    if (!v.workload) cli.fail("--knob semaphoreExtraPermit needs --workload");
    stateKnobs = { semaphoreExtraPermit: true };
  } else if (v.knob) {
    const known = [
      "voteTwice",
      "commitPreviousTermByCounting",
      "skipReadIndexQuorum",
    ];
    if (!known.includes(v.knob)) {
      cli.fail(
        `unknown knob "${v.knob}"; choose from ${
          known.join(", ")
        }, semaphoreExtraPermit`,
      );
    }
    knobs = { [v.knob]: true };
  }
  if (v.failover !== undefined) {
    const trials = parseIntArg("failover", v.failover, 1000);
    const enc = new TextEncoder();
    const r = measureFailover({
      trials,
      nodes,
      onTrial: (done, all) => {
        if (Deno.stdout.isTerminal() && done % 50 === 0) {
          Deno.stdout.writeSync(enc.encode(`\rtrials ${done}/${all}`));
        }
      },
    });
    if (Deno.stdout.isTerminal()) console.log("");
    const hist = new Map<number, number>();
    for (const t of r.times) {
      const b = Math.floor(t / 25) * 25;
      hist.set(b, (hist.get(b) ?? 0) + 1);
    }
    console.log(
      `Leader crash to new leader, ${r.trials} trials, ${nodes} nodes, election timeout 150–300 ms:`,
    );
    console.log(
      `  p50 ${r.p50} ms   p99 ${r.p99} ms   max ${r.max} ms   (${r.extraTerms} trials needed more than one term)`,
    );
    for (const [b, n] of [...hist].sort((a, b) => a[0] - b[0])) {
      console.log(
        `  ${String(b).padStart(4)}–${String(b + 24).padEnd(4)} ms ${
          "#".repeat(Math.ceil((n / r.trials) * 100))
        } ${n}`,
      );
    }
    return;
  }
  if (v.workload) {
    if (v.disk) cli.fail("--workload does not support --disk");
    workloadMain(
      {
        nodes,
        steps,
        nemesis,
        knobs,
        stateKnobs,
        stopOnViolation: !v["keep-going"],
      },
      v.seed,
      v.seeds,
      [
        nodes !== 3 ? ` --nodes ${nodes}` : "",
        steps !== 1500 ? ` --steps ${steps}` : "",
        v.nemesis ? ` --nemesis ${v.nemesis}` : "",
        v.knob ? ` --knob ${v.knob}` : "",
        v["keep-going"] ? " --keep-going" : "",
      ].join(""),
    );
    return;
  }
  const base: Omit<SimOptions, "seed"> = { nodes, steps, nemesis, knobs };
  const extra = [
    nodes !== 3 ? ` --nodes ${nodes}` : "",
    steps !== 3000 ? ` --steps ${steps}` : "",
    v.nemesis ? ` --nemesis ${v.nemesis}` : "",
    v.knob ? ` --knob ${v.knob}` : "",
  ].join("");

  if (v.seed !== undefined) {
    const seed = parseIntArg("seed", v.seed, 0);
    if (v.disk) {
      const dir = await Deno.makeTempDir({ prefix: "raftlock-sim-" });
      try {
        const r = await runSimulationOnDisk({
          ...base,
          seed,
          dir,
          trace: v.quiet ? undefined : (l) => console.log(l),
        });
        report(r, extra + " --disk");
        if (r.violation) Deno.exit(1);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      return;
    }
    const r = runSimulation({
      ...base,
      seed,
      trace: v.quiet ? undefined : (l) => console.log(l),
    });
    report(r, extra);
    if (r.violation) Deno.exit(1);
    return;
  }
  const range = (v.seeds ?? "1..100").match(/^(\d+)\.\.(\d+)$/);
  if (!range) cli.fail(`--seeds takes a range like 1..300, got "${v.seeds}"`);
  const [from, to] = [Number(range[1]), Number(range[2])];
  if (to < from) cli.fail("--seeds range is empty");
  const t0 = performance.now();
  const total = to - from + 1;
  const enc = new TextEncoder();
  let maxCommit = 0;
  for (let seed = from; seed <= to; seed++) {
    const r = runSimulation({ ...base, seed });
    maxCommit += r.stats.maxCommit;
    const done = seed - from + 1;
    if (done % 10 === 0 || done === total || r.violation) {
      const line = `\rseeds ${done}/${total}  ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`;
      if (Deno.stdout.isTerminal()) Deno.stdout.writeSync(enc.encode(line));
      else if (done % 100 === 0 || done === total) console.log(line.trim());
    }
    if (r.violation) {
      console.log("");
      report(r, extra);
      Deno.exit(1);
    }
  }
  if (Deno.stdout.isTerminal()) console.log("");
  console.log(
    `${total} seeds × ${steps} steps, ${nodes} nodes: no violation (${
      (maxCommit / total).toFixed(0)
    } entries committed per seed on average)`,
  );
}

function workloadMain(
  base: Omit<WorkloadOptions, "seed">,
  seedArg: string | undefined,
  seedsArg: string | undefined,
  extra: string,
): void {
  if (seedArg !== undefined) {
    const r = runWorkload({ ...base, seed: parseIntArg("seed", seedArg, 0) });
    reportWorkload(r, extra);
    if (r.violation) Deno.exit(1);
    return;
  }
  const range = (seedsArg ?? "1..100").match(/^(\d+)\.\.(\d+)$/);
  if (!range) cli.fail(`--seeds takes a range like 1..300, got "${seedsArg}"`);
  const [from, to] = [Number(range[1]), Number(range[2])];
  if (to < from) cli.fail("--seeds range is empty");
  const t0 = performance.now();
  const total = to - from + 1;
  let ok = 0, info = 0, ops = 0, unknown = 0;
  for (let seed = from; seed <= to; seed++) {
    const r = runWorkload({ ...base, seed });
    for (const o of allOps(r)) {
      ok += o.ok;
      info += o.info;
      ops += o.invoked;
    }
    for (const v of verdicts(r)) if (v.result === "unknown") unknown++;
    if (r.violation) {
      reportWorkload(r, extra);
      Deno.exit(1);
    }
  }
  console.log(
    `${total} seeds × ${base.steps} steps, ${base.nodes} nodes, workload: every history linearizable ` +
      `(${(ops / total).toFixed(0)} operations per seed, ${
        (ok / total).toFixed(0)
      } ok, ${
        (info / total).toFixed(0)
      } info; ${unknown} histories undecided) in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
  );
}

const RECIPES = ["election", "semaphore", "rwlock"] as const;

function allOps(r: WorkloadResult): WorkloadResult["registerOps"][] {
  return [r.registerOps, r.lockOps, ...RECIPES.map((k) => r.recipeOps[k])];
}

function verdicts(r: WorkloadResult): WorkloadResult["register"][] {
  return [r.register, r.lock, ...RECIPES.map((k) => r.recipes[k])];
}

function reportWorkload(r: WorkloadResult, extra: string): void {
  const c = (o: WorkloadResult["registerOps"]) =>
    `${o.invoked} invoked, ${o.ok} ok, ${o.fail} fail, ${o.info} info`;
  console.log(
    `seed ${r.seed}: register ops ${
      c(r.registerOps)
    } → ${r.register.result}; ` +
      `lock ops ${c(r.lockOps)} → ${r.lock.result}; ` +
      RECIPES.map((k) =>
        `${k} ops ${c(r.recipeOps[k])} → ${r.recipes[k].result}; `
      ).join("") +
      `faults ${JSON.stringify(r.faults)}`,
  );
  if (r.violation) {
    console.log(
      `VIOLATION of ${r.violation.invariant} at step ${r.violation.step}: ${r.violation.detail}`,
    );
    for (const v of verdicts(r)) {
      if (v.report && r.violation.invariant !== "linearizability") {
        console.log(v.report);
      }
    }
    console.log(`replay: deno task sim --workload --seed ${r.seed}${extra}`);
  }
}

function report(r: SimResult, extra: string): void {
  const s = r.stats;
  console.log(
    `seed ${r.seed}: ${s.elections} elections, ${s.maxCommit} committed, ${s.proposals} proposals (${s.dropped} refused), ` +
      `${s.reads} reads, ${s.crashes} crashes, ${s.snapshots} snapshots (${s.snapshotsInstalled} installed), ` +
      `${s.confChanges} conf changes, ${s.transfers} transfers; faults ${
        JSON.stringify(r.faults)
      }`,
  );
  if (r.violation) {
    console.log(
      `VIOLATION of ${r.violation.invariant} at step ${r.violation.step}: ${r.violation.detail}`,
    );
    console.log(`replay: deno task sim --seed ${r.seed}${extra}`);
  }
}

if (import.meta.main) main();
