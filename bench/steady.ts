/**
 * Steady under its own load (issue 13, part 1): a 3-node cluster of real
 * `raftd` processes under a mixed load for minutes — puts, linearizable
 * gets, lock cycles and watches — must see no leader change, with the
 * event loop's p99 delay under 20 ms.
 *
 * ```sh
 * deno run -A bench/steady.ts --minutes 10 --connections 64
 * deno run -A bench/steady.ts --minutes 1            # a smoke run
 * deno run -A bench/steady.ts --minutes 10 --failover-trials 20 --election-ticks 20
 * ```
 *
 * - `--connections` request loops, each on one node (round robin over the
 *   three, so followers forward), each request picked at random by the
 *   `--mix` weights: a put of a `--value-bytes` value to one of `--keys`
 *   keys, a linearizable get of one, or a lock cycle (acquire with a TTL,
 *   release) on the loop's own lock. Plus `--watchers` watch streams (the
 *   typed client, which resumes), each on a slice of the keys.
 * - Every `--sample-s` seconds: each node's `/metrics`
 *   (`raftlock_event_loop_delay_seconds`, `raftlock_leader_changes_total`)
 *   and `/v1/status`, and its RSS from `/proc/<pid>/status`; one progress
 *   line.
 * - At the end: leader changes, the event loop's delay p50/p99/max per node
 *   (from the histograms; the max is exact above 100 ms, from the nodes'
 *   `node.eventLoopStall` log lines), RSS over time per node, throughput
 *   and latency by operation. With `--failover-trials N`, then N leader
 *   kills on the same cluster (SIGKILL → first committed write), so one run
 *   measures both with the same election settings.
 * - Writes `bench/results/steady-<time>.json` (or `--out`). Exits 1 if the
 *   leader changed during the load.
 *
 * Figures from a busy machine are not the result: run it on a quiet one.
 * A script for `deno run`; under `deno bench` it does nothing.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client, type Watch } from "../src/client/mod.ts";
import { mulberry32 } from "../src/raft/rand.ts";
import { E2ECluster, sleep } from "../tests/e2e/harness.ts";
import { failoverSummary, runFailoverTrials } from "./failover_bench.ts";

const USAGE = `Usage: deno run -A bench/steady.ts [options]

  --minutes N          length of the load (default 10; fractions allowed)
  --connections N      concurrent request loops (default 64)
  --watchers N         watch streams (default 8)
  --mix P,G,L          weights of puts, linearizable gets, lock cycles
                       (default 50,35,15)
  --keys N             distinct keys written and read (default 100000)
  --value-bytes N      bytes of each value (default 256)
  --snapshot-every N   raftd --snapshot-every (default 10000)
  --election-ticks N   raftd --election-ticks (default: raftd's, 15)
  --heartbeat-ticks N  raftd --heartbeat-ticks (default: raftd's, 5)
  --failover-trials N  leader kills after the load (default 0)
  --sample-s N         seconds between samples and progress lines (default 10)
  --seed N             seed of the request mix (default 1)
  --dir DIR            parent directory of the data dirs (default: temp)
  --out FILE           the JSON result (default bench/results/steady-<time>.json)
  -h, --help           this help

raftd's V8 flags can be set with DENO_V8_FLAGS (passed to the nodes).`;

type Op = "put" | "get" | "lock";
const OPS: readonly Op[] = ["put", "get", "lock"];

/** Latencies in log-spaced buckets (10 % apart) from 0.1 ms. */
class Latency {
  readonly #counts = new Map<number, number>();
  count = 0;
  max = 0;
  add(ms: number): void {
    const b = ms <= 0.1 ? 0 : Math.ceil(Math.log(ms / 0.1) / Math.log(1.1));
    this.#counts.set(b, (this.#counts.get(b) ?? 0) + 1);
    this.count++;
    this.max = Math.max(this.max, ms);
  }
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const want = q * this.count;
    let seen = 0;
    for (const b of [...this.#counts.keys()].sort((x, y) => x - y)) {
      seen += this.#counts.get(b)!;
      if (seen >= want) return 0.1 * 1.1 ** b;
    }
    return this.max;
  }
}

