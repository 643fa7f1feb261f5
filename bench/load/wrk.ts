/**
 * Runs `wrk` (https://github.com/wg/wrk) with one of the Lua scripts in
 * `bench/wrk/` and reads back the JSON line its `done()` prints: the
 * neutral load generator of the etcd comparison, a C program that treats
 * both systems' HTTP APIs alike.
 *
 * @module
 */

import { cleanup } from "./cleanup.ts";

/** The scripts, by system and workload. */
export const WRK_SCRIPTS = {
  raftlock: {
    put: "raftlock_put.lua",
    get: "raftlock_get.lua",
    lock: "raftlock_lock.lua",
  },
  etcd: { put: "etcd_put.lua", get: "etcd_get.lua", lock: "etcd_lock.lua" },
} as const;

/** What `bench/wrk/common.lua`'s `done()` reports. */
export interface WrkReport {
  /** HTTP requests completed. */
  requests: number;
  /** The measured time in µs. */
  duration_us: number;
  /** Bytes read. */
  bytes: number;
  /** CPU seconds wrk used (all threads, user + system; 10 ms resolution). */
  cpu_s: number;
  /** wrk's error counts; `status` counts answers of 400 and above. */
  errors: {
    connect: number;
    read: number;
    write: number;
    status: number;
    timeout: number;
  };
  /** wrk's own latency distribution, per request, in µs. */
  latency_us: {
    p50: number;
    p90: number;
    p99: number;
    max: number;
    mean: number;
  };
  /** Completed lock cycles (lock scripts only). */
  cycles?: number;
  /** Lock cycles given up after a failed step (lock scripts only). */
  aborted?: number;
  /** Lock cycle latencies measured in Lua, in µs (lock scripts only). */
  cycle_latency_us?: { p50: number; p90: number; p99: number; max: number };
  /** The first failed step, if any (lock scripts only). */
  first_error?: string;
}

/** One wrk run. */
export interface WrkRun {
  /** Script file name in `bench/wrk/`. */
  script: string;
  /** Base URL of the target, e.g. `http://127.0.0.1:17150`. */
  url: string;
  /** Open connections. */
  connections: number;
  /**
   * wrk threads. The lock scripts keep one state machine per thread and so
   * need one connection per thread.
   */
  threads: number;
  /** Seconds to run. */
  seconds: number;
  /** `key=value` arguments for the script (see `common.lua`). */
  args?: string[];
  /** Per-request timeout in seconds (wrk sizes its histogram by it). */
  timeoutSeconds?: number;
}

const SCRIPT_DIR = new URL("../wrk/", import.meta.url).pathname;

/** wrk's version line, or undefined when it is not installed. */
export async function wrkVersion(): Promise<string | undefined> {
  try {
    // `wrk -v` prints its version and usage, and exits with 1.
    const out = await new Deno.Command("wrk", {
      args: ["-v"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    return text.match(/^wrk\s+(\S+)/m)?.[1] ?? "unknown";
  } catch {
    return undefined;
  }
}

/**
 * Runs wrk and returns its report.
 *
 * @example
 * ```ts
 * import { runWrk } from "./wrk.ts";
 *
 * const r = await runWrk({
 *   script: "raftlock_put.lua",
 *   url: "http://127.0.0.1:17150",
 *   connections: 64,
 *   threads: 2,
 *   seconds: 10,
 *   args: ["value=16"],
 * });
 * console.log(r.requests / (r.duration_us / 1e6), "puts/s");
 * ```
 */
export async function runWrk(run: WrkRun): Promise<WrkReport> {
  const args = [
    "-t",
    String(run.threads),
    "-c",
    String(run.connections),
    "-d",
    `${run.seconds}s`,
    "--timeout",
    `${run.timeoutSeconds ?? 5}s`,
    "-s",
    SCRIPT_DIR + run.script,
    run.url,
    "--",
    ...(run.args ?? []),
  ];
  const child = cleanup.process(
    new Deno.Command("wrk", {
      args,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn(),
  );
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) {
    const stderr = new TextDecoder().decode(out.stderr);
    throw new Error(
      `wrk ${args.join(" ")} gave no report (exit ${out.code}): ${
        (stderr || stdout).trim().slice(0, 400)
      }`,
    );
  }
  return JSON.parse(line.slice("BENCH_JSON ".length)) as WrkReport;
}
