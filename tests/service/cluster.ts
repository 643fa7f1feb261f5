/**
 * Test support for service tests: `n` nodes in this process, each a
 * RaftNode on MemoryStorage with its own state machine and LockService,
 * over an in-memory transport. Fast, and nothing on disk or the network.
 */

import { RaftNode } from "../../src/node/node.ts";
import { LockService, type LockServiceOptions } from "../../src/service/mod.ts";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import type { LeaseChange } from "../../src/state/mod.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { MemoryHub } from "../../src/transport/memory.ts";

/** One member. */
export interface Member {
  /** Its id. */
  id: string;
  /** Its node. */
  node: RaftNode;
  /** Its state machine. */
  state: ServiceStateMachine;
  /** Its service. */
  service: LockService;
  /** Entries applied here that renewed leases (keepalives of any kind). */
  keepaliveEntries: number;
  /** Whether it was stopped. */
  stopped: boolean;
}

/** Service options for every member (node and state are filled in). */
export type MemberOptions = Omit<LockServiceOptions, "node" | "state">;

/** An in-process cluster of services. */
export class ServiceCluster {
  readonly members: Member[] = [];
  readonly #hub = new MemoryHub({ seed: 7 });

  private constructor() {}

  /** Starts `n` members (n1..nN) and waits until they agree on a leader. */
  static async start(
    n: number,
    options: MemberOptions = {},
  ): Promise<ServiceCluster> {
    const c = new ServiceCluster();
    const voters = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    for (const id of voters) {
      const state = new ServiceStateMachine();
      const node = RaftNode.start({
        id,
        storage: new MemoryStorage({ conf: { voters, learners: [] } }),
        transport: c.#hub.connect(id),
        stateMachine: state,
      });
      const m: Member = {
        id,
        node,
        state,
        service: new LockService({ node, state, ...options }),
        keepaliveEntries: 0,
        stopped: false,
      };
      state.onLeaseChanges((changes: readonly LeaseChange[]) => {
        if (changes.some((ch) => ch.type === "keepalive")) m.keepaliveEntries++;
      });
      c.members.push(m);
    }
    c.members[0].node.campaign();
    await c.leader();
    return c;
  }

  /** The leader, once every running member knows it and it has applied its no-op. */
  async leader(timeoutMs = 10_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const up = this.members.filter((m) => !m.stopped);
      const l = up.find((m) => m.node.isLeader);
      if (l && up.every((m) => m.node.leader === l.id)) {
        await l.node.read();
        return l;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("No leader within the timeout");
  }

  /** A running member that does not lead. */
  async follower(): Promise<Member> {
    const l = await this.leader();
    return this.members.find((m) => m !== l && !m.stopped)!;
  }

  /** Stops one member (its service, then its node), as if its process ended. */
  async stop(m: Member): Promise<void> {
    m.stopped = true;
    m.service.close();
    await m.node.stop();
  }

  /** Stops everything. */
  async close(): Promise<void> {
    for (const m of this.members) if (!m.stopped) await this.stop(m);
    this.#hub.close();
  }
}

/** Polls `check` every 20 ms until it holds or `timeoutMs` passes. */
export async function eventually(
  check: () => boolean,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
