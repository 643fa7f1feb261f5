/**
 * The rows of the etcd comparison and what is computed from them: one
 * row is one system under one workload, client and concurrency in one
 * round; a cell's median is taken over the rounds whose row saw no leader
 * change, and the rows left out are named, never averaged in.
 *
 * @module
 */

import type { LeaderChange, LeaderView } from "./leader.ts";

/** The systems compared. */
export type System = "raftlock" | "etcd";

/** Who generates the load. */
export type ClientKind = "wrk" | "deno-fetch" | "library";

/** The workloads. */
export const WORKLOADS = ["put", "get-lin", "get-ser", "lock"] as const;

/** A workload. */
export type Workload = typeof WORKLOADS[number];

/** The clients, in the order their rows are shown. */
export const CLIENTS: readonly ClientKind[] = ["wrk", "deno-fetch", "library"];

/** How each client is named in tables. */
export const CLIENT_LABELS: Record<ClientKind, string> = {
  "wrk": "wrk",
  "deno-fetch": "deno-fetch client",
  "library": "client library",
};

/** One measured row. */
export interface Row {
  /** Round, from 1. */
  round: number;
  /** Who generated the load. */
  client: ClientKind;
  /** The client precisely, e.g. `wrk 4.1.0`, `etcd3 1.1.2 (gRPC)`. */
  clientLabel: string;
  /** The system measured. */
  system: System;
  /** The workload. */
  workload: Workload;
  /** Concurrent connections (wrk, fetch) or callers (libraries). */
  connections: number;
  /** The URL(s) driven. */
  target: string;
  /** Measured seconds. */
  seconds: number;
  /** Operations completed: requests, or whole lock cycles. */
  ops: number;
  /** Failed requests (wrk: connect, read, write, timeout, status ≥ 400). */
  errors: number;
  /** Operations per second. */
  throughput: number;
  /** Median latency of one operation (a whole cycle for locks), ms. */
  p50: number;
  /** 99th percentile, ms. */
  p99: number;
  /** Maximum, ms. */
  max: number;
  /** CPU the load generator used per operation, µs (wrk: its whole process; Deno clients: the bench process). */
  clientCpuUs?: number;
  /** wrk's per-request p50 and p99 on lock rows (a cycle is 2 or 4 requests), ms. */
  request?: { p50: number; p99: number };
  /** Leadership before and after the row. */
  leader: LeaderChange & {
    before: LeaderView;
    after: LeaderView;
    /**
     * Set when the leadership differs from the end of this system's previous
     * row: it changed between rows (while the other system ran). The row
     * itself stays in the medians.
     */
    sincePrevious?: string;
  };
  /** The first error, if any. */
  firstError?: string;
}

/** A cell: one system, client, workload and concurrency over all rounds. */
export interface Cell {
  /** Median throughput over the clean rounds (undefined when none was clean). */
  throughput?: number;
  /** Median p50 over the clean rounds. */
  p50?: number;
  /** Median p99 over the clean rounds. */
  p99?: number;
  /** Median client CPU per operation over the clean rounds, µs. */
  clientCpuUs?: number;
  /** Every round's row, clean or not. */
  rows: Row[];
  /** Rounds left out of the medians because the leader changed. */
  excluded: number[];
}

/** The identity of a table line: client, workload, connections. */
export interface LineKey {
  /** Client. */
  client: ClientKind;
  /** Workload. */
  workload: Workload;
  /** Connections. */
  connections: number;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * One system's cell for a line, from `rows` (all rounds).
 *
 * @example
 * ```ts
 * import { cell, type Row } from "./rows.ts";
 *
 * const rows: Row[] = [];
 * const c = cell(rows, { client: "wrk", workload: "put", connections: 64 }, "raftlock");
 * console.log(c.throughput ?? "no clean round");
 * ```
 */
export function cell(rows: readonly Row[], key: LineKey, system: System): Cell {
  const mine = rows.filter((r) =>
    r.system === system && r.client === key.client &&
    r.workload === key.workload && r.connections === key.connections
  );
  const clean = mine.filter((r) => !r.leader.changed);
  return {
    throughput: median(clean.map((r) => r.throughput)),
    p50: median(clean.map((r) => r.p50)),
    p99: median(clean.map((r) => r.p99)),
    clientCpuUs: median(
      clean.flatMap((r) => r.clientCpuUs === undefined ? [] : [r.clientCpuUs]),
    ),
    rows: mine,
    excluded: mine.filter((r) => r.leader.changed).map((r) => r.round),
  };
}

/** The distinct lines of `rows`, in client, workload, connections order. */
export function lines(rows: readonly Row[]): LineKey[] {
  const seen = new Map<string, LineKey>();
  for (const r of rows) {
    const k = `${r.client}|${r.workload}|${r.connections}`;
    if (!seen.has(k)) {
      seen.set(k, {
        client: r.client,
        workload: r.workload,
        connections: r.connections,
      });
    }
  }
  return [...seen.values()].sort((a, b) =>
    CLIENTS.indexOf(a.client) - CLIENTS.indexOf(b.client) ||
    WORKLOADS.indexOf(a.workload) - WORKLOADS.indexOf(b.workload) ||
    a.connections - b.connections
  );
}

/** How the Deno fetch loop's figures compare with wrk's for one system and line. */
export interface Agreement {
  /** The system. */
  system: System;
  /** The workload. */
  workload: Workload;
  /** Connections. */
  connections: number;
  /** wrk's median throughput. */
  wrk: number;
  /** The fetch loop's median throughput. */
  fetch: number;
  /** fetch / wrk − 1. */
  difference: number;
  /** wrk's and the fetch loop's median p50, ms. */
  p50: { wrk: number; fetch: number };
  /** CPU each load generator spent per operation (median), µs. */
  clientCpuUs: { wrk?: number; fetch?: number };
  /** Whether the throughputs agree within ±20 %. */
  agrees: boolean;
}

/** The tolerance within which the two clients count as agreeing. */
export const AGREEMENT = 0.2;

/** Deno fetch loop against wrk, wherever both measured the same line cleanly. */
export function agreements(rows: readonly Row[]): Agreement[] {
  const out: Agreement[] = [];
  for (const k of lines(rows)) {
    if (k.client !== "deno-fetch") continue;
    for (const system of ["raftlock", "etcd"] as const) {
      const f = cell(rows, k, system);
      const w = cell(rows, { ...k, client: "wrk" }, system);
      if (!f.throughput || !w.throughput) continue;
      const difference = f.throughput / w.throughput - 1;
      out.push({
        system,
        workload: k.workload,
        connections: k.connections,
        wrk: w.throughput,
        fetch: f.throughput,
        difference,
        p50: { wrk: w.p50!, fetch: f.p50! },
        clientCpuUs: { wrk: w.clientCpuUs, fetch: f.clientCpuUs },
        agrees: Math.abs(difference) <= AGREEMENT,
      });
    }
  }
  return out;
}
