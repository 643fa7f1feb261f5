/**
 * Readable renderings of check results: a summary, a table of the failing
 * sub-history sorted by time, and a timeline with one row per client:
 *
 * ```
 * c1 |--write(x, 1)--|
 * c2                 |--write(x, 2)--|
 * c3                                 |--read(x) → 1--|
 * ```
 *
 * @module
 */

import type { CheckResult, DescribedOperation, Failure } from "./checker.ts";
import type { Operation } from "./history.ts";
import { show } from "./model.ts";

/** Renders a check result as text (several lines, final newline). */
export function formatReport(result: CheckResult): string {
  const lines: string[] = [];
  const stats = `${result.partitionsChecked}/${result.partitions} partitions, ${
    plural(result.operations, "operation")
  }, ${plural(result.steps, "search step")} in ${ms(result.timeMs)}`;
  if (result.result === "ok") {
    lines.push(`OK: the ${result.model} history is linearizable`);
    lines.push(`checked ${stats}`);
    return lines.join("\n") + "\n";
  }
  if (result.result === "unknown") {
    lines.push(
      `UNKNOWN: the ${result.model} history could not be decided within the time budget`,
    );
    lines.push(`checked ${stats}`);
    lines.push(
      `undecided partitions: ${
        result.unknownPartitions.map((k) => show(k)).join(", ")
      }`,
    );
    return lines.join("\n") + "\n";
  }
  const f = result.failure as Failure;
  lines.push(
    `ILLEGAL: the ${result.model} history is not linearizable (partition ${
      show(f.key)
    })`,
  );
  lines.push(
    `checked ${stats}${
      result.minimizeMs > 0 ? ` (${ms(result.minimizeMs)} minimizing)` : ""
    }`,
  );
  if (result.unknownPartitions.length > 0) {
    lines.push(
      `undecided partitions: ${
        result.unknownPartitions.map((k) => show(k)).join(", ")
      }`,
    );
  }
  lines.push("");
  lines.push(
    `Failing sub-history: ${
      plural(f.operations.length, "operation")
    } of ${f.partitionSize} in partition ${show(f.key)}${
      f.minimal ? " (1-minimal)" : " (not minimized to the end)"
    }.`,
  );
  if (f.minimal) {
    lines.push(
      "They cannot be linearized, whether or not each other operation of the",
    );
    lines.push("partition took effect as recorded.");
  } else {
    lines.push(
      "They cannot be linearized, even with the operations that produced the",
    );
    lines.push(
      "values they observe (shrinking stopped before it could rule out every",
    );
    lines.push("other operation of the partition).");
  }
  lines.push("");
  for (const l of formatTable(f.operations)) lines.push("  " + l);
  lines.push("");
  for (const l of formatTimeline(f.operations)) lines.push("  " + l);
  lines.push("");
  const others = f.othersLinearized > 0
    ? ` (and ${plural(f.othersLinearized, "other operation")} of the partition)`
    : "";
  if (f.linearized.length > 0 || f.othersLinearized > 0) {
    lines.push(
      `Longest linearization: ${
        f.linearized.map((o) => o.label).join(", ") || "none of these"
      }${others}; state then: ${f.state}.`,
    );
  } else {
    lines.push(
      `No operation can be linearized first; initial state: ${f.state}.`,
    );
  }
  if (f.blocked !== undefined) {
    lines.push(
      `Then ${f.blocked.label} [${f.blocked.client}] completed at ${
        time(f.blocked.end)
      } without a legal linearization point.`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * A table of operations sorted by invocation: start, end, client, status,
 * description. `end` of an `info` operation shows as `?`.
 */
export function formatTable(
  operations: readonly (Operation | DescribedOperation)[],
): string[] {
  const ops = operations.slice().sort((a, b) =>
    a.start - b.start || (a.startIndex ?? 0) - (b.startIndex ?? 0)
  );
  const rows = [["start", "end", "client", "status", "operation"]];
  for (const o of ops) {
    rows.push([
      time(o.start),
      o.status === "info" ? "?" : time(o.end),
      String(o.client),
      o.status,
      labelOf(o),
    ]);
  }
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  return rows.map((r) =>
    r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c]))
      .join("  ").trimEnd()
  );
}

