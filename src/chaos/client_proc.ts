/**
 * A chaos client process: runs some of the chaos workloads (register
 * clients, lock clients, election, semaphore and read-write lock clients,
 * watchers) in a process of its own, so a
 * namespaced run can put it in a network namespace of its own
 * (`ip netns exec <ns> deno run -A src/chaos/client_proc.ts '<config>'`)
 * and cut it off from the nodes like any other host. It reports
 * everything back on stdout, one JSON object a line:
 *
 * - `{"e": event}`: a history event (times on the run's shared clock);
 * - `{"a": {revision, key, value}}`: an acknowledged write;
 * - `{"t": id}`: a write attempted (`writeId(key, value)`);
 * - `{"w": watcherLog, "stuck": boolean}`: a watcher's log, once it has
 *   stopped (or after 12 s, stuck);
 * - `{"clock": ms}`: the shared clock, when asked;
 * - `{"ready": true}` first, `{"done": true}` last.
 *
 * It reads commands on stdin, one a line: `clock` (answer the clock),
 * `stop` (stop the workloads, report, exit).
 *
 * The shared clock is `performance.timeOrigin + performance.now()` minus
 * the run's start on the same scale: every process on the machine reads
 * the same system clock for its origin and the monotonic clock after it,
 * so their readings agree to well under a millisecond unless the system
 * clock is stepped while the run goes on (the runner measures the offset
 * of each process at its start and reports it).
 *
 * @module
 */

import { HistoryRecorder } from "../check/history.ts";
import { mulberry32 } from "../raft/rand.ts";
import type { AckedWrite, WatcherLog } from "./watch_check.ts";
import {
  lockClient,
  registerClient,
  watcher,
  type WorkloadContext,
} from "./workloads.ts";
import { type ChaosRecipe, recipeClient } from "./recipe_workloads.ts";

/** One workload loop of a client process. */
export interface ClientSpec {
  /** Its client name in the history (`c3`, `l0`, `w1`). */
  name: string;
  /** Which loop. */
  kind: "register" | "lock" | "watch" | ChaosRecipe;
}

/** What a client process runs: passed as its one argument, in JSON. */
export interface ClientProcConfig {
  /** The run's start on the shared clock (see the module documentation). */
  runStart: number;
  /** Seed of this process's random choices. */
  seed: number;
  /** The nodes' HTTP addresses (host:port). */
  http: string[];
  /** The loops to run. */
  clients: ClientSpec[];
  /** Registers shared at a time. */
  keys: number;
  /** How many register/lock clients the run has in all (for CAS guesses). */
  allClients: number;
  /** Milliseconds before register clients move on to fresh keys. */
  keyPeriodMs: number;
  /** Operation ids start here (unique across processes). */
  firstId: number;
  /** HTTP timeout per request, ms. */
  timeoutMs: number;
  /** Lock clients' lease TTL, s. */
  lockTtl: number;
  /** How often lock clients abandon a lock. */
  abandonRate: number;
}

/** The shared clock (ms), for a run that started at `runStart` on it. */
export function sharedClock(runStart = 0): () => number {
  return () => performance.timeOrigin + performance.now() - runStart;
}

async function main(config: ClientProcConfig): Promise<void> {
  const enc = new TextEncoder();
  // Lines go out in batches, in order, one write at a time.
  let pending: string[] = [];
  let chain = Promise.resolve();
  let scheduled = false;
  const flush = async () => {
    scheduled = false;
    const bytes = enc.encode(pending.join(""));
    pending = [];
    let off = 0;
    while (off < bytes.length) {
      off += await Deno.stdout.write(bytes.subarray(off));
    }
  };
  const emit = (o: unknown, now = false) => {
    pending.push(JSON.stringify(o) + "\n");
    if (now) chain = chain.then(flush);
    else if (!scheduled) {
      scheduled = true;
      setTimeout(() => chain = chain.then(flush), 20);
    }
  };
  const clock = sharedClock(config.runStart);
  const stop = new AbortController();
  const counts = { ok: 0, fail: 0, info: 0 };
  const ctx: WorkloadContext = {
    http: config.http,
    history: new HistoryRecorder({
      clock,
      firstId: config.firstId,
      retain: false,
      onEvent: (e) => emit({ e }),
    }),
    random: mulberry32(config.seed),
    signal: stop.signal,
    counts,
    acked: { push: (a: AckedWrite) => emit({ a }) },
    attempted: { add: (t: string) => emit({ t }) },
    maxOps: Number.MAX_SAFE_INTEGER,
    generation: () => Math.floor(clock() / config.keyPeriodMs),
    timeoutMs: config.timeoutMs,
    lockTtl: config.lockTtl,
    abandonRate: config.abandonRate,
  };
  const loops: Promise<void>[] = [];
  const watchers: { log: WatcherLog; done: Promise<void> }[] = [];
  for (const c of config.clients) {
    if (c.kind === "register") {
      loops.push(registerClient(ctx, c.name, config.keys, config.allClients));
    } else if (c.kind === "lock") {
      loops.push(lockClient(ctx, c.name));
    } else if (c.kind !== "watch") {
      loops.push(recipeClient(ctx, c.name, c.kind));
    } else {
      watchers.push(watcher(ctx, c.name));
    }
  }
  emit({ ready: true });
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buf = "";
  outer: for await (const chunk of lines) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const cmd = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (cmd === "clock") {
        // At once: the runner times the round trip.
        emit({ clock: clock() }, true);
      } else if (cmd === "stop") break outer;
    }
  }
  stop.abort();
  await Promise.all(loops);
  // A watcher stuck in a read is reported as such, with what it saw.
  const stuck = new Set(watchers.map((w) => w.log.name));
  await Promise.race([
    Promise.all(
      watchers.map((w) => w.done.then(() => stuck.delete(w.log.name))),
    ),
    new Promise((r) => setTimeout(r, 12_000)),
  ]);
  for (const w of watchers) emit({ w: w.log, stuck: stuck.has(w.log.name) });
  emit({ done: true }, true);
  await chain;
  Deno.exit(0);
}

if (import.meta.main) main(JSON.parse(Deno.args[0]));
