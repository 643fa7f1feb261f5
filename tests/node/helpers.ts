/**
 * Test helpers for the node runtime: a tiny key-value state machine and an
 * in-process cluster over MemoryStorage and MemoryHub.
 */

import { RaftNode } from "../../src/node/node.ts";
import type {
  ApplyContext,
  StateMachine,
} from "../../src/node/state_machine.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { MemoryHub } from "../../src/transport/memory.ts";
import type { NodeId } from "../../src/raft/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A state machine that appends every command to a list and counts "set k=v" writes. */
export class ListMachine implements StateMachine {
  applied: string[] = [];
  kv = new Map<string, string>();
  apply(command: Uint8Array, ctx: ApplyContext): unknown {
    const s = dec.decode(command);
    this.applied.push(s);
    const m = s.match(/^set (\w+)=(.*)$/);
    if (m) this.kv.set(m[1], m[2]);
    return { n: this.applied.length, index: ctx.index };
  }
  snapshot(): Uint8Array {
    return enc.encode(
      JSON.stringify({ applied: this.applied, kv: [...this.kv] }),
    );
  }
  restore(data: Uint8Array): void {
    const s = JSON.parse(dec.decode(data));
    this.applied = s.applied;
    this.kv = new Map(s.kv);
  }
}

/** Encodes a command string. */
export function cmd(s: string): Uint8Array {
  return enc.encode(s);
}

/** An in-process cluster of RaftNodes. */
export class TestCluster {
  hub = new MemoryHub({ seed: 7 });
  storages = new Map<NodeId, MemoryStorage>();
  machines = new Map<NodeId, ListMachine>();
  nodes = new Map<NodeId, RaftNode>();
  voters: NodeId[];

  constructor(
    n: number,
    readonly options: {
      snapshotEvery?: number;
      readLease?: boolean;
      electionTicks?: number;
    } = {},
  ) {
    this.voters = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    for (const id of this.voters) {
      this.storages.set(
        id,
        new MemoryStorage({ conf: { voters: this.voters, learners: [] } }),
      );
      this.start(id);
    }
  }

  start(id: NodeId): RaftNode {
    let storage = this.storages.get(id);
    if (!storage) {
      storage = new MemoryStorage();
      this.storages.set(id, storage);
    }
    const sm = new ListMachine();
    this.machines.set(id, sm);
    const node = RaftNode.start({
      id,
      storage,
      transport: this.hub.connect(id),
      stateMachine: sm,
      snapshotEvery: this.options.snapshotEvery,
      readLease: this.options.readLease,
      raft: this.options.electionTicks
        ? { electionTicks: this.options.electionTicks }
        : undefined,
      self: { httpAddress: `http-${id}`, peerAddress: `peer-${id}` },
    });
    this.nodes.set(id, node);
    return node;
  }

  async stop(id: NodeId): Promise<void> {
    const n = this.nodes.get(id);
    this.nodes.delete(id);
    await n?.stop();
  }

  async leader(timeoutMs = 5000): Promise<RaftNode> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const n of this.nodes.values()) if (n.isLeader) return n;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("No leader elected");
  }

  /** The leader, once every running node knows it. */
  async agreedLeader(timeoutMs = 5000): Promise<RaftNode> {
    const leader = await this.leader(timeoutMs);
    await eventually(
      () => [...this.nodes.values()].every((n) => n.leader === leader.id),
      3000,
      "every node to know the leader",
    );
    return leader;
  }

  /**
   * Makes node `id`'s next storage write hang (a full or slow disk) until
   * `release()`; `stuck` tells whether one is hanging.
   */
  holdWrites(id: NodeId): { readonly stuck: boolean; release(): void } {
    const storage = this.storages.get(id)!;
    const save = storage.save.bind(storage);
    let stuck = false;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    storage.save = (u) => {
      stuck = true;
      return released.then(() => save(u));
    };
    return {
      get stuck() {
        return stuck;
      },
      release: () => release(),
    };
  }

  async close(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
    this.hub.close();
  }
}

/** Waits until `cond` holds, polling. */
export async function eventually(
  cond: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
