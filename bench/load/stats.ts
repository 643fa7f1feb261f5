/**
 * Latency bookkeeping for the load generator: samples in a growable
 * Float64Array, percentiles by sorting once at the end.
 *
 * @module
 */

import process from "node:process";

/** Collects latency samples in milliseconds. */
export class Latencies {
  #data = new Float64Array(1 << 16);
  #n = 0;

  /** Adds one sample. */
  add(ms: number): void {
    if (this.#n === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#n++] = ms;
  }

  /** Samples so far. */
  get count(): number {
    return this.#n;
  }

  /** p50, p99 and max in ms (0 when empty). */
  summary(): { p50: number; p99: number; max: number } {
    if (this.#n === 0) return { p50: 0, p99: 0, max: 0 };
    const s = this.#data.slice(0, this.#n).sort();
    const q = (p: number) => s[Math.min(this.#n - 1, Math.floor(p * this.#n))];
    return { p50: q(0.5), p99: q(0.99), max: s[this.#n - 1] };
  }
}

/** The result of one workload at one concurrency. */
export interface WorkloadResult {
  /** Target name, e.g. "raftlock" or "etcd". */
  target: string;
  /** Workload name. */
  workload: string;
  /** Concurrent connections (client loops). */
  connections: number;
  /** Operations completed without error. */
  ops: number;
  /** Operations that failed. */
  errors: number;
  /** Measured seconds. */
  seconds: number;
  /** Operations per second (or events per second for watch). */
  throughput: number;
  /** Median latency in ms. */
  p50: number;
  /** 99th percentile latency in ms. */
  p99: number;
  /** Maximum latency in ms. */
  max: number;
  /** First error message, if any. */
  firstError?: string;
}

/**
 * Runs `connections` loops of `op` for `seconds` after `warmupSeconds`,
 * reporting progress once a second.
 */
export async function runLoops(
  op: (conn: number, i: number) => Promise<void>,
  options: {
    connections: number;
    seconds: number;
    warmupSeconds?: number;
    onProgress?: (done: number, elapsed: number) => void;
  },
): Promise<
  {
    ops: number;
    errors: number;
    seconds: number;
    lat: Latencies;
    firstError?: string;
    /** CPU this process used while measuring (user + system), ms. */
    cpuMs: number;
  }
> {
  const lat = new Latencies();
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let measuring = false;
  let stop = false;
  const warm = (options.warmupSeconds ?? 1) * 1000;
  const loops = Array.from({ length: options.connections }, async (_, conn) => {
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      try {
        await op(conn, i);
        if (measuring) {
          lat.add(performance.now() - t0);
          ops++;
        }
      } catch (e) {
        if (measuring) {
          errors++;
          firstError ??= (e as Error).message;
        }
        // Back off a little so a dead target does not spin.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  await new Promise((r) => setTimeout(r, warm));
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ticker = setInterval(
    () => options.onProgress?.(ops, (performance.now() - t0) / 1000),
    1000,
  );
  await new Promise((r) => setTimeout(r, options.seconds * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(ticker);
  stop = true;
  await Promise.all(loops);
  return {
    ops,
    errors,
    seconds,
    lat,
    firstError,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}
