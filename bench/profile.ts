/**
 * Where a put's (or a get's) time goes: `deno run -A bench/profile.ts`.
 *
 * Starts a 3-node raftlock cluster with the V8 inspector on every node,
 * drives the leader with `wrk` puts or gets (the neutral client of
 * `deno task bench:etcd`), and records a CPU profile of the leader and of
 * one follower over the measured seconds through the Chrome DevTools
 * protocol (`Profiler.start` / `Profiler.stop`). Each profile is summed by
 * stage (HTTP, validation, propose, encode, WAL, send, receive, apply,
 * respond, GC…) from the frames of every sample, and divided by the
 * requests the leader answered: CPU µs per request per node. The WAL's own timings
 * (`raftlock_wal_persist_duration_seconds`) and wrk's latency give the
 * wall-clock side at one connection.
 *
 * ```sh
 * deno run -A bench/profile.ts                       # 1 and 64 connections, 10 s each
 * deno run -A bench/profile.ts --connections 64 --seconds 5 --keep bench/results/profiles
 * deno run -A bench/profile.ts --workload get --connections 64   # linearizable gets
 * deno run -A bench/profile.ts --workload lock --connections 1   # lock cycles
 * ```
 *
 * Run it on a quiet machine: the figures are CPU time, but a busy machine
 * changes batch sizes and so the cost per put.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cleanup } from "./load/cleanup.ts";
import { startRaftlock } from "./load/clusters.ts";
import { runWrk, type WrkReport } from "./load/wrk.ts";

/** A V8 CPU profile as `Profiler.stop` returns it. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The stages a put's CPU time is split into, in the order of its path. */
export const STAGES = [
  "http",
  "validation",
  "handler",
  "propose",
  "raft core",
  "encode",
  "wal write",
  "send",
  "receive",
  "apply",
  "read path",
  "respond",
  "metrics",
  "timers",
  "gc",
  "other js",
  "native",
  "idle",
] as const;
/** One of {@link STAGES}. */
export type Stage = typeof STAGES[number];

// Frame rules, tried from the innermost frame outwards: the first frame of
// ours (or of a library we can name) decides the stage. Runtime frames
// (ext:, node:) and anonymous builtins are passed through to their caller,
// except where the runtime frame is itself the stage (HTTP, timers).
function frameStage(url: string, fn: string): Stage | undefined {
  if (url.includes("/zod/")) return "validation";
  if (url.includes("/msgpackr/") || url.includes("/@msgpack/")) {
    return "encode";
  }
  if (url.includes("/hono/")) {
    return /json|body|text|newResponse|header|c\.|#newResponse/i.test(fn)
      ? "respond"
      : "http";
  }
  if (url.includes("/src/storage/")) return "wal write";
  if (url.includes("/src/transport/") || url.includes("/src/wire/")) {
    return /send|write|flush|encode|frame/i.test(fn) ? "send" : "receive";
  }
  if (url.includes("/src/raft/")) return "raft core";
  if (url.includes("/src/state/")) return "apply";
  if (url.includes("/src/node/read_path")) return "read path";
  if (url.includes("/src/node/")) {
    if (/apply/i.test(fn)) return "apply";
    if (/propose|flush|batch|envelope/i.test(fn)) return "propose";
    return "raft core";
  }
  if (url.includes("/src/api/") || url.includes("/src/server/")) {
    if (/metric|observe|histogram/i.test(fn)) return "metrics";
    if (/respond|json|error/i.test(fn)) return "respond";
    return "handler";
  }
  if (url.includes("/src/service/")) return "handler";
  if (url.includes("/src/metrics") || url.includes("/src/observability")) {
    return "metrics";
  }
  if (url.startsWith("ext:deno_http") || url.startsWith("ext:deno_fetch")) {
    return "http";
  }
  if (url.startsWith("ext:deno_web/02_timers") || /Timer/i.test(fn)) {
    return url.startsWith("ext:") ? "timers" : undefined;
  }
  if (url.includes("/src/")) return "other js";
  return undefined;
}