/**
 * A timeline: one row per client (more when its operations overlap), each
 * operation drawn as `|--label--|` from its invocation to its completion on
 * a scale of event order (not proportional to time). An operation of
 * unknown outcome runs off to the right: `|--label--?`.
 */
export function formatTimeline(
  operations: readonly (Operation | DescribedOperation)[],
): string[] {
  const ops = operations.slice().sort((a, b) =>
    a.start - b.start || (a.startIndex ?? 0) - (b.startIndex ?? 0)
  );
  if (ops.length === 0) return [];
  // Distinct finite times, in order.
  const times = [
    ...new Set(
      ops.flatMap((o) => Number.isFinite(o.end) ? [o.start, o.end] : [o.start]),
    ),
  ].sort((a, b) => a - b);
  const rank = new Map(times.map((t, i) => [t, i]));
  const labels = ops.map(labelOf);
  // Column of each time: far enough right for every operation that ends
  // there to fit its label.
  const x: number[] = new Array(times.length).fill(0);
  const endingAt: number[][] = times.map(() => []);
  ops.forEach((o, i) => {
    if (Number.isFinite(o.end)) endingAt[rank.get(o.end)!].push(i);
  });
  for (let k = 0; k < times.length; k++) {
    let col = k === 0 ? 0 : x[k - 1] + 2;
    for (const i of endingAt[k]) {
      const s = x[rank.get(ops[i].start)!];
      col = Math.max(col, s + labels[i].length + 5);
    }
    x[k] = col;
  }
  let width = x[times.length - 1] + 1;
  ops.forEach((o, i) => {
    if (!Number.isFinite(o.end)) {
      width = Math.max(width, x[rank.get(o.start)!] + labels[i].length + 6);
    }
  });
  // Lanes: per client, operations that do not overlap share a row.
  const clients: string[] = [];
  const lanes = new Map<string, { end: number; row: string[] }[]>();
  ops.forEach((o, i) => {
    const c = String(o.client);
    let list = lanes.get(c);
    if (list === undefined) {
      list = [];
      lanes.set(c, list);
      clients.push(c);
    }
    const s = x[rank.get(o.start)!];
    const e = Number.isFinite(o.end) ? x[rank.get(o.end)!] : width - 1;
    let lane = list.find((l) => l.end < s);
    if (lane === undefined) {
      lane = { end: -1, row: new Array(width).fill(" ") };
      list.push(lane);
    }
    draw(lane.row, s, e, labels[i], Number.isFinite(o.end));
    lane.end = e;
  });
  const nameWidth = Math.max(...clients.map((c) => c.length));
  const out: string[] = [];
  for (const c of clients) {
    lanes.get(c)!.forEach((l, i) => {
      const name = i === 0 ? c : "";
      out.push(`${name.padEnd(nameWidth)} ${l.row.join("").trimEnd()}`);
    });
  }
  return out;
}

function draw(
  row: string[],
  s: number,
  e: number,
  label: string,
  closed: boolean,
): void {
  row[s] = "|";
  for (let i = s + 1; i < e; i++) row[i] = "-";
  row[e] = closed ? "|" : "?";
  const room = e - s - 1;
  const at = s + 1 + Math.max(1, Math.floor((room - label.length) / 2));
  for (let i = 0; i < label.length && at + i < e; i++) row[at + i] = label[i];
}

function labelOf(o: Operation | DescribedOperation): string {
  if ("label" in o && typeof o.label === "string") return o.label;
  const args = Object.entries(o.op).filter(([k]) => k !== "f").map(([, v]) =>
    show(v)
  );
  const res = o.status === "ok"
    ? (o.result === undefined ? "" : ` → ${show(o.result)}`)
    : " → ?";
  return `${o.op.f}(${args.join(", ")})${res}`;
}

function time(t: number): string {
  if (!Number.isFinite(t)) return "∞";
  if (Number.isInteger(t)) return String(t);
  return String(Math.round(t * 1000) / 1000);
}

function ms(t: number): string {
  return t < 10 ? `${t.toFixed(2)} ms` : `${t.toFixed(0)} ms`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
