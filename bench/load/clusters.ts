/**
 * Starts the systems under test as real processes on loopback: a 3-node
 * raftlock cluster (raftd) and a 3-member etcd cluster, both with fsync on
 * and fresh data directories. Every process and directory is registered
 * with {@linkcode cleanup} as soon as it exists, and a member that exits
 * during start-up (a port taken by someone else, say) fails the start at
 * once with its last log lines.
 *
 * @module
 */

import {
  localMembers,
  RAFTD_ENV,
  raftdArgs,
} from "../../src/server/raftd_args.ts";
import { ensurePeerSecretFile } from "../../src/transport/tcp.ts";
import { cleanup } from "./cleanup.ts";
import { clusterPorts, freeBase } from "../../src/chaos/ports.ts";

// Ports each cluster takes from its base: three for peers, three for
// clients (raftlock: HTTP; etcd: the client URLs are the base).
const PORTS = clusterPorts(3);

/** A running cluster. */
export interface RunningCluster {
  /** Client base URLs. */
  endpoints: string[];
  /** Stops every process and removes the data. */
  stop(): Promise<void>;
  /**
   * raftlock only: what its nodes logged about leadership since `since`
   * (campaigns, step-downs, lost quorum, event-loop stalls), one line each,
   * oldest first, to explain a leader change the bench saw.
   */
  leadershipLog?(since: Date): Promise<string[]>;
}

// The events that explain an election: who campaigned, who stepped down and
// why, and stalls that delayed heartbeats.
const LEADERSHIP_EVENT = /^(raft\.|node\.leadership$|node\.eventLoopStall$)/;

/** The leadership lines of JSON-lines node logs, merged by time. */
export async function leadershipLines(
  logs: readonly string[],
  since: Date,
): Promise<string[]> {
  const out: { ts: string; line: string }[] = [];
  for (const file of logs) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const raw of text.split("\n")) {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(raw);
      } catch {
        continue;
      }
      const { ts, node, event, level: _level, id: _id, ...rest } = e;
      if (typeof ts !== "string" || typeof event !== "string") continue;
      if (!LEADERSHIP_EVENT.test(event) || new Date(ts) < since) continue;
      const fields = Object.entries(rest).map(([k, v]) =>
        `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
      );
      out.push({ ts, line: `${ts} ${node} ${event} ${fields.join(" ")}` });
    }
  }
  return out.sort((a, b) => a.ts.localeCompare(b.ts)).map((o) => o.line);
}

/** A member being started: its process and where its log goes. */
interface Starting {
  child: Deno.ChildProcess;
  log: string;
  exited?: Deno.CommandStatus;
}

async function tail(file: string, lines = 5): Promise<string> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function checkRunning(members: readonly Starting[]): Promise<void> {
  const gone = members.find((m) => m.exited);
  if (!gone) return;
  // Let its stderr reach the log before quoting it.
  await new Promise((r) => setTimeout(r, 200));
  throw new Error(
    `A member exited during start-up (code ${
      gone.exited!.code
    }); its log ${gone.log} ends:\n${await tail(
      gone.log,
    )}`,
  );
}

async function waitFor(
  url: string,
  ok: (r: Response, body: string) => boolean,
  timeoutMs: number,
  members: readonly Starting[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await checkRunning(members);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(500) });
      if (ok(r, await r.text())) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} was not ready within ${timeoutMs} ms`);
}

function spawn(
  cmd: string,
  args: string[],
  log: string,
  env: Record<string, string> = {},
): Starting {
  const child = cleanup.process(
    new Deno.Command(cmd, {
      args,
      env,
      stdout: "null",
      stderr: "piped",
      stdin: "null",
    }).spawn(),
  );
  drain(child, log);
  const m: Starting = { child, log };
  child.status.then((s) => m.exited = s);
  return m;
}

// A port held by another program's server can answer the readiness check
// while our member has exited for want of it: look once more at the end.
async function assertRunning(members: readonly Starting[]): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  await checkRunning(members);
}