interface OpStats {
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  latency: Latency;
}

function newStats(): Record<Op, OpStats> {
  const s = {} as Record<Op, OpStats>;
  for (const op of OPS) {
    s[op] = { ok: 0, errors: 0, errorKinds: {}, latency: new Latency() };
  }
  return s;
}

/** One scrape of a node. */
interface NodeSample {
  t: number;
  id: string;
  up: boolean;
  role?: string;
  term?: number;
  applied?: number;
  snapshotIndex?: number;
  rssMb?: number;
  /** CPU seconds (user + system) the process has used. */
  cpuSeconds?: number;
  heapUsedMb?: number;
  leaderChanges?: number;
  /** Cumulative counts of raftlock_event_loop_delay_seconds by bucket bound. */
  delayBuckets?: [number, number][];
  delayCount?: number;
  delaySum?: number;
}

// CPU seconds (user + system) of a process, from /proc/<pid>/stat.
async function cpuSeconds(pid: number | "self"): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function scrape(
  c: E2ECluster,
  id: string,
  t: number,
): Promise<NodeSample> {
  const url = c.url(id);
  const pid = c.node(id).pid;
  try {
    const [status, metrics] = await Promise.all([
      fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(3000) }).then((
        r,
      ) => r.json()),
      fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) }).then((
        r,
      ) => r.text()),
    ]);
    const buckets: [number, number][] = [];
    const re =
      /^raftlock_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm;
    for (const m of metrics.matchAll(re)) {
      buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
    }
    const value = (name: string) => {
      const m = metrics.match(new RegExp(`^${name} (\\S+)$`, "m"));
      return m ? Number(m[1]) : undefined;
    };
    let rssMb: number | undefined;
    let cpu: number | undefined;
    if (pid !== undefined) {
      const st = await Deno.readTextFile(`/proc/${pid}/status`);
      rssMb = Number(st.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
      cpu = await cpuSeconds(pid);
    }
    return {
      t,
      id,
      up: true,
      role: status.role,
      term: status.term,
      applied: status.applied,
      snapshotIndex: status.snapshotIndex,
      rssMb,
      cpuSeconds: cpu,
      heapUsedMb: (value("process_memory_heap_used_bytes") ?? NaN) / 2 ** 20,
      leaderChanges: value("raftlock_leader_changes_total"),
      delayBuckets: buckets,
      delayCount: value("raftlock_event_loop_delay_seconds_count"),
      delaySum: value("raftlock_event_loop_delay_seconds_sum"),
    };
  } catch {
    return { t, id, up: false };
  }
}

/**
 * Quantiles of the delay observed between two scrapes, as Prometheus's
 * histogram_quantile computes them (linear within a bucket), in ms; the
 * max as the bound of the highest bucket that grew.
 */
