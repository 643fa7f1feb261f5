/**
 * Runs one row of the etcd comparison: finds the system's leader, warms
 * up, measures with the row's client (wrk, the Deno fetch loop or the
 * client library), and looks at the leadership again afterwards.
 *
 * @module
 */

import {
  compareViews,
  type LeaderProbe,
  type LeaderView,
  waitForLeader,
} from "./leader.ts";
import type { ClientLibrary } from "./node_clients.ts";
import type { ClientKind, Row, System, Workload } from "./rows.ts";
import { runLoops } from "./stats.ts";
import type { Target } from "./targets.ts";
import { runWrk, WRK_SCRIPTS, type WrkReport } from "./wrk.ts";

/** Keys the workloads use: k0 .. k999, as in the wrk scripts. */
export const KEYS = 1000;

/** A running system and how to drive it. */
export interface SystemUnderTest {
  /** Its name. */
  system: System;
  /** Every node's client URL. */
  endpoints: string[];
  /** Reads its leadership. */
  probe: LeaderProbe;
  /** The Deno fetch client, aimed at `url`. */
  fetchTarget(url: string): Target;
  /** Its client library over `endpoints`, or why it could not load. */
  library(endpoints: string[]): Promise<ClientLibrary | Error>;
}

/** One row to run. */
export interface RowPlan {
  /** Round, from 1. */
  round: number;
  /** Row number in the run, from 1 (names the row's locks). */
  index: number;
  /** Who generates the load. */
  client: ClientKind;
  /** The system. */
  system: System;
  /** The workload. */
  workload: Workload;
  /** Connections or callers. */
  connections: number;
}

/** Settings every row shares. */
export interface RowSettings {
  /** Measured seconds (whole seconds: wrk takes no fractions). */
  seconds: number;
  /** Warm-up seconds before measuring (whole seconds). */
  warmup: number;
  /** Value size in bytes. */
  valueBytes: number;
  /** wrk threads for put and get rows. */
  wrkThreads: number;
  /** wrk's label, e.g. `wrk debian/4.1.0-3+b2`. */
  wrkLabel: string;
  /** Give the client libraries the leader only, or every endpoint. */
  clientEndpoints: "leader" | "all";
}

interface Measured {
  clientLabel: string;
  seconds: number;
  ops: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  cpuMs: number;
  request?: { p50: number; p99: number };
  firstError?: string;
}

function fromWrk(r: WrkReport, label: string): Measured {
  const e = r.errors;
  const cycles = r.cycles !== undefined;
  const lat = cycles ? r.cycle_latency_us! : r.latency_us;
  return {
    clientLabel: label,
    seconds: r.duration_us / 1e6,
    ops: cycles ? r.cycles! : r.requests,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
    p50: lat.p50 / 1000,
    p99: lat.p99 / 1000,
    max: lat.max / 1000,
    cpuMs: r.cpu_s * 1000,
    request: cycles
      ? { p50: r.latency_us.p50 / 1000, p99: r.latency_us.p99 / 1000 }
      : undefined,
    firstError: r.first_error,
  };
}

async function wrkRow(
  plan: RowPlan,
  url: string,
  s: RowSettings,
): Promise<Measured> {
  const kind = plan.workload === "lock"
    ? "lock"
    : plan.workload === "put"
    ? "put"
    : "get";
  const run = {
    script: WRK_SCRIPTS[plan.system][kind],
    url,
    connections: plan.connections,
    threads: kind === "lock"
      ? plan.connections
      : Math.min(plan.connections, s.wrkThreads),
    args: [
      `value=${s.valueBytes}`,
      `keys=${KEYS}`,
      `consistency=${
        plan.workload === "get-ser" ? "serializable" : "linearizable"
      }`,
    ],
  };
  // wrk stops mid-cycle and leaves some locks held until their leases
  // expire: the warm-up and the measured run use names of their own.
  if (s.warmup > 0) {
    await runWrk({
      ...run,
      seconds: s.warmup,
      args: [...run.args, `prefix=r${plan.index}w`],
    });
  }
  return fromWrk(
    await runWrk({
      ...run,
      seconds: s.seconds,
      args: [...run.args, `prefix=r${plan.index}`],
    }),
    s.wrkLabel,
  );
}

