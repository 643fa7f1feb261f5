/**
 * The faults a chaos run injects into a {@linkcode ChaosCluster}, one at a
 * time: kill -9 and restart, SIGSTOP/SIGCONT pauses longer than the
 * election timeout, network partitions (leader isolated, majority against
 * minority, a bridge), a slow disk, and a restart after cutting the WAL
 * tail where a power loss could have cut it. Half of the node-targeted
 * faults hit the leader, the node whose failure matters most.
 *
 * @module
 */

import { parseSegmentName } from "../storage/wal/segment.ts";
import type { ChaosCluster, ChaosNode } from "./cluster.ts";

/** The kinds of fault (all of them run by default). */
export const NEMESES = [
  "kill",
  "pause",
  "partition",
  "slow-disk",
  "truncate",
] as const;

/** Every kind of process or disk fault: {@linkcode NEMESES} and `kill-leader`. */
export const NODE_NEMESES = [...NEMESES, "kill-leader"] as const;

/** One kind of fault. */
export type NemesisKind = typeof NODE_NEMESES[number];

/** Something a fault did that the run measures. */
export interface FaultNote {
  /** The leader, about to be sent SIGKILL. */
  killedLeader?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Injects one fault of `kind`, waits it out and repairs it (restart, resume,
 * heal). Resolves with a one-line description of what it did. `note` hears
 * of leader kills just before the signal goes (for failover times).
 * `kill-leader` always kills the leader (a random node if none answers).
 */
export async function injectFault(
  kind: NemesisKind,
  cluster: ChaosCluster,
  random: () => number,
  log: (line: string) => void,
  note: (n: FaultNote) => void = () => {},
): Promise<string> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const target = async (): Promise<ChaosNode> =>
    random() < 0.5
      ? (await cluster.leader()) ?? pick(cluster.nodes)
      : pick(cluster.nodes);
  switch (kind) {
    case "kill":
    case "kill-leader": {
      const leader = await cluster.leader();
      const n = kind === "kill-leader"
        ? leader ?? pick(cluster.nodes)
        : random() < 0.5
        ? leader ?? pick(cluster.nodes)
        : pick(cluster.nodes);
      log(`kill -9 ${n.id}${n === leader ? " (the leader)" : ""}`);
      if (n === leader) note({ killedLeader: n.id });
      await cluster.kill(n);
      await sleep(500 + random() * 2000);
      await cluster.spawn(n);
      return `killed and restarted ${n.id}`;
    }
    case "pause": {
      const n = await target();
      const ms = 400 + Math.floor(random() * 1600);
      log(`pause ${n.id} for ${ms} ms`);
      cluster.pause(n, true);
      await sleep(ms);
      cluster.pause(n, false);
      return `paused ${n.id} for ${ms} ms`;
    }
    case "partition": {
      const groups = await partitionShape(cluster, random);
      const mode = random() < 0.5 ? "hold" : "close";
      const ms = 1000 + Math.floor(random() * 3000);
      const shape = groups.map((g) => g.join(",")).join(" | ");
      log(`partition ${shape} (${mode}) for ${ms} ms`);
      cluster.partition(groups, mode);
      await sleep(ms);
      cluster.heal();
      return `partitioned ${shape} (${mode}) for ${ms} ms`;
    }
    case "slow-disk": {
      const n = await target();
      const ms = 2000 + Math.floor(random() * 3000);
      // A process still starting has no signal handler yet (and SIGUSR2
      // would kill it).
      if (!(await cluster.nodeReady(n, 5000))) {
        return `${n.id} is not ready; no slow disk`;
      }
      log(`slow disk on ${n.id} for ${ms} ms`);
      cluster.slowDisk(n, true);
      await sleep(ms);
      cluster.slowDisk(n, false);
      return `slowed ${n.id}'s disk for ${ms} ms`;
    }
    case "truncate": {
      const leader = await cluster.leader();
      const n = random() < 0.5
        ? leader ?? pick(cluster.nodes)
        : pick(cluster.nodes);
      if (n === leader) note({ killedLeader: n.id });
      await cluster.kill(n);
      const cut = await cutUnsyncedTail(
        `${n.dataDir}/wal`,
        n.syncRecord,
        random,
      );
      log(`kill -9 ${n.id}, ${cut}`);
      await sleep(300 + random() * 1000);
      await cluster.spawn(n);
      return `killed ${n.id}, ${cut}, restarted`;
    }
  }
}

/**
 * Groups for a partition: the leader alone, a random minority against the
 * majority, or (with 3 or more nodes) a bridge: two sides that cannot
 * reach each other and one node that reaches both.
 */
async function partitionShape(
  cluster: ChaosCluster,
  random: () => number,
): Promise<string[][]> {
  const ids = cluster.nodes.map((n) => n.id);
  const shuffled = [...ids].sort(() => random() - 0.5);
  const roll = random();
  if (roll < 0.4) {
    const leader = (await cluster.leader())?.id ?? shuffled[0];
    return [[leader], ids.filter((id) => id !== leader)];
  }
  if (roll < 0.7 || ids.length < 3) {
    const k = Math.max(
      1,
      Math.floor(random() * Math.floor(ids.length / 2)) + 1,
    );
    return [shuffled.slice(0, k), shuffled.slice(k)];
  }
  // Bridge: shuffled[0] stays in no group, so it keeps every link.
  const rest = shuffled.slice(1);
  const half = Math.ceil(rest.length / 2);
  return [rest.slice(0, half), rest.slice(half)];
}

/**
 * Cuts the newest WAL segment in `walDir` at a random point at or after
 * the last byte its sync record shows durable, and sometimes extends it
 * with zeros (a size that reached the disk before the data did). A
 * segment without a record is left whole: nothing says what was synced.
 * Resolves with what it did.
 */
export async function cutUnsyncedTail(
  walDir: string,
  recordFile: string,
  random: () => number,
): Promise<string> {
  let record: Record<string, number> = {};
  try {
    record = JSON.parse(await Deno.readTextFile(recordFile));
  } catch { /* no sync yet */ }
  const synced = new Map<string, number>();
  for (const [path, size] of Object.entries(record)) {
    synced.set(path.slice(path.lastIndexOf("/") + 1), size);
  }
  let newest: { name: string; seq: number } | undefined;
  for await (const e of Deno.readDir(walDir)) {
    const p = parseSegmentName(e.name);
    if (p && (!newest || p.seq > newest.seq)) newest = { name: e.name, ...p };
  }
  if (!newest) return "no WAL segment to cut";
  const durable = synced.get(newest.name);
  if (durable === undefined) {
    return `${newest.name} has no sync record; not cut`;
  }
  const path = `${walDir}/${newest.name}`;
  const size = (await Deno.stat(path)).size;
  const at = durable + Math.floor(random() * (Math.max(0, size - durable) + 1));
  const zeros = random() < 0.5 ? 1 + Math.floor(random() * 4096) : 0;
  const f = await Deno.open(path, { write: true });
  try {
    await f.truncate(at);
    if (zeros > 0) await f.truncate(at + zeros);
  } finally {
    f.close();
  }
  return `cut ${newest.name} from ${size} to ${at} bytes (durable ${durable})` +
    (zeros ? ` + ${zeros} zero bytes` : "");
}