function delayBetween(a: NodeSample, b: NodeSample) {
  const ba = new Map(a.delayBuckets ?? []);
  const d = (b.delayBuckets ?? []).map(([le, n]) =>
    [le, n - (ba.get(le) ?? 0)] as [number, number]
  );
  const total = d.at(-1)?.[1] ?? 0;
  const q = (p: number) => {
    if (total === 0) return NaN;
    const want = p * total;
    let prevLe = 0;
    let prevN = 0;
    for (const [le, n] of d) {
      if (n >= want) {
        if (le === Infinity) return prevLe * 1000;
        return (prevLe +
          (le - prevLe) * (want - prevN) / Math.max(1, n - prevN)) *
          1000;
      }
      prevLe = le;
      prevN = n;
    }
    return NaN;
  };
  let maxLe = 0;
  for (let i = 0; i < d.length; i++) {
    const below = i === 0 ? 0 : d[i - 1][1];
    if (d[i][1] > below) maxLe = d[i][0];
  }
  return {
    samples: total,
    p50Ms: round1(q(0.5)),
    p99Ms: round1(q(0.99)),
    // "at most": the bound of the highest bucket with samples.
    maxAtMostMs: maxLe === Infinity ? Infinity : round1(maxLe * 1000),
    meanMs: total > 0
      ? round1(((b.delaySum ?? 0) - (a.delaySum ?? 0)) / total * 1000)
      : NaN,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "10" },
      connections: { type: "string", default: "64" },
      watchers: { type: "string", default: "8" },
      mix: { type: "string", default: "50,35,15" },
      keys: { type: "string", default: "100000" },
      "value-bytes": { type: "string", default: "256" },
      "snapshot-every": { type: "string", default: "10000" },
      "election-ticks": { type: "string" },
      "heartbeat-ticks": { type: "string" },
      "failover-trials": { type: "string", default: "0" },
      "sample-s": { type: "string", default: "10" },
      seed: { type: "string", default: "1" },
      dir: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const minutes = Number(v.minutes);
  const connections = Number(v.connections);
  const watcherCount = Number(v.watchers);
  const mix = v.mix!.split(",").map(Number);
  const keys = Number(v.keys);
  const valueBytes = Number(v["value-bytes"]);
  const snapshotEvery = Number(v["snapshot-every"]);
  const failoverTrials = Number(v["failover-trials"]);
  const sampleMs = Number(v["sample-s"]) * 1000;
  if (
    !(minutes > 0) || !(connections > 0) || !(watcherCount >= 0) ||
    mix.length !== 3 || mix.some((w) => !(w >= 0)) || !(keys > 0) ||
    !(valueBytes > 0) || !(snapshotEvery > 0) || !(failoverTrials >= 0) ||
    !(sampleMs > 0)
  ) {
    console.error(USAGE);
    Deno.exit(2);
  }
  const extraArgs: string[] = ["--log-level", "info"];
  if (v["election-ticks"]) {
    extraArgs.push("--election-ticks", v["election-ticks"]);
  }
  if (v["heartbeat-ticks"]) {
    extraArgs.push("--heartbeat-ticks", v["heartbeat-ticks"]);
  }
  const started = new Date();
  console.log(
    `raftlock steady: 3 raftd, ${minutes} min, ${connections} connections, ${watcherCount} watchers, mix put/get/lock ${
      mix.join("/")
    }, ${keys} keys of ${valueBytes} B, snapshot every ${snapshotEvery}${
      extraArgs.length > 2 ? `, raftd ${extraArgs.slice(2).join(" ")}` : ""
    }`,
  );
  console.log(
    `  cores ${navigator.hardwareConcurrency}, deno ${Deno.version.deno}, load average ${
      (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(
        " ",
      )
    }${
      Deno.env.get("DENO_V8_FLAGS")
        ? `, DENO_V8_FLAGS=${Deno.env.get("DENO_V8_FLAGS")}`
        : ""
    }`,
  );

  const ids = ["n1", "n2", "n3"];
  const c = await E2ECluster.start({
    nodes: 3,
    snapshotEvery,
    extraArgs,
    baseDir: v.dir,
  });
  let exitCode = 0;
  try {
    await c.waitForLeader({ ids });
    const urls = ids.map((id) => c.url(id));
    const value = "v".repeat(valueBytes);
    const rand = mulberry32(Number(v.seed));
    const total = mix[0] + mix[1] + mix[2];
    const pick = (): Op => {
      const r = rand() * total;
      return r < mix[0] ? "put" : r < mix[0] + mix[1] ? "get" : "lock";
    };
    const keyOf = () => `steady/k${Math.floor(rand() * keys)}`;

    let stats = newStats();
    const overall = newStats();
    let stop = false;
    const record = (op: Op, t0: number, ok: boolean, kind?: string) => {
      const ms = performance.now() - t0;
      for (const s of [stats, overall]) {
        if (ok) {
          s[op].ok++;
          s[op].latency.add(ms);
        } else {
          s[op].errors++;
          s[op].errorKinds[kind!] = (s[op].errorKinds[kind!] ?? 0) + 1;
        }
      }
    };
    const call = async (
      url: string,
      method: string,
      body?: unknown,
    ): Promise<{ status: number; json: Record<string, unknown> }> => {
      const r = await fetch(url, {
        method,
        headers: body === undefined
          ? undefined
          : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await r.text();
      return { status: r.status, json: text ? JSON.parse(text) : {} };
    };
    // An error's kind names its status and code; the first message of each
    // kind is kept, so a run says why requests failed, not only how often.
    const errorMessages: Record<string, string> = {};
    const kindOf = (
      prefix: string,
      r: { status: number; json: Record<string, unknown> },
    ) => {
      const err = r.json.error as
        | { code?: string; message?: string }
        | undefined;
      const kind = `${prefix}${r.status}${err?.code ? ` ${err.code}` : ""}`;
      if (r.status !== 200 && !(kind in errorMessages)) {
        errorMessages[kind] = err?.message ?? "";
      }
      return kind;
    };
    const loop = async (i: number) => {
      const base = urls[i % urls.length];
      while (!stop) {
        const op = pick();
        const t0 = performance.now();
        try {
          if (op === "put") {
            const r = await call(`${base}/v1/kv/${keyOf()}`, "PUT", { value });
            record(op, t0, r.status === 200, kindOf("", r));
          } else if (op === "get") {
            const r = await call(`${base}/v1/kv/${keyOf()}`, "GET");
            record(
              op,
              t0,
              r.status === 200 || r.status === 404,
              kindOf("", r),
            );
          } else {
            const name = encodeURIComponent(`steady/lock-${i}`);
            const a = await call(`${base}/v1/locks/${name}/acquire`, "POST", {
              ttl: 10,
            });
            if (a.status !== 200) {
              record(op, t0, false, kindOf("acquire ", a));
              continue;
            }
            const r = await call(`${base}/v1/locks/${name}/release`, "POST", {
              token: a.json.token,
            });
            record(op, t0, r.status === 200, kindOf("release ", r));
          }
        } catch (e) {
          record(op, t0, false, (e as Error).name);
          await sleep(50);
        }
      }
    };

    // Watchers: the typed client (it resumes after a lagging end or a
    // failure), each on a tenth of the keys.
    const watchClient = new Client({ endpoints: urls, discover: false });
    const watchers: {
      w: Watch;
      events: number;
      outOfOrder: number;
      error?: string;
      done: Promise<void>;
    }[] = [];
    for (let i = 0; i < watcherCount; i++) {
      const w = watchClient.watch({ prefix: `steady/k${i % 10}` });
      const entry = {
        w,
        events: 0,
        outOfOrder: 0,
        error: undefined as string | undefined,
        done: Promise.resolve(),
      };
      entry.done = (async () => {
        let last = 0;
        try {
          for await (const batch of w.batches()) {
            for (const e of batch) {
              if (e.revision < last) entry.outOfOrder++;
              last = e.revision;
              entry.events++;
            }
          }
        } catch (e) {
          entry.error = String(e);
        }
      })();
      watchers.push(entry);
    }

    const samples: NodeSample[] = [];
    const t0 = performance.now();
    const first = await Promise.all(ids.map((id) => scrape(c, id, 0)));
    samples.push(...first);
    const loops = Array.from({ length: connections }, (_, i) => loop(i));
    const endAt = t0 + minutes * 60_000;
    let prev = first;
    let watchEvents = 0;
    let lastSelfCpu = await cpuSeconds("self");
    while (performance.now() < endAt) {
      await sleep(Math.min(sampleMs, endAt - performance.now()));
      const t = Math.round((performance.now() - t0) / 1000);
      const now = await Promise.all(ids.map((id) => scrape(c, id, t)));
      samples.push(...now);
      const secs = sampleMs / 1000;
      const rate = (op: Op) => Math.round(stats[op].ok / secs);
      const errs = OPS.reduce((n, op) => n + stats[op].errors, 0);
      const leader = now.find((s) => s.role === "leader");
      const events = watchers.reduce((n, w) => n + w.events, 0);
      const nodes = now.map((s, i) => {
        if (!s.up) return `${s.id} down`;
        const d = delayBetween(prev[i], s);
        const cpu = ((s.cpuSeconds ?? 0) - (prev[i].cpuSeconds ?? 0)) /
          ((s.t - prev[i].t) || 1) * 100;
        return `${s.id} ${s.rssMb?.toFixed(0)} MB cpu ${
          cpu.toFixed(0)
        }% p99 ${d.p99Ms} ms max≤${d.maxAtMostMs}`;
      }).join(", ");
      const selfCpu = await cpuSeconds("self");
      const benchCpu = (selfCpu - lastSelfCpu) / secs * 100;
      lastSelfCpu = selfCpu;
      const load = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
      console.log(
        `${String(t).padStart(4)} s (load ${load}, bench cpu ${
          benchCpu.toFixed(0)
        }%): put ${rate("put")}/s, get ${rate("get")}/s, lock ${
          rate("lock")
        }/s, errors ${errs}, watch ${
          Math.round((events - watchEvents) / secs)
        } ev/s; leader ${leader?.id ?? "?"}@${leader?.term ?? "?"}; ${nodes}`,
      );
      watchEvents = events;
      prev = now;
      stats = newStats();
    }
    stop = true;
    await Promise.all(loops);
    const last = await Promise.all(
      ids.map((id) =>
        scrape(c, id, Math.round((performance.now() - t0) / 1000))
      ),
    );
    samples.push(...last);
    watchClient.close();
    await Promise.all(watchers.map((w) => w.done));
    const seconds = (performance.now() - t0) / 1000;

    // Elections: each node counts the leaders it sees.
    const changes = ids.map((_, i) =>
      (last[i].leaderChanges ?? NaN) - (first[i].leaderChanges ?? NaN)
    );
    const leaderChanges = Math.max(...changes.filter(Number.isFinite), 0);
    const termChanged = first[0].term !== Math.max(...last.map((s) =>
      s.term ?? 0
    ));
    const stalls = ids.map((id) =>
      c.node(id).findLogs((r) => r.event === "node.eventLoopStall").map((r) =>
        Number(r.ms)
      )
    );
    // What each node logged that explains a delay: stalls, snapshots,
    // installs, leadership changes (with their times).
    const notable = new Set([
      "node.eventLoopStall",
      "node.snapshot",
      "node.snapshotInstalled",
      "node.leadership",
    ]);
    const perNode = ids.map((id, i) => ({
      id,
      events: c.node(id).findLogs((r) => notable.has(r.event ?? "")).map((
        r,
      ) => ({ ts: r.ts, event: r.event, ms: r.ms, role: r.role })),
      leaderChangesSeen: changes[i],
      eventLoopDelay: {
        ...delayBetween(first[i], last[i]),
        stallsOver100ms: stalls[i].length,
        maxStallMs: stalls[i].length ? Math.max(...stalls[i]) : null,
      },
      rssMb: samples.filter((s) => s.id === id && s.rssMb !== undefined).map((
        s,
      ) => [s.t, Math.round(s.rssMb!)]),
      rssMaxMb: Math.round(
        Math.max(
          ...samples.filter((s) => s.id === id).map((s) => s.rssMb ?? 0),
        ),
      ),
      snapshots: c.node(id).findLogs((r) => r.event === "node.snapshot")
        .length,
    }));
    const ops = Object.fromEntries(OPS.map((op) => [op, {
      perSecond: Math.round(overall[op].ok / seconds),
      ok: overall[op].ok,
      errors: overall[op].errors,
      errorKinds: overall[op].errorKinds,
      p50Ms: round1(overall[op].latency.quantile(0.5)),
      p99Ms: round1(overall[op].latency.quantile(0.99)),
      maxMs: round1(overall[op].latency.max),
    }]));
    const watch = {
      streams: watcherCount,
      events: watchers.reduce((n, w) => n + w.events, 0),
      outOfOrder: watchers.reduce((n, w) => n + w.outOfOrder, 0),
      errors: watchers.filter((w) => w.error).map((w) => w.error),
    };

    console.log(
      `\n== steady ${seconds.toFixed(0)} s: leader changes ${leaderChanges}${
        termChanged ? " (the term changed)" : ""
      }`,
    );
    console.log(
      `| node | loop delay p50 | p99 | max | stalls > 100 ms | RSS max | snapshots |`,
    );
    console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: |`);
    for (const n of perNode) {
      const d = n.eventLoopDelay;
      console.log(
        `| ${n.id} | ${d.p50Ms} ms | ${d.p99Ms} ms | ${
          d.maxStallMs ?? `≤ ${d.maxAtMostMs}`
        } ms | ${d.stallsOver100ms} | ${n.rssMaxMb} MB | ${n.snapshots} |`,
      );
    }
    console.log(`\n| op | per s | p50 | p99 | max | errors |`);
    console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
    for (const op of OPS) {
      const o = ops[op];
      console.log(
        `| ${op} | ${o.perSecond} | ${o.p50Ms} ms | ${o.p99Ms} ms | ${o.maxMs} ms | ${o.errors} |`,
      );
    }
    for (const [kind, message] of Object.entries(errorMessages)) {
      console.log(`error ${kind}: ${message}`);
    }
    console.log(
      `\nwatch: ${watch.events} events on ${watch.streams} streams, ${watch.outOfOrder} out of order, ${watch.errors.length} ended with an error`,
    );
    for (const n of perNode) {
      console.log(
        `RSS ${n.id} (s → MB): ${
          n.rssMb.map(([t, mb]) => `${t}:${mb}`).join(" ")
        }`,
      );
    }

    let failover: unknown;
    if (failoverTrials > 0) {
      console.log(
        `\nfailover: ${failoverTrials} leader kills on the same cluster`,
      );
      const run = await runFailoverTrials(c, {
        trials: failoverTrials,
        probeMs: 10,
        writeMs: 0,
      });
      const summary = failoverSummary(run.results);
      failover = { summary, trials: run.results, failures: run.failures };
      console.log(
        `failover: SIGKILL → first committed write p50 ${summary.firstWrite.p50} ms, max ${summary.firstWrite.max} ms (target p50 ≤ 400); new leader p50 ${summary.elected.p50} ms; ${run.failures.length} failed`,
      );
    }

    const out = v.out ??
      new URL(
        `./results/steady-${started.toISOString().replace(/[:.]/g, "-")}.json`,
        import.meta.url,
      ).pathname;
    await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(
      out,
      JSON.stringify(
        {
          date: started.toISOString(),
          machine: {
            cores: navigator.hardwareConcurrency,
            deno: Deno.version.deno,
            loadavgAtEnd: (await Deno.readTextFile("/proc/loadavg")).trim(),
            v8Flags: Deno.env.get("DENO_V8_FLAGS") ?? null,
          },
          settings: {
            minutes,
            connections,
            watchers: watcherCount,
            mix,
            keys,
            valueBytes,
            snapshotEvery,
            raftdArgs: extraArgs,
          },
          seconds: Math.round(seconds),
          leaderChanges,
          termChanged,
          nodes: perNode,
          ops,
          errorMessages,
          watch,
          failover,
          samples,
        },
        null,
        1,
      ),
    );
    console.log(`\nwrote ${out}`);
    if (leaderChanges > 0 || termChanged) {
      console.log("FAILED: the leader changed during the load");
      exitCode = 1;
    }
  } catch (e) {
    c.printLogs((e as Error).message, 40);
    throw e;
  } finally {
    await c.close();
  }
  Deno.exit(exitCode);
}

if (import.meta.main) await main();
