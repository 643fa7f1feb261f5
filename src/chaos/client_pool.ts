/**
 * The runner's side of chaos client processes (`client_proc.ts`): starts
 * one (in a network namespace, through the command it is given), feeds
 * what it reports into the run's history, measures its clock against the
 * runner's, and stops it.
 *
 * @module
 */

import type { HistoryEvent } from "../check/history.ts";
import type { ClientProcConfig } from "./client_proc.ts";
import { splitLines } from "./netem.ts";
import type { AckedWrite, WatcherLog } from "./watch_check.ts";

/** Where a client process's reports go. */
export interface ClientSink {
  /** A history event. */
  event(e: HistoryEvent): void;
  /** An acknowledged write. */
  acked(a: AckedWrite): void;
  /** A write attempted. */
  attempted(id: string): void;
}

/** A watcher's log as a stopped client process reports it. */
export interface ReportedWatcher {
  /** What it saw. */
  log: WatcherLog;
  /** Whether it failed to stop within 12 s of being told to. */
  stuck: boolean;
}

/** The offset of a process's clock against the runner's. */
export interface ClockOffset {
  /** Its clock minus the runner's (ms), at the best round trip. */
  offsetMs: number;
  /** That round trip (ms): the offset is known to ± half of it. */
  rttMs: number;
}

/**
 * One running client process; see the module documentation.
 *
 * @example
 * ```ts ignore
 * const events: HistoryEvent[] = [];
 * const p = await ClientProcess.start("l0", lab.wrap("l0", []), config, {
 *   event: (e) => events.push(e),
 *   acked: () => {},
 *   attempted: () => {},
 * });
 * console.log(await p.clockOffset(sharedClock(config.runStart)));
 * const { watchers } = await p.stop(20_000);
 * ```
 */
export class ClientProcess {
  /** Its name (the lab member it runs in). */
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #watchers: ReportedWatcher[] = [];
  readonly #done: Promise<boolean>;
  #clockWaiter: ((ms: number) => void) | undefined;
  #readyResolve!: (ok: boolean) => void;
  readonly #ready = new Promise<boolean>((r) => this.#readyResolve = r);
  #finished = false;

  private constructor(
    name: string,
    command: readonly string[],
    config: ClientProcConfig,
    sink: ClientSink,
    stderr: "inherit" | "null",
  ) {
    this.name = name;
    const argv = [
      ...command,
      Deno.execPath(),
      "run",
      "-A",
      new URL("./client_proc.ts", import.meta.url).pathname,
      JSON.stringify(config),
    ];
    this.#child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr,
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#done = this.#read(sink);
  }

  /**
   * Starts a client process: `command` is the prefix that runs a program
   * where it should run (e.g. `ip netns exec <ns>`; empty for here).
   * Resolves once it reports ready; throws if it does not within 60 s.
   */
  static async start(
    name: string,
    command: readonly string[],
    config: ClientProcConfig,
    sink: ClientSink,
    options: { quiet?: boolean } = {},
  ): Promise<ClientProcess> {
    const p = new ClientProcess(
      name,
      command,
      config,
      sink,
      options.quiet ? "null" : "inherit",
    );
    const ok = await Promise.race([
      p.#ready,
      new Promise<boolean>((r) => setTimeout(() => r(false), 60_000)),
    ]);
    if (!ok) {
      p.kill();
      throw new Error(`Client process ${name} did not start`);
    }
    return p;
  }

  async #read(sink: ClientSink): Promise<boolean> {
    let done = false;
    try {
      const lines = this.#child.stdout.pipeThrough(new TextDecoderStream())
        .pipeThrough(splitLines());
      for await (const line of lines) {
        if (!line) continue;
        let m;
        try {
          m = JSON.parse(line);
        } catch {
          continue; // not ours (a stray print)
        }
        if (m.e) sink.event(m.e);
        else if (m.a) sink.acked(m.a);
        else if (m.t) sink.attempted(m.t);
        else if (m.w) this.#watchers.push({ log: m.w, stuck: !!m.stuck });
        else if (m.clock !== undefined) this.#clockWaiter?.(m.clock);
        else if (m.ready) this.#readyResolve(true);
        else if (m.done) done = true;
      }
    } catch { /* killed */ }
    this.#finished = true;
    this.#readyResolve(false);
    return done;
  }

  /**
   * Measures its clock against `runnerClock` with a few round trips over
   * stdin/stdout; the shortest one counts.
   */
  async clockOffset(runnerClock: () => number): Promise<ClockOffset> {
    let best: ClockOffset = { offsetMs: 0, rttMs: Infinity };
    for (let i = 0; i < 5; i++) {
      const t0 = runnerClock();
      const theirs = await new Promise<number | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), 2000);
        this.#clockWaiter = (ms) => {
          clearTimeout(t);
          resolve(ms);
        };
        this.#send("clock").catch(() => resolve(undefined));
      });
      const t1 = runnerClock();
      if (theirs === undefined) continue;
      if (t1 - t0 < best.rttMs) {
        best = { offsetMs: theirs - (t0 + t1) / 2, rttMs: t1 - t0 };
      }
    }
    return best;
  }

  #send(line: string): Promise<void> {
    return this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /**
   * Tells it to stop and waits (at most `timeoutMs`) for its last reports:
   * `clean` is false when it did not finish in time (it is then killed).
   */
  async stop(
    timeoutMs: number,
  ): Promise<{ clean: boolean; watchers: ReportedWatcher[] }> {
    if (!this.#finished) await this.#send("stop").catch(() => {});
    const clean = await Promise.race([
      this.#done,
      new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs)),
    ]);
    if (!clean) this.kill();
    await this.#child.status;
    return { clean, watchers: this.#watchers };
  }

  /** Kills it at once. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
  }
}