/**
 * Sums a profile's sample time by stage, in µs.
 *
 * @example
 * ```ts
 * import { byStage, type CpuProfile } from "./profile.ts";
 * declare const profile: CpuProfile;
 * console.log(byStage(profile).get("wal write"));
 * ```
 */
export function byStage(profile: CpuProfile): Map<Stage, number> {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stageOf = new Map<number, Stage>();
  const resolve = (id: number): Stage => {
    const known = stageOf.get(id);
    if (known) return known;
    const leaf = byId.get(id)!.callFrame;
    let stage: Stage | undefined;
    if (leaf.functionName === "(garbage collector)") stage = "gc";
    else if (leaf.functionName === "(idle)") stage = "idle";
    else if (leaf.functionName === "(program)") stage = "native";
    else {
      for (
        let cur: number | undefined = id;
        cur !== undefined && !stage;
        cur = parent.get(cur)
      ) {
        const f = byId.get(cur)!.callFrame;
        stage = frameStage(f.url, f.functionName);
      }
      stage ??= leaf.url === "" ? "native" : "other js";
    }
    stageOf.set(id, stage);
    return stage;
  };
  const out = new Map<Stage, number>(STAGES.map((s) => [s, 0]));
  for (let i = 0; i < profile.samples.length; i++) {
    const s = resolve(profile.samples[i]);
    out.set(s, out.get(s)! + (profile.timeDeltas[i] ?? 0));
  }
  return out;
}

/** The heaviest functions by self time, for the notes under the table. */
export function topFunctions(
  profile: CpuProfile,
  n = 15,
): { name: string; us: number }[] {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byName = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (!us) continue;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(node_modules|src|npm)\//, "$1/");
    const name = `${f.functionName || "(anonymous)"} ${file}:${
      f.lineNumber + 1
    }`;
    byName.set(name, (byName.get(name) ?? 0) + us);
  }
  return [...byName].map(([name, us]) => ({ name, us }))
    .sort((a, b) => b.us - a.us).slice(0, n);
}

/** A DevTools-protocol session with one node's inspector. */
class Inspector {
  #ws: WebSocket;
  #id = 0;
  #waiting = new Map<number, (v: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data));
      const done = this.#waiting.get(msg.id);
      if (done) {
        this.#waiting.delete(msg.id);
        done(msg.error ? Promise.reject(new Error(msg.error.message)) : msg);
      }
    };
  }

  static async open(port: number): Promise<Inspector> {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`))
      .json() as { webSocketDebuggerUrl: string }[];
    const ws = new WebSocket(list[0].webSocketDebuggerUrl);
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = rej;
    });
    return new Inspector(ws);
  }

  send(method: string, params: unknown = {}): Promise<{ result: unknown }> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((r) => this.#waiting.set(id, r as never));
  }

  close(): void {
    this.#ws.close();
  }
}

async function leaderIndex(endpoints: string[]): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (let i = 0; i < endpoints.length; i++) {
      const s = await fetch(`${endpoints[i]}/v1/status`).then((r) => r.json())
        .catch(() => undefined);
      if (s?.role === "leader") return i;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no leader within 10 s");
}

/** Sum and count of a histogram, over its series whose labels include `having`. */
async function histogram(
  endpoint: string,
  name: string,
  having = "",
): Promise<{ sum: number; n: number }> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const total = (suffix: string) => {
    let t = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name}_${suffix}`) || !line.includes(having)) {
        continue;
      }
      t += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return t;
  };
  return { sum: total("sum"), n: total("count") };
}

const walSyncs = (endpoint: string) =>
  histogram(endpoint, "raftlock_wal_persist_duration_seconds");
const serverRequests = (endpoint: string, method: string) =>
  histogram(
    endpoint,
    "raftlock_http_request_duration_seconds",
    `method="${method}"`,
  );

