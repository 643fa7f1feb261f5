/**
 * The etcd comparison's report: a markdown table per round and one of the
 * medians, the Deno fetch loop against wrk, the issue-14 targets, and the
 * block for the README (method and machine lines over the median table).
 *
 * @module
 */

import type { Goal } from "./goals.ts";
import { type Machine, machineLine } from "./machine.ts";
import {
  AGREEMENT,
  type Agreement,
  cell,
  type LineKey,
  lines,
  type Row,
  type System,
} from "./rows.ts";

/** What a finished (or loaded) run holds. */
export interface RunReport {
  /** When the run started (ISO). */
  startedAt: string;
  /** The command line's options. */
  options: RunOptions;
  /** The machine. */
  machine: Machine;
  /** Every row of every round. */
  rows: Row[];
  /** Deno fetch loop against wrk. */
  agreement: Agreement[];
  /** The issue-14 targets. */
  goals: Goal[];
  /** Things skipped or worth knowing (missing tools, failed loads). */
  notes: string[];
}

/** The options a run was made with. */
export interface RunOptions {
  /** Measured seconds per row. */
  seconds: number;
  /** Warm-up seconds before each row. */
  warmup: number;
  /** Seconds of each settling workload before the first row. */
  settle: number;
  /** Rounds. */
  rounds: number;
  /** Concurrencies. */
  connections: number[];
  /** Workloads. */
  workloads: string[];
  /** Clients. */
  clients: string[];
  /** Value size in bytes. */
  valueBytes: number;
  /** `leader` or `all`: what the client libraries were given. */
  clientEndpoints: string;
  /** wrk threads for put and get rows. */
  wrkThreads: number;
}

/** `1,234` from 100 up, `12.3` below. */
export function fmtRate(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}

