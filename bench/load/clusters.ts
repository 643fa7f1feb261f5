/**
 * Starts the systems under test as real processes on loopback: a 3-node
 * raftlock cluster (raftd) and a 3-member etcd cluster, both with fsync on
 * and fresh data directories.
 *
 * @module
 */

import { localMembers, raftdArgs } from "../../src/server/raftd_args.ts";
import { ensurePeerSecretFile } from "../../src/transport/tcp.ts";

/** A running cluster. */
export interface RunningCluster {
  /** Client base URLs. */
  endpoints: string[];
  /** Stops every process and removes the data. */
  stop(): Promise<void>;
}

async function waitFor(
  url: string,
  ok: (r: Response, body: string) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
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

function spawn(cmd: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  }).spawn();
}

async function drain(child: Deno.ChildProcess, file: string): Promise<void> {
  if (!child.stderr) return;
  const f = await Deno.open(file, { write: true, create: true, append: true });
  await child.stderr.pipeTo(f.writable).catch(() => {});
}

async function stopAll(
  children: Deno.ChildProcess[],
  dir: string,
): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch { /* gone */ }
  }
  await Promise.all(children.map((c) => c.status));
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** A 3-node raftlock cluster of raftd processes. */
export async function startRaftlock(
  options: { basePort?: number; nodes?: number } = {},
): Promise<RunningCluster> {
  const n = options.nodes ?? 3;
  const base = options.basePort ?? 17100;
  const dir = await Deno.makeTempDir({ prefix: "raftlock-bench-" });
  const members = localMembers(n, base, dir);
  const peerSecretFile = await ensurePeerSecretFile(`${dir}/peer.secret`);
  const children: Deno.ChildProcess[] = [];
  const endpoints = members.map((m) => `http://${m.http}`);
  for (const m of members) {
    const child = spawn(
      Deno.execPath(),
      raftdArgs(m, members, ["--log-level", "warn"], { peerSecretFile }),
    );
    drain(child, `${m.dataDir}.log`);
    children.push(child);
  }
  try {
    for (const e of endpoints) {
      await waitFor(`${e}/readyz`, (r) => r.status === 200, 30_000);
    }
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  return { endpoints, stop: () => stopAll(children, dir) };
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

/** A 3-member etcd cluster (fsync on, as shipped). */
export async function startEtcd(
  options: { basePort?: number; members?: number } = {},
): Promise<RunningCluster> {
  const n = options.members ?? 3;
  const base = options.basePort ?? 17200;
  const dir = await Deno.makeTempDir({ prefix: "etcd-bench-" });
  const cluster = Array.from(
    { length: n },
    (_, i) => `e${i + 1}=http://127.0.0.1:${base + 50 + i}`,
  ).join(",");
  const children: Deno.ChildProcess[] = [];
  const endpoints: string[] = [];
  for (let i = 0; i < n; i++) {
    const client = `http://127.0.0.1:${base + i}`;
    const peer = `http://127.0.0.1:${base + 50 + i}`;
    endpoints.push(client);
    const child = spawn("etcd", [
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
    ]);
    drain(child, `${dir}/e${i + 1}.log`);
    children.push(child);
  }
  try {
    for (const e of endpoints) {
      await waitFor(
        `${e}/health`,
        (r, b) => r.status === 200 && b.includes('"true"'),
        30_000,
      );
    }
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  return { endpoints, stop: () => stopAll(children, dir) };
}