/** What `--workload` drives the leader with: one wrk script each. */
export const WORKLOADS = {
  put: { script: "raftlock_put.lua", method: "PUT", args: ["value=16"] },
  get: { script: "raftlock_get.lua", method: "GET", args: [] as string[] },
  // Acquire + release cycles; per request, so two requests a cycle. The
  // script keeps one lock per wrk thread, so one thread per connection.
  lock: { script: "raftlock_lock.lua", method: "POST", args: [] as string[] },
} as const;
/** A workload `bench/profile.ts` can profile. */
export type Workload = keyof typeof WORKLOADS;

interface RunResult {
  workload: Workload;
  connections: number;
  /** Requests answered with a 2xx. */
  ops: number;
  wrk: WrkReport;
  /** The leader's own mean time per request, from its request histogram. */
  serverMsMean: number;
  nodes: {
    role: string;
    cpuUsPerOp: Record<Stage, number>;
    busyUsPerOp: number;
    walSyncs: number;
    walSyncMsMean: number;
    top: { name: string; us: number }[];
  }[];
}

async function profileRun(
  endpoints: string[],
  inspectPorts: number[],
  workload: Workload,
  connections: number,
  seconds: number,
  keep: string | undefined,
): Promise<RunResult> {
  const w = WORKLOADS[workload];
  const leader = await leaderIndex(endpoints);
  const follower = (leader + 1) % endpoints.length;
  const watched = [leader, follower];
  const sessions = await Promise.all(
    watched.map((i) => Inspector.open(inspectPorts[i])),
  );
  // Warm up untraced, so the profile holds the steady state (puts first:
  // they also write the keys the gets read).
  const drive = (load: typeof w, secs: number) =>
    runWrk({
      script: load.script,
      url: endpoints[leader],
      connections,
      threads: load === WORKLOADS.lock ? connections : Math.min(2, connections),
      seconds: secs,
      args: [...load.args],
    });
  for (const warm of new Set([WORKLOADS.put, w])) await drive(warm, 3);
  const syncsBefore = await Promise.all(
    watched.map((i) => walSyncs(endpoints[i])),
  );
  const httpBefore = await serverRequests(endpoints[leader], w.method);
  for (const s of sessions) {
    await s.send("Profiler.enable");
    await s.send("Profiler.setSamplingInterval", { interval: 100 });
    await s.send("Profiler.start");
  }
  const wrk = await drive(w, seconds);
  const profiles = await Promise.all(
    sessions.map(async (s) =>
      ((await s.send("Profiler.stop")).result as { profile: CpuProfile })
        .profile
    ),
  );
  const syncsAfter = await Promise.all(
    watched.map((i) => walSyncs(endpoints[i])),
  );
  const httpAfter = await serverRequests(endpoints[leader], w.method);
  for (const s of sessions) s.close();
  const ops = wrk.requests - wrk.errors.status;
  const nodes = profiles.map((p, k) => {
    const stages = byStage(p);
    const per = Object.fromEntries(
      STAGES.map((s) => [s, stages.get(s)! / ops]),
    ) as Record<Stage, number>;
    const syncs = syncsAfter[k].n - syncsBefore[k].n;
    return {
      role: k === 0 ? "leader" : "follower",
      cpuUsPerOp: per,
      busyUsPerOp: STAGES.filter((s) => s !== "idle")
        .reduce((a, s) => a + per[s], 0),
      walSyncs: syncs,
      walSyncMsMean: syncs
        ? (syncsAfter[k].sum - syncsBefore[k].sum) * 1000 / syncs
        : 0,
      top: topFunctions(p),
    };
  });
  if (keep) {
    await Deno.mkdir(keep, { recursive: true });
    for (let k = 0; k < profiles.length; k++) {
      await Deno.writeTextFile(
        `${keep}/${workload}-c${connections}-${nodes[k].role}.cpuprofile`,
        JSON.stringify(profiles[k]),
      );
    }
  }
  const served = httpAfter.n - httpBefore.n;
  return {
    workload,
    connections,
    ops,
    wrk,
    serverMsMean: served ? (httpAfter.sum - httpBefore.sum) * 1000 / served : 0,
    nodes,
  };
}