async function drain(child: Deno.ChildProcess, file: string): Promise<void> {
  if (!child.stderr) return;
  const f = await Deno.open(file, { write: true, create: true, append: true });
  await child.stderr.pipeTo(f.writable).catch(() => {});
}

function stopAll(members: readonly Starting[], dir: string): Promise<void> {
  return cleanup.release(members.map((m) => m.child), [dir]);
}

/**
 * A 3-node raftlock cluster of raftd processes, from the first free
 * `basePort` at 17100 or above unless one is given.
 */
export async function startRaftlock(
  options: {
    basePort?: number;
    nodes?: number;
    /** Extra `deno run` flags for the i-th member (`--inspect=…`, say). */
    denoFlags?: (i: number) => string[];
    /** Extra raftd flags for every member. */
    raftdFlags?: string[];
  } = {},
): Promise<RunningCluster> {
  const n = options.nodes ?? 3;
  const base = options.basePort ?? freeBase(17100, PORTS);
  const dir = cleanup.dir(
    await Deno.makeTempDir({ prefix: "raftlock-bench-" }),
  );
  const members = localMembers(n, base, dir);
  const peerSecretFile = await ensurePeerSecretFile(`${dir}/peer.secret`);
  const children: Starting[] = [];
  const endpoints = members.map((m) => `http://${m.http}`);
  members.forEach((m, i) => {
    // Info is a few lines a minute (snapshots, elections), enough to
    // explain a leader change; requests are logged at debug.
    const args = raftdArgs(m, members, [
      "--log-level",
      "info",
      ...(options.raftdFlags ?? []),
    ], { peerSecretFile });
    // raftdArgs starts `run -A <script>`: deno's own flags go before the script.
    args.splice(2, 0, ...(options.denoFlags?.(i) ?? []));
    children.push(
      spawn(Deno.execPath(), args, `${m.dataDir}.log`, { ...RAFTD_ENV }),
    );
  });
  try {
    for (const e of endpoints) {
      await waitFor(`${e}/readyz`, (r) => r.status === 200, 30_000, children);
    }
    await assertRunning(children);
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  return {
    endpoints,
    stop: () => stopAll(children, dir),
    leadershipLog: (since) =>
      leadershipLines(children.map((c) => c.log), since),
  };
}

/** True when the etcd binary is installed. */
export async function etcdInstalled(): Promise<boolean> {
  try {
    const r = await new Deno.Command("etcd", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

/**
 * A 3-member etcd cluster (fsync on, as shipped), from the first free
 * `basePort` at 17200 or above unless one is given.
 */
export async function startEtcd(
  options: { basePort?: number; members?: number } = {},
): Promise<RunningCluster> {
  const n = options.members ?? 3;
  const base = options.basePort ?? freeBase(17200, PORTS);
  const dir = cleanup.dir(await Deno.makeTempDir({ prefix: "etcd-bench-" }));
  const cluster = Array.from(
    { length: n },
    (_, i) => `e${i + 1}=http://127.0.0.1:${base + 50 + i}`,
  ).join(",");
  const children: Starting[] = [];
  const endpoints: string[] = [];
  for (let i = 0; i < n; i++) {
    const client = `http://127.0.0.1:${base + i}`;
    const peer = `http://127.0.0.1:${base + 50 + i}`;
    endpoints.push(client);
    children.push(spawn("etcd", [
      "--name",
      `e${i + 1}`,
      "--data-dir",
      `${dir}/e${i + 1}`,
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      cluster,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      "raftlock-bench",
      "--logger",
      "zap",
      "--log-level",
      "error",
    ], `${dir}/e${i + 1}.log`));
  }
  try {
    for (const e of endpoints) {
      await waitFor(
        `${e}/health`,
        (r, b) => r.status === 200 && b.includes('"true"'),
        30_000,
        children,
      );
    }
    await assertRunning(children);
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  return { endpoints, stop: () => stopAll(children, dir) };
}
