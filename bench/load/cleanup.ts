/**
 * What the benches leave behind if they stop half-way: child processes
 * (cluster members, wrk) and temporary data directories. Everything that
 * starts one registers it here at once, so Ctrl-C during a cluster's
 * start-up, a failed row or a thrown error still stops every process and
 * removes every directory.
 *
 * @module
 */

/** How long a process gets after SIGTERM before it is killed. */
const TERM_GRACE_MS = 5_000;

/**
 * Stops `child` with SIGTERM, then SIGKILL after a grace period (an etcd
 * leader whose peers are already gone waits for a leadership transfer
 * that cannot happen).
 *
 * @example
 * ```ts
 * import { stopProcess } from "./cleanup.ts";
 *
 * const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
 * await stopProcess(child);
 * ```
 */
export async function stopProcess(
  child: Deno.ChildProcess,
  graceMs = TERM_GRACE_MS,
): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return; // already gone
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone meanwhile */ }
      resolve();
    }, graceMs);
  });
  await Promise.race([child.status, killed]);
  clearTimeout(timer);
  await child.status;
}

/**
 * A registry of child processes and directories to remove on exit, with
 * signal handlers that clean up before exiting.
 *
 * @example
 * ```ts
 * import { Cleanup } from "./cleanup.ts";
 *
 * const cleanup = new Cleanup();
 * cleanup.onSignals();
 * const dir = cleanup.dir(await Deno.makeTempDir());
 * try {
 *   // ... work in dir ...
 * } finally {
 *   await cleanup.run();
 * }
 * ```
 */
export class Cleanup {
  #children = new Set<Deno.ChildProcess>();
  #dirs = new Set<string>();
  #signals: Array<[Deno.Signal, () => void]> = [];
  #stopping = false;

  /** True once a signal started the clean-up: work in flight should stop quietly. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Registers a child process; it is forgotten once it exits. */
  process(child: Deno.ChildProcess): Deno.ChildProcess {
    this.#children.add(child);
    child.status.then(() => this.#children.delete(child), () => {});
    return child;
  }

  /** Registers a directory to remove recursively. */
  dir(path: string): string {
    this.#dirs.add(path);
    return path;
  }

  /** Stops `children` (SIGTERM, then SIGKILL) and removes `dirs`. */
  async release(
    children: Iterable<Deno.ChildProcess>,
    dirs: Iterable<string> = [],
  ): Promise<void> {
    await Promise.all([...children].map((c) => stopProcess(c)));
    for (const d of dirs) {
      await Deno.remove(d, { recursive: true }).catch(() => {});
      this.#dirs.delete(d);
    }
  }

  /** Stops every registered process and removes every registered directory. */
  run(): Promise<void> {
    return this.release([...this.#children], [...this.#dirs]);
  }

  /**
   * On SIGINT or SIGTERM: says so, cleans up, and exits with 130 (143).
   * Call {@linkcode Cleanup.offSignals} when done so the listeners do not
   * keep the process alive.
   */
  onSignals(): void {
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const handler = () => {
        this.#stopping = true;
        console.error(`\n${sig}: stopping the clusters and removing data…`);
        this.run().finally(() => Deno.exit(code));
      };
      Deno.addSignalListener(sig, handler);
      this.#signals.push([sig, handler]);
    }
  }

  /** Removes the signal listeners of {@linkcode Cleanup.onSignals}. */
  offSignals(): void {
    for (const [sig, handler] of this.#signals) {
      Deno.removeSignalListener(sig, handler);
    }
    this.#signals = [];
  }
}

/** The process-wide registry the bench modules share. */
export const cleanup: Cleanup = new Cleanup();
