/**
 * Test helpers for the Raft core: a tiny synchronous in-process network of
 * {@linkcode Raft} nodes over {@linkcode MemoryStorage}, and helpers for
 * driving a single core by hand in the style of etcd-io/raft's unit tests.
 *
 * The network's host loop is the real one in miniature: for each Ready it
 * persists (snapshot, entries, hard state), queues the messages, applies the
 * committed entries, records read states, then calls `advance()`. Messages
 * are delivered one at a time in FIFO order; after each delivery the
 * recipient's Readies are handled at once, so `deliverAll()` runs the
 * cluster until no node has anything left to do.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Raft, type RaftConfig } from "../../src/raft/raft.ts";
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
} from "../../src/raft/types.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";

/** Raft options a test may set (everything but id and storage). */
export type TestConfig = Partial<Omit<RaftConfig, "id" | "storage">>;

/** Classic Raft as in the paper: no PreVote and no CheckQuorum. */
export const CLASSIC: TestConfig = Object.freeze({
  preVote: false,
  checkQuorum: false,
});

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a string payload. */
export function data(s: string): Uint8Array {
  return enc.encode(s);
}

/** Decodes a payload written by {@linkcode data}. */
export function text(d: Uint8Array): string {
  return dec.decode(d);
}

/** A normal entry at `index` with `term` (payload optional). */
export function entry(index: number, term: number, payload = ""): Entry {
  return { index, term, type: EntryType.Normal, data: data(payload) };
}

/** Entries with consecutive indexes from `first`, one per term in `terms`. */
export function entriesFrom(first: number, ...terms: number[]): Entry[] {
  return terms.map((t, i) => entry(first + i, t));
}

/** The terms of `ents`, for compact comparisons of logs. */
export function termsOf(ents: readonly Entry[]): number[] {
  return ents.map((e) => e.term);
}

/** What a storage should hold before a test starts. */
export interface StorageSetup {
  /** Voters of the bootstrap configuration (or of the snapshot). */
  voters: NodeId[];
  /** Learners of the bootstrap configuration. */
  learners?: NodeId[];
  /** A snapshot to start from (its `conf` defaults to voters and learners). */
  snapshot?: { index: number; term: number; data?: string };
  /** Entries to append (after the snapshot, contiguous). */
  entries?: Entry[];
  /** The persisted hard state. */
  hardState?: Partial<HardState>;
}

/** A MemoryStorage preloaded as described. */
export function newStorage(setup: StorageSetup): MemoryStorage {
  const conf: ConfState = {
    voters: [...setup.voters],
    learners: [...(setup.learners ?? [])],
  };
  const s = new MemoryStorage({ conf });
  if (setup.snapshot) {
    s.applySnapshot({
      metadata: {
        index: setup.snapshot.index,
        term: setup.snapshot.term,
        conf,
      },
      data: data(setup.snapshot.data ?? ""),
    });
  }
  if (setup.entries && setup.entries.length > 0) s.append(setup.entries);
  if (setup.hardState) {
    s.setHardState({ term: 0, vote: "", commit: 0, ...setup.hardState });
  }
  return s;
}

// ------------------------------------------------------------ single core

const storages = new WeakMap<Raft, MemoryStorage>();

/** Options of {@linkcode newTestRaft}. */
export interface TestRaftOptions extends TestConfig {
  /** Learners of the bootstrap configuration. */
  learners?: NodeId[];
  /** A storage to use instead of an empty one. */
  storage?: MemoryStorage;
}

/**
 * A core with id `id` over a fresh MemoryStorage whose bootstrap
 * configuration has `peers` as voters (or over `options.storage`).
 */
export function newTestRaft(
  id: NodeId,
  peers: NodeId[],
  options: TestRaftOptions = {},
): Raft {
  const { learners, storage, ...config } = options;
  const s = storage ?? newStorage({ voters: peers, learners });
  const r = new Raft({ id, storage: s, ...config });
  storages.set(r, s);
  return r;
}

/** The storage a core made by {@linkcode newTestRaft} persists into. */
export function storageOf(r: Raft): MemoryStorage {
  const s = storages.get(r);
  if (!s) throw new Error(`No test storage known for ${r.id}`);
  return s;
}