function report(r: RunResult, seconds: number): string {
  const rate = r.ops / seconds;
  const lines = [
    `\n## ${r.workload}s at ${r.connections} connection${
      r.connections === 1 ? "" : "s"
    }: ${rate.toFixed(0)} ${r.workload}s/s, wrk p50 ${
      (r.wrk.latency_us.p50 / 1000).toFixed(2)
    } ms, p99 ${(r.wrk.latency_us.p99 / 1000).toFixed(2)} ms; wrk mean ${
      (r.wrk.latency_us.mean / 1000).toFixed(2)
    } ms, the leader's own mean ${r.serverMsMean.toFixed(2)} ms`,
    "",
    `| stage | ${
      r.nodes.map((n) => `${n.role} µs/${r.workload}`).join(" | ")
    } |`,
    `| --- | ${r.nodes.map(() => "---").join(" | ")} |`,
  ];
  for (const s of STAGES) {
    if (s === "idle") continue;
    lines.push(
      `| ${s} | ${
        r.nodes.map((n) => n.cpuUsPerOp[s].toFixed(1)).join(" | ")
      } |`,
    );
  }
  lines.push(
    `| **busy total** | ${
      r.nodes.map((n) => `**${n.busyUsPerOp.toFixed(1)}**`).join(" | ")
    } |`,
    `| idle | ${
      r.nodes.map((n) => n.cpuUsPerOp.idle.toFixed(1)).join(" | ")
    } |`,
    "",
    ...r.nodes.map((n) =>
      `${n.role}: ${n.walSyncs} WAL writes (${
        (r.ops / Math.max(1, n.walSyncs)).toFixed(1)
      } ${r.workload}s each), mean ${n.walSyncMsMean.toFixed(2)} ms each`
    ),
  );
  for (const n of r.nodes) {
    lines.push(
      "",
      `${n.role}, heaviest functions (self µs per ${r.workload}):`,
    );
    for (const f of n.top.slice(0, 10)) {
      lines.push(`  ${(f.us / r.ops).toFixed(1).padStart(7)}  ${f.name}`);
    }
  }
  return lines.join("\n");
}

const USAGE = `Usage: deno run -A bench/profile.ts [options]

  --workload put|get|lock
                         what wrk sends the leader: puts of 16 bytes,
                         linearizable gets of the keys the warm-up wrote, or
                         lock cycles (acquire + release; figures are per
                         request, two a cycle) (default put)
  --connections LIST     wrk connections, one profiled run each (default 1,64)
  --seconds N            profiled seconds per run (default 10)
  --keep DIR             keep the .cpuprofile files (open them in DevTools)
  --json FILE            write the results as JSON
  -h, --help             show this help

Needs wrk (apt-get install wrk). Run it on a quiet machine.`;

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      connections: { type: "string", default: "1,64" },
      seconds: { type: "string", default: "10" },
      workload: { type: "string", default: "put" },
      keep: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const workload = v.workload as Workload;
  if (!(workload in WORKLOADS)) {
    console.error(
      `profile: unknown --workload ${v.workload}; use one of ${
        Object.keys(WORKLOADS).join(", ")
      }`,
    );
    Deno.exit(2);
  }
  const conns = v.connections!.split(",").map(Number);
  const seconds = Number(v.seconds);
  const inspectBase = 19229;
  const inspectPorts = [0, 1, 2].map((i) => inspectBase + i);
  console.error("profile: starting 3 nodes with the inspector on…");
  const cluster = await startRaftlock({
    denoFlags: (i) => [`--inspect=127.0.0.1:${inspectPorts[i]}`],
  });
  const results: RunResult[] = [];
  try {
    for (const c of conns) {
      console.error(
        `profile: ${workload}s at ${c} connection(s), ${seconds} s…`,
      );
      const r = await profileRun(
        cluster.endpoints,
        inspectPorts,
        workload,
        c,
        seconds,
        v.keep,
      );
      results.push(r);
      console.log(report(r, seconds));
    }
    if (v.json) {
      await Deno.writeTextFile(v.json, JSON.stringify(results, null, 2));
    }
  } finally {
    await cluster.stop();
    await cleanup.run();
  }
}