/** Milliseconds with 2 decimals below 10, 1 below 100, none above. */
export function fmtMs(n: number): string {
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

const WORKLOAD_NAMES: Record<string, string> = {
  "put": "put",
  "get-lin": "linearizable get",
  "get-ser": "serializable get",
  "lock": "lock cycle",
};

function clientName(rows: readonly Row[], key: LineKey): string {
  if (key.client === "wrk") {
    return rows.find((r) => r.client === "wrk")?.clientLabel ?? "wrk";
  }
  if (key.client === "deno-fetch") return "deno-fetch client";
  const labels = (["raftlock", "etcd"] as System[]).flatMap((s) =>
    rows.find((r) => r.client === "library" && r.system === s)?.clientLabel ??
      []
  );
  return labels.join(" vs ");
}

function rowNotes(rs: readonly Row[], showRound: boolean): string[] {
  const notes: string[] = [];
  for (const r of rs) {
    const at = showRound ? ` in round ${r.round}` : "";
    if (r.leader.sincePrevious) {
      notes.push(
        `${r.system} leader changed between rows, before this one${at} (${r.leader.sincePrevious})`,
      );
    }
    if (r.leader.changed) {
      notes.push(
        `⚠ ${r.system} leader changed${at} (${r.leader.text})${
          showRound ? ", excluded" : ""
        }`,
      );
    } else if (r.leader.counted > 0) {
      notes.push(
        `${r.system}: ${r.leader.counted} role change${
          r.leader.counted === 1 ? "" : "s"
        } without a new leader${at}`,
      );
    }
    if (r.errors > 0) {
      notes.push(
        `${r.system}: ${r.errors} errors${at}${
          r.firstError ? ` (${r.firstError.slice(0, 80)})` : ""
        }`,
      );
    }
  }
  return notes;
}

function pair(t?: number, p50?: number, p99?: number): [string, string] {
  if (t === undefined) return ["–", "–"];
  return [fmtRate(t), `${fmtMs(p50!)} / ${fmtMs(p99!)}`];
}

/**
 * The table of one round (`round` given) or of the medians over all
 * rounds, in markdown.
 */
export function table(rows: readonly Row[], round?: number): string {
  const rs = round === undefined ? rows : rows.filter((r) => r.round === round);
  const rounds = [...new Set(rows.map((r) => r.round))].sort((a, b) => a - b);
  const out = [
    "| client | workload | conns | raftlock ops/s | p50 / p99 ms | etcd ops/s | p50 / p99 ms | ratio | notes |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const k of lines(rs)) {
    const rl = cell(rs, k, "raftlock");
    const et = cell(rs, k, "etcd");
    let rlCells: [string, string];
    let etCells: [string, string];
    if (round !== undefined) {
      // One row per system: show it even with a leader change (marked).
      const show = (c: typeof rl) => {
        const r = c.rows[0];
        return r ? pair(r.throughput, r.p50, r.p99) : pair();
      };
      rlCells = show(rl);
      etCells = show(et);
    } else {
      rlCells = pair(rl.throughput, rl.p50, rl.p99);
      etCells = pair(et.throughput, et.p50, et.p99);
    }
    let ratio = "–";
    if (round !== undefined) {
      const a = rl.rows[0]?.throughput;
      const b = et.rows[0]?.throughput;
      if (a !== undefined && b) ratio = `${(a / b).toFixed(2)}×`;
    } else if (rl.throughput !== undefined && et.throughput) {
      ratio = `${(rl.throughput / et.throughput).toFixed(2)}×`;
      const per = rounds.map((n) => {
        const a = rl.rows.find((r) => r.round === n);
        const b = et.rows.find((r) => r.round === n);
        if (!a || !b || !b.throughput) return undefined;
        const flag = a.leader.changed || b.leader.changed ? "⚠" : "";
        return `${(a.throughput / b.throughput).toFixed(2)}${flag}`;
      }).filter((x) => x !== undefined);
      if (per.length > 1) ratio += ` (${per.join(", ")})`;
    }
    const notes = rowNotes([...rl.rows, ...et.rows], round === undefined);
    if (k.workload === "lock" && k.client === "wrk" && round !== undefined) {
      const req = (c: typeof rl) => {
        const q = c.rows[0]?.request;
        return q ? `${fmtMs(q.p50)}/${fmtMs(q.p99)}` : "–";
      };
      notes.unshift(`per request p50/p99: ${req(rl)} vs ${req(et)} ms`);
    }
    out.push(
      `| ${clientName(rs, k)} | ${
        WORKLOAD_NAMES[k.workload]
      } | ${k.connections} | ${rlCells[0]} | ${rlCells[1]} | ${etCells[0]} | ${
        etCells[1]
      } | ${ratio} | ${notes.join("; ")} |`,
    );
  }
  return out.join("\n");
}

function cpu(us?: number): string {
  return us === undefined ? "–" : us.toFixed(0);
}

/** The Deno fetch loop against wrk, in markdown. */
export function agreementTable(agreement: readonly Agreement[]): string {
  if (agreement.length === 0) {
    return "(no line measured by both wrk and the deno-fetch client)";
  }
  const out = [
    "| system | workload | conns | wrk ops/s | deno-fetch ops/s | difference | p50 wrk / fetch ms | client CPU µs/op wrk / fetch | within ±20 % |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const a of agreement) {
    out.push(
      `| ${a.system} | ${WORKLOAD_NAMES[a.workload]} | ${a.connections} | ${
        fmtRate(a.wrk)
      } | ${fmtRate(a.fetch)} | ${a.difference >= 0 ? "+" : ""}${
        (a.difference * 100).toFixed(0)
      } % | ${fmtMs(a.p50.wrk)} / ${fmtMs(a.p50.fetch)} | ${
        cpu(a.clientCpuUs.wrk)
      } / ${cpu(a.clientCpuUs.fetch)} | ${a.agrees ? "yes" : "**no**"} |`,
    );
  }
  const off = agreement.filter((a) => !a.agrees).length;
  out.push(
    "",
    off === 0
      ? `The two clients agree within ±${AGREEMENT * 100} % everywhere.`
      : `${off} of ${agreement.length} lines differ by more than ±${
        AGREEMENT * 100
      } %: see "How we measure" in docs/performance.md for where and why.`,
  );
  return out.join("\n");
}

/** The targets check, as lines. */
export function goalsText(goals: readonly Goal[]): string {
  const mark = { "met": "✓ met", "missed": "✗ missed", "not measured": "–" };
  return goals.map((g) =>
    `  ${mark[g.status].padEnd(8)} ${g.goal.padEnd(36)} ${g.shown}`
  ).join("\n");
}

/** The method, in one paragraph. */
export function methodLine(o: RunOptions): string {
  return `3-node clusters of real processes on loopback, fsync on for both (etcd's default, raftlock's default); ` +
    `each system's leader as the target, found before every row; ${o.valueBytes} B values, keys k0–k999; ` +
    `${
      o.settle ? `${o.settle} s each of puts, gets and lock cycles first; ` : ""
    }${o.seconds} s per row after ${o.warmup} s of warm-up; ${o.rounds} round${
      o.rounds === 1 ? "" : "s"
    }, systems alternating row by row (the first system alternates between rounds); ` +
    `wrk with the Lua scripts in bench/wrk/ (${o.wrkThreads} threads; lock rows one thread per connection); ` +
    `client libraries given the ${
      o.clientEndpoints === "all" ? "three endpoints" : "leader"
    }; medians over the rounds without a leader change.`;
}

/** The block for the README: method and machine lines, the median table, the raw file. */
export function readmeBlock(report: RunReport, file?: string): string {
  const m = report.machine;
  const day = report.startedAt.slice(0, 10);
  const neutral = report.rows.filter((r) =>
    r.client === "wrk" || r.client === "library"
  );
  return [
    `Measured ${day} with \`deno task bench:etcd --seconds ${report.options.seconds} --connections ${
      report.options.connections.join(",")
    } --rounds ${report.options.rounds}\`: ${methodLine(report.options)}`,
    "",
    `Machine: ${machineLine(m)}.`,
    "",
    table(neutral.length ? neutral : report.rows),
    "",
    `Ratio: raftlock ÷ etcd throughput (per round in brackets). Raw results: ${
      file ?? "(not saved)"
    }.`,
  ].join("\n");
}

/** The whole report for stdout. */
export function fullReport(report: RunReport, file?: string): string {
  const rounds = [...new Set(report.rows.map((r) => r.round))].sort((a, b) =>
    a - b
  );
  const parts: string[] = [];
  // With one round its table is the medians' table: print it once.
  if (rounds.length > 1) {
    for (const n of rounds) {
      parts.push(`Round ${n}`, "", table(report.rows, n), "");
    }
  }
  parts.push(
    rounds.length > 1
      ? `Median over ${rounds.length} rounds (rows with a leader change left out)`
      : "One round (a row with a leader change is left out)",
    "",
    table(report.rows),
    "",
    "deno-fetch client against wrk (medians)",
    "",
    agreementTable(report.agreement),
    "",
    "Issue-14 targets (wrk rows, medians)",
    "",
    goalsText(report.goals),
  );
  if (report.notes.length) {
    parts.push("", "Notes:", ...report.notes.map((n) => `  - ${n}`));
  }
  if (file) parts.push("", `Raw results: ${file}`);
  return parts.join("\n");
}
