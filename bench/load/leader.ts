/**
 * Who leads, in which term, and how many leader changes each node has
 * counted: read before and after every row, so that a row during which
 * the leader changed is marked and kept out of the medians.
 *
 * - raftlock: `GET /v1/status` on each node (role, term, leader) and the
 *   `raftlock_leader_changes_total` counter of `GET /metrics` (each node
 *   counts its own role changes, so a failed pre-vote shows there too).
 * - etcd: `POST /v3/maintenance/status` on each member (member id, leader,
 *   raft term) and `etcd_server_leader_changes_seen_total` of `/metrics`.
 *
 * @module
 */

/** One look at a cluster. */
export interface LeaderView {
  /** The leader's id (raftlock node id, etcd member id), or "" if none. */
  leader: string;
  /** The leader's client URL, if known. */
  url?: string;
  /** The highest term any node reported. */
  term: number;
  /** Sum of every answering node's leader-change counter. */
  changes: number;
  /** How many nodes answered. */
  answered: number;
}

/** How a row's cluster changed between two views. */
export interface LeaderChange {
  /** Leader or term differ: an election happened. */
  changed: boolean;
  /** Growth of the summed leader-change counters (when all nodes answered both times). */
  counted: number;
  /** `n1@3 → n2@4`, or `n1@3` when nothing changed. */
  text: string;
}

/** Reads a cluster's leadership. */
export interface LeaderProbe {
  /** The system's name. */
  readonly system: string;
  /** Looks once. */
  view(): Promise<LeaderView>;
}

const TIMEOUT_MS = 1_000;

async function getText(url: string, init?: RequestInit): Promise<string> {
  const r = await fetch(url, {
    ...init,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return text;
}

function counter(metrics: string, name: string): number {
  const m = metrics.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m"));
  return m ? Number(m[1]) : 0;
}

/** raftlock's leadership from `/v1/status` and `/metrics`. */
export class RaftlockLeaderProbe implements LeaderProbe {
  readonly system = "raftlock";
  /** The nodes' base URLs. */
  constructor(readonly endpoints: readonly string[]) {}

  async view(): Promise<LeaderView> {
    const looks = await Promise.all(this.endpoints.map(async (url) => {
      try {
        const [status, metrics] = await Promise.all([
          getText(`${url}/v1/status`),
          getText(`${url}/metrics`),
        ]);
        const s = JSON.parse(status) as {
          id: string;
          role: string;
          term: number;
        };
        return {
          url,
          ...s,
          changes: counter(metrics, "raftlock_leader_changes_total"),
        };
      } catch {
        return undefined;
      }
    }));
    const ok = looks.filter((l) => l !== undefined);
    const term = Math.max(0, ...ok.map((l) => l.term));
    const leader = ok.find((l) => l.role === "leader" && l.term === term);
    return {
      leader: leader?.id ?? "",
      url: leader?.url,
      term,
      changes: ok.reduce((a, l) => a + l.changes, 0),
      answered: ok.length,
    };
  }
}

/** etcd's leadership from `/v3/maintenance/status` and `/metrics`. */
export class EtcdLeaderProbe implements LeaderProbe {
  readonly system = "etcd";
  /** The members' client URLs. */
  constructor(readonly endpoints: readonly string[]) {}

  async view(): Promise<LeaderView> {
    const looks = await Promise.all(this.endpoints.map(async (url) => {
      try {
        const [status, metrics] = await Promise.all([
          getText(`${url}/v3/maintenance/status`, {
            method: "POST",
            body: "{}",
          }),
          getText(`${url}/metrics`),
        ]);
        const s = JSON.parse(status) as {
          header: { member_id: string };
          leader: string;
          raftTerm: string;
        };
        return {
          url,
          id: s.header.member_id,
          leader: s.leader,
          term: Number(s.raftTerm),
          changes: counter(metrics, "etcd_server_leader_changes_seen_total"),
        };
      } catch {
        return undefined;
      }
    }));
    const ok = looks.filter((l) => l !== undefined);
    const term = Math.max(0, ...ok.map((l) => l.term));
    // The leader as the members of the newest term see it; it is only a
    // leader if it answers for itself.
    const said = ok.find((l) => l.term === term && l.leader !== "0")?.leader;
    const self = ok.find((l) => l.id === said);
    return {
      leader: self ? said! : "",
      url: self?.url,
      term,
      changes: ok.reduce((a, l) => a + l.changes, 0),
      answered: ok.length,
    };
  }
}

/** Compares two views of the same cluster of `nodes` nodes. */
export function compareViews(
  before: LeaderView,
  after: LeaderView,
  nodes: number,
): LeaderChange {
  const name = (v: LeaderView) => `${short(v.leader) || "none"}@${v.term}`;
  const changed = before.leader !== after.leader || before.term !== after.term;
  const counted = before.answered === nodes && after.answered === nodes
    ? after.changes - before.changes
    : 0;
  return {
    changed,
    counted,
    text: changed ? `${name(before)} → ${name(after)}` : name(after),
  };
}

// etcd member ids are 19-digit numbers: the last four tell them apart.
function short(id: string): string {
  return id.length > 8 ? `…${id.slice(-4)}` : id;
}

/**
 * Waits until the cluster has a leader that answers, up to `timeoutMs`.
 *
 * @example
 * ```ts
 * import { RaftlockLeaderProbe, waitForLeader } from "./leader.ts";
 *
 * const probe = new RaftlockLeaderProbe(["http://127.0.0.1:17150"]);
 * const view = await waitForLeader(probe);
 * console.log(view.leader, view.url);
 * ```
 */
export async function waitForLeader(
  probe: LeaderProbe,
  timeoutMs = 15_000,
): Promise<LeaderView & { url: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe.view();
    if (v.leader && v.url) return v as LeaderView & { url: string };
    if (Date.now() > deadline) {
      throw new Error(`${probe.system} has no leader after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