/** What the host saw while draining a core's Readies. */
export interface Drained {
  /** Messages to send. */
  messages: Message[];
  /** Entries handed out for applying. */
  committed: Entry[];
  /** Read states that became ready. */
  readStates: ReadState[];
  /** Entries that were persisted. */
  persisted: Entry[];
}

/**
 * Plays the host for a core made by {@linkcode newTestRaft}: handles every
 * Ready (persist, collect messages, apply, advance) until none is left.
 */
export function drain(r: Raft): Drained {
  const s = storageOf(r);
  const out: Drained = {
    messages: [],
    committed: [],
    readStates: [],
    persisted: [],
  };
  for (let guard = 0; r.hasReady(); guard++) {
    if (guard > 1000) throw new Error(`${r.id} never settles`);
    const rd = r.ready();
    s.save({
      snapshot: rd.snapshot,
      entries: rd.entries,
      hardState: rd.hardState,
    });
    out.persisted.push(...rd.entries);
    out.messages.push(...rd.messages);
    out.committed.push(...rd.committedEntries);
    out.readStates.push(...rd.readStates);
    r.advance();
  }
  return out;
}

/** Persists a Ready the test took by hand (before it calls `advance()`). */
export function persist(r: Raft, rd: Ready): void {
  storageOf(r).save({
    snapshot: rd.snapshot,
    entries: rd.entries,
    hardState: rd.hardState,
  });
}

/** The messages the core wants sent (after persisting its Readies). */
export function readMessages(r: Raft): Message[] {
  return drain(r).messages;
}

/**
 * Makes a hand-driven core the leader: campaigns and grants it every
 * (pre)vote it asks for, then drains its Readies. Returns the messages it
 * sent as leader (the first AppendEntries carrying its no-op).
 */
export function electLeader(r: Raft): Message[] {
  r.campaign();
  let msgs = readMessages(r);
  for (let round = 0; r.status().role !== "leader"; round++) {
    if (round > 3) throw new Error(`${r.id} could not be elected`);
    const reqs = msgs.filter((m) => m.type === "vote" || m.type === "preVote");
    if (reqs.length === 0) throw new Error(`${r.id} asked for no votes`);
    for (const m of reqs) {
      r.step({
        type: m.type === "vote" ? "voteResp" : "preVoteResp",
        from: m.to,
        to: r.id,
        term: m.term,
      });
      if (r.status().role === "leader") break;
    }
    msgs = readMessages(r);
  }
  return msgs;
}

/**
 * Acknowledges everything in a hand-driven leader's log from every peer, so
 * its no-op (and all before it) commit. Returns the messages it sent.
 */
export function ackAll(r: Raft, peers: NodeId[]): Message[] {
  const last = r.log.lastIndex();
  const out: Message[] = [];
  for (const p of peers) {
    if (p === r.id) continue;
    r.step({ type: "appResp", from: p, to: r.id, term: r.term, index: last });
    out.push(...readMessages(r));
  }
  return out;
}

