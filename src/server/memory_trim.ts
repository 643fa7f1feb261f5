/**
 * Gives the C heap's freed memory back to the system once a node goes idle
 * after a busy spell. Deno's HTTP server, its TCP streams and every
 * ArrayBuffer allocate with glibc's `malloc`, which keeps freed blocks in
 * the middle of its heaps resident; after a bulk load that is 10–20 MB per
 * node. `malloc_trim(0)` returns them (`madvise`), touching no live data.
 * It is not a garbage collection: V8's heap is left to V8.
 *
 * Only where glibc is (Linux) and the process may load it (`--allow-ffi`,
 * given by `-A`); elsewhere it is off and says why once.
 *
 * @module
 */

import process from "node:process";
import type { Logger } from "../node/logger.ts";

/**
 * When to trim: at the first `trims` quiet intervals after a busy spell
 * (V8's memory reducer frees most of the spell's buffers a few seconds into
 * the quiet, so one trim at once would come too early), then not again
 * until the next spell. Pure: fed the process's CPU time per interval, it
 * answers whether to trim now. The process counts as busy from its start (a
 * restore allocates and frees a whole snapshot).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IdleTrimPolicy } from "./memory_trim.ts";
 *
 * const policy = new IdleTrimPolicy(5_000, 2);
 * assert.equal(policy.tick(4_000), false); // 80 % of a core: busy
 * assert.equal(policy.tick(50), true); // quiet: trim
 * assert.equal(policy.tick(50), true); // and once more
 * assert.equal(policy.tick(50), false); // nothing new to trim
 * ```
 */
export class IdleTrimPolicy {
  readonly #quietMs: number;
  readonly #trims: number;
  #left: number;

  /**
   * @param intervalMs the length of one interval
   * @param trims trims after each busy spell
   * @param quietShare below this share of one core an interval is quiet
   */
  constructor(intervalMs: number, trims = 3, quietShare = 0.1) {
    this.#quietMs = intervalMs * quietShare;
    this.#trims = trims;
    this.#left = trims;
  }

  /** One interval passed, in which the process used `cpuMs` of CPU. */
  tick(cpuMs: number): boolean {
    if (cpuMs >= this.#quietMs) {
      this.#left = this.#trims;
      return false;
    }
    if (this.#left === 0) return false;
    this.#left--;
    return true;
  }
}

/**
 * glibc's `malloc_trim(0)`, or why it cannot be had here.
 *
 * @example
 * ```ts
 * import { loadMallocTrim } from "./memory_trim.ts";
 *
 * const trim = loadMallocTrim();
 * if (typeof trim === "function") trim();
 * ```
 */
export function loadMallocTrim(): (() => void) | string {
  // One handle per process, however many servers it runs (tests run many).
  return loaded ??= openMallocTrim();
}

let loaded: (() => void) | string | undefined;

function openMallocTrim(): (() => void) | string {
  if (Deno.build.os !== "linux") return "not Linux";
  try {
    const lib = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => {
      lib.symbols.malloc_trim(0n);
    };
  } catch (e) {
    // No glibc (musl, a static build) or no --allow-ffi.
    return e instanceof Error ? e.message : String(e);
  }
}

// How often the node looks whether it has gone quiet.
const TRIM_INTERVAL_MS = 5_000;

/** Options of {@linkcode startMemoryTrim}. */
export interface MemoryTrimOptions {
  /** Where `memory.trimmed` and `memory.trimOff` go. */
  log: Logger;
  /** The trim (default {@linkcode loadMallocTrim}). */
  trim?: (() => void) | string;
}

/**
 * Trims the C heap at the first quiet intervals after each busy spell
 * ({@linkcode IdleTrimPolicy}); returns a function that stops it.
 *
 * @example
 * ```ts
 * import { startMemoryTrim } from "./memory_trim.ts";
 *
 * const stop = startMemoryTrim({ log: () => {} });
 * stop();
 * ```
 */
export function startMemoryTrim(options: MemoryTrimOptions): () => void {
  const trim = options.trim ?? loadMallocTrim();
  if (typeof trim === "string") {
    options.log("memory.trimOff", { level: "debug", reason: trim });
    return () => {};
  }
  const policy = new IdleTrimPolicy(TRIM_INTERVAL_MS);
  let last = process.cpuUsage();
  const timer = setInterval(() => {
    const now = process.cpuUsage();
    const cpuMs = (now.user - last.user + now.system - last.system) / 1000;
    last = now;
    if (!policy.tick(cpuMs)) return;
    const before = Deno.memoryUsage().rss;
    const t0 = performance.now();
    trim();
    const ms = performance.now() - t0;
    const after = Deno.memoryUsage().rss;
    options.log("memory.trimmed", {
      level: "debug",
      ms: Math.round(ms * 100) / 100,
      rssBeforeMb: Math.round(before / 2 ** 20),
      rssAfterMb: Math.round(after / 2 ** 20),
    });
  }, TRIM_INTERVAL_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