async function loopRow(
  op: (conn: number, key: string) => Promise<void>,
  plan: RowPlan,
  s: RowSettings,
  label: string,
): Promise<Measured> {
  let n = 0;
  const r = await runLoops((conn) => op(conn, `k${n++ % KEYS}`), {
    connections: plan.connections,
    seconds: s.seconds,
    warmupSeconds: s.warmup,
  });
  const q = r.lat.summary();
  return {
    clientLabel: label,
    seconds: r.seconds,
    ops: r.ops,
    errors: r.errors,
    p50: q.p50,
    p99: q.p99,
    max: q.max,
    cpuMs: r.cpuMs,
    firstError: r.firstError,
  };
}

async function fetchRow(
  sut: SystemUnderTest,
  plan: RowPlan,
  url: string,
  s: RowSettings,
): Promise<Measured> {
  const t = sut.fetchTarget(url);
  const value = "v".repeat(s.valueBytes);
  const op = (conn: number, key: string): Promise<void> => {
    switch (plan.workload) {
      case "put":
        return t.put(conn, key, value);
      case "get-lin":
        return t.get(conn, key, false);
      case "get-ser":
        return t.get(conn, key, true);
      case "lock":
        return t.lockCycle(conn, `bench-lock-r${plan.index}-${conn}`);
    }
  };
  return await loopRow(op, plan, s, "deno-fetch client");
}

async function libraryRow(
  sut: SystemUnderTest,
  plan: RowPlan,
  url: string,
  s: RowSettings,
): Promise<Measured> {
  const lib = await sut.library(
    s.clientEndpoints === "all" ? sut.endpoints : [url],
  );
  if (lib instanceof Error) throw lib;
  const value = "v".repeat(s.valueBytes);
  try {
    const op = (conn: number, key: string): Promise<void> => {
      switch (plan.workload) {
        case "put":
          return lib.put(key, value);
        case "get-lin":
          return lib.get(key);
        case "lock":
          return lib.lockCycle(`bench-lock-r${plan.index}-${conn}`);
        default:
          throw new Error(`No library row for ${plan.workload}`);
      }
    };
    return await loopRow(op, plan, s, lib.label);
  } finally {
    lib.close();
  }
}

/**
 * Runs one row. `previous` is the leadership seen at the end of this
 * system's previous row, to notice a change between rows.
 *
 * @example
 * ```ts ignore
 * const row = await runRow(sut, {
 *   round: 1, index: 1, client: "wrk", system: "raftlock",
 *   workload: "put", connections: 64,
 * }, settings);
 * ```
 */
export async function runRow(
  sut: SystemUnderTest,
  plan: RowPlan,
  s: RowSettings,
  previous?: LeaderView,
): Promise<Row> {
  const before = await waitForLeader(sut.probe);
  const gap = previous
    ? compareViews(previous, before, sut.endpoints.length)
    : undefined;
  const m = plan.client === "wrk"
    ? await wrkRow(plan, before.url, s)
    : plan.client === "deno-fetch"
    ? await fetchRow(sut, plan, before.url, s)
    : await libraryRow(sut, plan, before.url, s);
  const after = await sut.probe.view();
  return {
    round: plan.round,
    client: plan.client,
    clientLabel: m.clientLabel,
    system: plan.system,
    workload: plan.workload,
    connections: plan.connections,
    target: plan.client === "library" && s.clientEndpoints === "all"
      ? sut.endpoints.join(",")
      : before.url,
    seconds: m.seconds,
    ops: m.ops,
    errors: m.errors,
    throughput: m.ops / m.seconds,
    p50: m.p50,
    p99: m.p99,
    max: m.max,
    clientCpuUs: m.ops > 0 && m.cpuMs >= 0 ? m.cpuMs * 1000 / m.ops : undefined,
    request: m.request,
    leader: {
      ...compareViews(before, after, sut.endpoints.length),
      before,
      after,
      sincePrevious: gap?.changed ? gap.text : undefined,
    },
    firstError: m.firstError,
  };
}