/** Node ids `n1..n<n>`. */
export function ids(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/**
 * An AppendEntries from n2, the leader, to n1. Unless given: term 1, the
 * entries follow index 0 (an empty log), and the leader's commit is 0.
 */
export function appFromN2(fields: Partial<Message> = {}): Message {
  return {
    type: "app",
    from: "n2",
    to: "n1",
    term: 1,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    ...fields,
  };
}

/** A core's role, as its status reports it. */
export function role(r: Raft): Role {
  return r.status().role;
}

// ---------------------------------------------------------------- network

/** Options of a {@linkcode Network}. */
export interface NetworkOptions {
  /** Learners of the bootstrap configuration (they also get a node). */
  learners?: NodeId[];
  /** Options for every core. */
  config?: TestConfig;
  /** Options for particular cores (on top of `config`). */
  perNode?: Record<NodeId, TestConfig>;
  /** Preloaded storages for particular nodes. */
  storages?: Record<NodeId, MemoryStorage>;
}

/** A snapshot a node installed, as its host saw it. */
export interface InstalledSnapshot {
  /** The node. */
  node: NodeId;
  /** The snapshot. */
  snapshot: Snapshot;
}

/**
 * A synchronous in-process network of cores. Messages may be dropped by
 * cutting links, isolating nodes, a `filter`, or held back with `hold` and
 * released later; `intercept` may rewrite a message in flight. Every
 * delivered message is recorded in `trace`.
 */
export class Network {
  /** The running cores (crashed nodes are absent). */
  readonly rafts = new Map<NodeId, Raft>();
  /** Each node's persisted state; it survives crashes. */
  readonly storages = new Map<NodeId, MemoryStorage>();
  /** Entries each node applied since it last (re)started. */
  readonly applied = new Map<NodeId, Entry[]>();
  /** Read states each node reported. */
  readonly readStates = new Map<NodeId, ReadState[]>();
  /** Snapshots installed by followers. */
  readonly installed: InstalledSnapshot[] = [];
  /** Every message delivered to a running core, in order. */
  readonly trace: Message[] = [];
  /** Messages dropped by cut links, isolation, filters or crashes. */
  readonly dropped: Message[] = [];
  /** Messages held back by `hold`. */
  held: Message[] = [];
  /** Return false to drop a message. */
  filter?: (m: Message) => boolean;
  /** Rewrites a message in flight; return undefined to drop it. */
  intercept?: (m: Message) => Message | undefined;
  /** Return true to hold a message back until {@linkcode release}. */
  hold?: (m: Message) => boolean;

  readonly #config: TestConfig;
  readonly #perNode: Record<NodeId, TestConfig>;
  readonly #cut = new Set<string>();
  #queue: Message[] = [];
  readonly #released = new WeakSet<Message>();

  /**
   * A network of nodes `ids` (all voters of the bootstrap configuration,
   * plus `options.learners`), all started.
   */
  constructor(ids: NodeId[], options: NetworkOptions = {}) {
    this.#config = options.config ?? {};
    this.#perNode = options.perNode ?? {};
    const learners = options.learners ?? [];
    for (const id of [...ids, ...learners]) {
      const s = options.storages?.[id] ??
        newStorage({ voters: ids, learners });
      this.storages.set(id, s);
      this.restart(id);
    }
  }

  /** The running core of `id` (throws if it is down). */
  raft(id: NodeId): Raft {
    const r = this.rafts.get(id);
    if (!r) throw new Error(`Node ${id} is not running`);
    return r;
  }

  /** The running node that is leader in the highest term, if any. */
  leader(): NodeId | undefined {
    let best: Raft | undefined;
    for (const r of this.rafts.values()) {
      if (r.role === "leader" && (!best || r.term > best.term)) best = r;
    }
    return best?.id;
  }

  /**
   * Adds a brand-new node whose storage starts with `conf` (empty by
   * default: it learns its configuration from the leader's log).
   */
  addNode(
    id: NodeId,
    conf: ConfState = { voters: [], learners: [] },
    config: TestConfig = {},
  ): Raft {
    this.storages.set(id, new MemoryStorage({ conf }));
    this.#perNode[id] = { ...this.#perNode[id], ...config };
    return this.restart(id);
  }

  /** Stops `id`; only its persisted storage survives. */
  crash(id: NodeId): void {
    this.rafts.delete(id);
  }

  /** Starts (or restarts) `id` from its persisted storage. */
  restart(id: NodeId, config: TestConfig = {}): Raft {
    const storage = this.storages.get(id);
    if (!storage) throw new Error(`Unknown node ${id}`);
    const r = new Raft({
      id,
      storage,
      ...this.#config,
      ...this.#perNode[id],
      ...config,
    });
    storages.set(r, storage);
    this.rafts.set(id, r);
    this.applied.set(id, []);
    this.readStates.set(id, this.readStates.get(id) ?? []);
    return r;
  }

  /** Cuts the link between `a` and `b` in both directions. */
  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}>${b}`);
    this.#cut.add(`${b}>${a}`);
  }

  /** Cuts the link from `from` to `to` only. */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.#cut.add(`${from}>${to}`);
  }

  /** Cuts every link of `id` to the other known nodes. */
  isolate(id: NodeId): void {
    for (const other of this.storages.keys()) {
      if (other !== id) this.cut(id, other);
    }
  }

  /** Restores every cut link and removes the filter. */
  heal(): void {
    this.#cut.clear();
    this.filter = undefined;
  }

  /**
   * Delivers the held messages that match `pred` (all by default); released
   * messages are not held again.
   */
  release(pred: (m: Message) => boolean = () => true): void {
    const keep: Message[] = [];
    for (const m of this.held) {
      if (pred(m)) {
        this.#released.add(m);
        this.#queue.push(m);
      } else keep.push(m);
    }
    this.held = keep;
    this.deliverAll();
  }

  /** Injects messages (as if they arrived from the wire) and delivers. */
  send(...msgs: Message[]): void {
    this.#queue.push(...msgs);
    this.deliverAll();
  }

  /** Starts an election at `id` and runs the network until quiet. */
  campaign(id: NodeId): void {
    this.raft(id).campaign();
    this.deliverAll();
  }

  /** Proposes string payloads at `id` and runs the network until quiet. */
  propose(id: NodeId, ...payloads: string[]): void {
    this.raft(id).propose(...payloads.map(data));
    this.deliverAll();
  }

  /** Ticks `id` `n` times, running the network after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.raft(id).tick();
      this.deliverAll();
    }
  }

  /** Ticks every running node `n` times, running the network after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const r of [...this.rafts.values()]) r.tick();
      this.deliverAll();
    }
  }

  /** Handles Readies and delivers messages until nothing is left to do. */
  deliverAll(): void {
    let delivered = 0;
    for (;;) {
      for (const id of [...this.rafts.keys()]) this.#handleReadies(id);
      if (this.#queue.length === 0) return;
      while (this.#queue.length > 0) {
        if (++delivered > 100_000) {
          throw new Error("The network never went quiet");
        }
        this.#deliver(this.#queue.shift()!);
      }
    }
  }

  /** The persisted log of `id` (everything is persisted once quiet). */
  log(id: NodeId): Entry[] {
    const s = this.storages.get(id)!;
    const first = s.firstIndex();
    const last = s.lastIndex();
    return last < first ? [] : s.entries(first, last + 1, Infinity);
  }

  /** The payloads (as strings) of the non-empty normal entries `id` applied. */
  appliedData(id: NodeId): string[] {
    return (this.applied.get(id) ?? [])
      .filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => text(e.data));
  }

  /** Delivered messages matching `pred`. */
  sent(pred: (m: Message) => boolean): Message[] {
    return this.trace.filter(pred);
  }

  /** Forgets the trace and the dropped messages. */
  clearTrace(): void {
    this.trace.length = 0;
    this.dropped.length = 0;
  }

  #deliver(m: Message): void {
    if (this.#cut.has(`${m.from}>${m.to}`)) {
      this.dropped.push(m);
      return;
    }
    if (this.filter && !this.filter(m)) {
      this.dropped.push(m);
      return;
    }
    const mm = this.intercept ? this.intercept(m) : m;
    if (!mm) {
      this.dropped.push(m);
      return;
    }
    if (this.hold && !this.#released.has(m) && this.hold(mm)) {
      this.held.push(mm);
      return;
    }
    const r = this.rafts.get(mm.to);
    if (!r) {
      this.dropped.push(mm);
      return;
    }
    this.trace.push(mm);
    r.step(mm.entries ? { ...mm, entries: mm.entries.slice() } : mm);
    this.#handleReadies(mm.to);
  }

  #handleReadies(id: NodeId): void {
    const r = this.rafts.get(id);
    if (!r) return;
    const s = this.storages.get(id)!;
    for (let guard = 0; r.hasReady(); guard++) {
      if (guard > 1000) throw new Error(`Node ${id} never settles`);
      const rd = r.ready();
      s.save({
        snapshot: rd.snapshot,
        entries: rd.entries,
        hardState: rd.hardState,
      });
      this.#queue.push(...rd.messages);
      if (rd.snapshot) {
        this.installed.push({ node: id, snapshot: rd.snapshot });
        this.applied.set(id, []);
      }
      this.applied.get(id)!.push(...rd.committedEntries);
      this.readStates.get(id)!.push(...rd.readStates);
      r.advance();
    }
  }
}

/**
 * A network of voters n1..n3 (and `options.learners`) in which n1 has been
 * elected and its no-op committed; the trace starts empty.
 */
export function ledByN1(options: NetworkOptions = {}): Network {
  const net = new Network(["n1", "n2", "n3"], options);
  net.campaign("n1");
  assert.equal(net.leader(), "n1");
  net.clearTrace();
  return net;
}
