/**
 * A simulated cluster: Raft cores over in-memory storage and a faulty
 * in-memory network, driven one 10 ms tick at a time by a virtual clock.
 * Everything random comes from one seeded generator, so a seed replays
 * exactly.
 *
 * Each node's host loop is the real one in miniature: persist the Ready,
 * send its messages, apply committed entries, serve reads, advance.
 *
 * @module
 */

import { ProposalDroppedError } from "../raft/errors.ts";
import { Raft, type RaftEvent, type TestingKnobs } from "../raft/raft.ts";
import {
  EntryType,
  type Message,
  type NodeId,
  type Ready,
} from "../raft/types.ts";
import { decodeConfChange } from "../raft/confchange.ts";
import { MemoryStorage } from "../storage/memory.ts";
import type { LogStore } from "../storage/types.ts";
import type { ConfState } from "../raft/types.ts";
import { FaultyNetwork } from "../transport/memory.ts";
import { SafetyChecker } from "./checker.ts";
import type {
  ServiceStateMachine,
  ServiceStateMachineOptions,
} from "../state/machine.ts";
import type { CommandResult } from "../state/results.ts";
import type { Entry } from "../raft/types.ts";

/** Milliseconds of virtual time per tick. */
export const TICK_MS = 10;

/** Options for a {@linkcode SimCluster}. */
export interface SimClusterOptions {
  /** Initial voters (default 3). */
  nodes?: number;
  /** The seeded generator every random choice comes from. */
  random: () => number;
  /** Take a snapshot after this many entries applied since the last one (default 64). */
  snapshotEvery?: number;
  /** Planted bugs (tests of the tests). */
  knobs?: TestingKnobs;
  /**
   * Opens a node's durable store (the file-backed "slow mode"); a crash
   * closes it and a restart opens it again, running recovery. Without it
   * nodes use `MemoryStorage` and the cluster runs synchronously. With it,
   * drive the cluster with `tickAsync()`.
   */
  openStorage?: (id: NodeId, conf: ConfState | undefined) => Promise<LogStore>;
  /** Receives a line for each notable event (for `--seed` replays). */
  trace?: (line: string) => void;
  /**
   * Makes each node's replicated service state machine. Without it nodes
   * run only the tiny hash state machine; with it every node also applies
   * committed entries to its own `ServiceStateMachine` (snapshotted and
   * restored with the hash) and {@linkcode SimClusterOptions.onApply}
   * receives each result.
   */
  service?: () => ServiceStateMachine;
  /** Called after a node applied a normal entry to its service state machine. */
  onApply?: (node: SimNode, entry: Entry, result: CommandResult) => void;
}

/** Options of the service state machine in simulations (small, for speed). */
export const SIM_SERVICE_OPTIONS: ServiceStateMachineOptions = {
  historySize: 256,
  dedupeMaxEntries: 100_000,
};

/** The tiny state machine each simulated node runs: it folds entries into a hash. */
export interface SimState {
  /** Index of the last applied entry. */
  index: number;
  /** A hash over every applied payload, in order. */
  hash: number;
}

/** One simulated node: its persisted store survives crashes; the rest does not. */
export class SimNode {
  /** The node's id. */
  readonly id: NodeId;
  /** What survives a crash. */
  storage: LogStore;
  /** The bootstrap configuration (for a store that must be created). */
  conf: ConfState | undefined;
  /** The running core, absent while crashed. */
  raft: Raft | undefined;
  /** The state machine (rebuilt from the snapshot on restart). */
  state: SimState = { index: 0, hash: 0 };
  /** Reads waiting for leadership confirmation or for apply. */
  reads = new Map<
    string,
    { startCommit: number; index?: number; done?: (node: SimNode) => void }
  >();
  /** The service state machine (service mode; rebuilt on restart). */
  service: ServiceStateMachine | undefined;
  /** Counts boots: a pending request survives only within one incarnation. */
  incarnation = 0;
  /** True once the node has left the cluster for good. */
  retired = false;
  /** Entries applied since the last snapshot. */
  sinceSnapshot = 0;
  /** File-backed mode: what the store held when the node crashed. */
  persisted?: {
    hardState: { term: number; vote: string; commit: number };
    lastIndex: number;
    lastTerm: number;
    snapshotIndex: number;
  };

  /** A node over `storage`. */
  constructor(id: NodeId, storage: LogStore, conf?: ConfState) {
    this.id = id;
    this.storage = storage;
    this.conf = conf;
  }

  /** True while the process runs. */
  get up(): boolean {
    return this.raft !== undefined;
  }
}

/** Counters a run reports. */
export interface SimStats {
  /** Proposals the cores accepted. */
  proposals: number;
  /** Proposals refused (no leader, transfer, removed). */
  dropped: number;
  /** Reads served after leadership confirmation. */
  reads: number;
  /** Leader elections (distinct terms with a leader). */
  elections: number;
  /** Crashes and restarts. */
  crashes: number;
  /** Snapshots taken by hosts. */
  snapshots: number;
  /** Snapshots installed from a leader. */
  snapshotsInstalled: number;
  /** Configuration changes applied. */
  confChanges: number;
  /** Leadership transfers requested. */
  transfers: number;
  /** Highest commit index reached. */
  maxCommit: number;
}

/** A cluster of simulated nodes on one virtual clock. */
export class SimCluster {
  /** Virtual time in ms. */
  now = 0;
  /** The step (tick) count. */
  stepCount = 0;
  /** All nodes ever created, by id (crashed and retired ones too). */
  readonly nodes = new Map<NodeId, SimNode>();
  /** The network between them. */
  readonly network: FaultyNetwork;
  /** The safety checks. */
  readonly checker = new SafetyChecker();
  /** What happened. */
  readonly stats: SimStats = {
    proposals: 0,
    dropped: 0,
    reads: 0,
    elections: 0,
    crashes: 0,
    snapshots: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    transfers: 0,
    maxCommit: 0,
  };
  readonly #random: () => number;
  readonly #snapshotEvery: number;
  // Per-seed limits, small ones included, so batching and flow control
  // are exercised (and old-term entries travel apart from the no-op).
  readonly #maxSizePerMsg: number;
  readonly #maxInflight: number;
  readonly #knobs?: TestingKnobs;
  readonly #trace?: (line: string) => void;
  readonly #service?: () => ServiceStateMachine;
  readonly #onApply?: (
    node: SimNode,
    entry: Entry,
    result: CommandResult,
  ) => void;
  #nextId: number;
  readonly #openStorage?: (
    id: NodeId,
    conf: ConfState | undefined,
  ) => Promise<LogStore>;
  // File-backed mode: stores to close (crashed nodes), nodes to reopen, and
  // snapshot writes in flight.
  #toClose: LogStore[] = [];
  #toOpen = new Set<SimNode>();
  #pendingIo: Promise<unknown>[] = [];
  #proposalSeq = 0;
  #readSeq = 0;
  #seenLeaderTerms = new Set<number>();

  /**
   * Creates and starts the initial voters `n1..nN` over `MemoryStorage`, or
   * over `stores` when given (see {@linkcode SimCluster.openOnDisk}).
   */
  constructor(options: SimClusterOptions, stores?: Map<NodeId, LogStore>) {
    this.#random = options.random;
    this.#snapshotEvery = options.snapshotEvery ?? 64;
    this.#knobs = options.knobs;
    this.#trace = options.trace;
    this.#openStorage = options.openStorage;
    this.#service = options.service;
    this.#onApply = options.onApply;
    this.network = new FaultyNetwork({ random: this.#random });
    this.#maxSizePerMsg =
      [64, 256, 4096, 1024 * 1024][Math.floor(this.#random() * 4)];
    this.#maxInflight = [2, 8, 256][Math.floor(this.#random() * 3)];
    const n = options.nodes ?? 3;
    const voters = SimCluster.initialVoters(n);
    this.#nextId = n + 1;
    for (const id of voters) {
      const conf = { voters, learners: [] };
      const node = new SimNode(
        id,
        stores?.get(id) ?? new MemoryStorage({ conf }),
        conf,
      );
      this.nodes.set(id, node);
      this.#boot(node);
    }
  }

  /** The ids of the first `n` voters. */
  static initialVoters(n: number): NodeId[] {
    return Array.from({ length: n }, (_, i) => `n${i + 1}`);
  }

  /** A cluster whose nodes persist through `options.openStorage` (drive it with `tickAsync`). */
  static async openOnDisk(
    options:
      & SimClusterOptions
      & Required<Pick<SimClusterOptions, "openStorage">>,
  ): Promise<SimCluster> {
    const voters = SimCluster.initialVoters(options.nodes ?? 3);
    const stores = new Map<NodeId, LogStore>();
    for (const id of voters) {
      stores.set(id, await options.openStorage(id, { voters, learners: [] }));
    }
    return new SimCluster(options, stores);
  }

  /** Closes every open store (file-backed mode). */
  async close(): Promise<void> {
    await this.#io();
    for (const n of this.nodes.values()) if (n.up) await n.storage.close();
  }

  /** The seeded generator. */
  random(): number {
    return this.#random();
  }

  /** Logs a trace line with the virtual time. */
  trace(line: string): void {
    this.#trace?.(`${String(this.now).padStart(7)}ms ${line}`);
  }

  /** Running, non-retired nodes. */
  liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up && !n.retired);
  }

  /** Nodes that are members (not retired), running or not. */
  memberNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => !n.retired);
  }

  /** The node that is leader in the highest term, if any is running. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.liveNodes()) {
      if (
        n.raft!.role === "leader" && (!best || n.raft!.term > best.raft!.term)
      ) best = n;
    }
    return best;
  }

  #boot(node: SimNode): void {
    const snap = node.storage.snapshot();
    this.#restoreState(node, snap.data, snap.metadata.index);
    node.incarnation++;
    node.sinceSnapshot = 0;
    node.reads.clear();
    node.raft = new Raft({
      id: node.id,
      storage: node.storage,
      applied: snap.metadata.index,
      random: this.#random,
      maxSizePerMsg: this.#maxSizePerMsg,
      maxInflight: this.#maxInflight,
      testingKnobs: this.#knobs,
      logger: (e: RaftEvent) => this.#onEvent(e),
    });
    this.checker.observeRestart(node.id, node.raft.log.committed);
  }

  #onEvent(e: RaftEvent): void {
    if (!this.#trace) return;
    const { event, id, ...rest } = e;
    this.trace(`${id} ${event} ${JSON.stringify(rest)}`);
  }

  // ------------------------------------------------------------- actions

  /** Kills a node: everything not persisted is lost. */
  crash(node: SimNode): void {
    if (!node.up) return;
    node.raft = undefined;
    node.reads.clear();
    // Everything saved is durable (saves are awaited); recovery must bring it back.
    if (this.#openStorage) {
      const st = node.storage;
      const last = st.lastIndex();
      node.persisted = {
        hardState: st.initialState().hardState,
        lastIndex: last,
        lastTerm: st.term(last),
        snapshotIndex: st.firstIndex() - 1,
      };
      this.#toClose.push(st);
    }
    this.network.dropTo(node.id);
    this.stats.crashes++;
    this.trace(`${node.id} CRASH`);
  }

  /** Restarts a crashed node from its persisted state. */
  restart(node: SimNode): void {
    if (node.up || node.retired) return;
    if (this.#openStorage) {
      this.#toOpen.add(node); // opened (with recovery) at the next tickAsync
      return;
    }
    this.#boot(node);
    this.trace(
      `${node.id} RESTART term=${node.raft!.term} commit=${
        node.raft!.log.committed
      }`,
    );
  }

  /** Proposes a client command on `node`; false when refused. */
  propose(node: SimNode): boolean {
    const seq = ++this.#proposalSeq;
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat64(0, seq);
    try {
      node.raft!.propose(data);
      this.stats.proposals++;
      return true;
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      this.stats.dropped++;
      return false;
    }
  }

  /**
   * Starts a linearizable read on `node`; `done` runs once the node has
   * confirmed the read index and applied up to it. False when refused.
   */
  read(node: SimNode, done?: (node: SimNode) => void): boolean {
    const ctx = `r${++this.#readSeq}`;
    try {
      node.raft!.readIndex(ctx);
      node.reads.set(ctx, { startCommit: this.checker.maxCommit(), done });
      return true;
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      return false;
    }
  }

  /**
   * Proposes `data` on `node`; throws `ProposalDroppedError` when refused
   * (counted as dropped).
   */
  proposeData(node: SimNode, data: Uint8Array): void {
    try {
      node.raft!.propose(data);
      this.stats.proposals++;
    } catch (e) {
      if (e instanceof ProposalDroppedError) this.stats.dropped++;
      throw e;
    }
  }

  /** Adds a brand-new node as a learner; returns it, or undefined if refused. */
  addLearner(): SimNode | undefined {
    const leader = this.leader();
    if (!leader) return undefined;
    const id = `n${this.#nextId}`;
    try {
      leader.raft!.proposeConfChange({ type: "addLearner", node: id });
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      return undefined;
    }
    this.#nextId++;
    // In file-backed mode the placeholder store is replaced before first use.
    const node = new SimNode(id, new MemoryStorage());
    this.nodes.set(id, node);
    if (this.#openStorage) this.#toOpen.add(node);
    else this.#boot(node);
    this.trace(`${id} JOIN as learner`);
    return node;
  }

  /** Proposes a membership change on the leader; false when refused. */
  changeMembership(type: "promote" | "remove", id: NodeId): boolean {
    const leader = this.leader();
    if (!leader) return false;
    try {
      leader.raft!.proposeConfChange({ type, node: id });
      this.trace(`${leader.id} propose ${type} ${id}`);
      return true;
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      return false;
    }
  }

  /** Asks the leader to transfer leadership to `to`. */
  transfer(to: NodeId): void {
    const leader = this.leader();
    if (!leader) return;
    try {
      leader.raft!.transferLeader(to);
      this.stats.transfers++;
      this.trace(`${leader.id} TRANSFER to ${to}`);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  }

  /** Takes a snapshot at the node's applied index and compacts its log. */
  snapshot(node: SimNode): void {
    if (!node.up) return;
    const applied = node.state.index;
    if (applied <= node.storage.firstIndex() - 1) return;
    // The log may not reach applied yet if a snapshot is pending install.
    if (applied > node.storage.lastIndex()) return;
    const done = node.storage.createSnapshot(
      applied,
      node.raft!.confStateAt(applied),
      this.#encodeState(node),
    );
    if (done instanceof Promise) this.#pendingIo.push(done);
    node.sinceSnapshot = 0;
    this.stats.snapshots++;
  }

  // ----------------------------------------------------------------- step

  /** One tick: deliver due messages, tick every node, handle Readies, check. */
  tick(): void {
    this.#beginTick();
    this.settle();
  }

  /** One tick in file-backed mode: store I/O is awaited. */
  async tickAsync(): Promise<void> {
    await this.#io();
    this.#beginTick();
    await this.settleAsync();
  }

  // What a reopened store recovered must be exactly what was saved.
  #checkRecovered(node: SimNode): void {
    const was = node.persisted;
    if (!was) return;
    const st = node.storage;
    const last = st.lastIndex();
    const now = {
      hardState: st.initialState().hardState,
      lastIndex: last,
      lastTerm: st.term(last),
      snapshotIndex: st.firstIndex() - 1,
    };
    if (JSON.stringify(now) !== JSON.stringify(was)) {
      this.checker.violation ??= {
        invariant: "durability",
        detail: `${node.id} recovered ${JSON.stringify(now)} but had saved ${
          JSON.stringify(was)
        }`,
        step: this.stepCount,
      };
    }
  }

  #beginTick(): void {
    this.stepCount++;
    this.now += TICK_MS;
    this.checker.step = this.stepCount;
    for (const m of this.network.deliverDue(this.now)) this.#deliver(m);
    for (const node of this.nodes.values()) {
      if (node.up) node.raft!.tick();
    }
  }

  /** Handles Readies until every node is quiet (messages go to the network). */
  settle(): void {
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      let guard = 0;
      while (node.raft && node.raft.hasReady()) {
        const rd = node.raft.ready();
        if (this.#persist(node, rd) instanceof Promise) {
          throw new Error(
            "A file-backed cluster must be driven with tickAsync()",
          );
        }
        this.#finishReady(node, rd);
        node.raft.advance();
        if (++guard > 1000) throw new Error(`Node ${node.id} never settles`);
      }
      if (node.raft) this.#observe(node);
    }
  }

  /** {@linkcode settle} for file-backed stores: each save is awaited before sending. */
  async settleAsync(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      let guard = 0;
      while (node.raft && node.raft.hasReady()) {
        const rd = node.raft.ready();
        await this.#persist(node, rd);
        this.#finishReady(node, rd);
        node.raft.advance();
        if (++guard > 1000) throw new Error(`Node ${node.id} never settles`);
      }
      if (node.raft) this.#observe(node);
      await this.#io();
    }
  }

  // Closes crashed nodes' stores, reopens restarting ones (recovery), and
  // waits for snapshot writes.
  async #io(): Promise<void> {
    const pending = this.#pendingIo;
    this.#pendingIo = [];
    await Promise.all(pending);
    const closing = this.#toClose;
    this.#toClose = [];
    for (const s of closing) await s.close();
    if (this.#toOpen.size === 0 || !this.#openStorage) return;
    const opening = [...this.#toOpen];
    this.#toOpen.clear();
    for (const node of opening) {
      if (node.up || node.retired) continue;
      node.storage = await this.#openStorage(node.id, node.conf);
      this.#checkRecovered(node);
      this.#boot(node);
      this.trace(
        `${node.id} REOPEN term=${node.raft!.term} commit=${
          node.raft!.log.committed
        }`,
      );
    }
  }

  #deliver(m: Message): void {
    const node = this.nodes.get(m.to);
    if (!node || !node.up) return;
    node.raft!.step(m);
  }

  // 1. Persist (one durable write).
  #persist(node: SimNode, rd: Ready): void | Promise<void> {
    return node.storage.save({
      snapshot: rd.snapshot,
      entries: rd.entries,
      hardState: rd.hardState,
    });
  }

  #finishReady(node: SimNode, rd: Ready): void {
    const raft = node.raft!;
    if (rd.hardState) {
      this.checker.observePersistHardState(node.id, rd.hardState);
    }
    if (rd.entries.length > 0) {
      this.checker.observePersistEntries(
        rd.entries,
        (i) => safeTerm(node.storage, i),
      );
    }
    // 2. Send.
    for (const m of rd.messages) {
      this.network.send(m, this.now);
      if (m.type === "snap") {
        // Like a real transport, report when the stream is handed over.
        raft.reportSnapshot(m.to, this.network.canDeliver(m.from, m.to));
      }
    }
    // 3. Apply.
    if (rd.snapshot) {
      this.#restoreState(
        node,
        rd.snapshot.data,
        rd.snapshot.metadata.index,
      );
      node.sinceSnapshot = 0;
      this.stats.snapshotsInstalled++;
      this.trace(
        `${node.id} installed snapshot at ${rd.snapshot.metadata.index}`,
      );
    }
    for (const e of rd.committedEntries) {
      if (e.index !== node.state.index + 1) {
        throw new Error(
          `${node.id} applies index ${e.index} after ${node.state.index}`,
        );
      }
      node.state.index = e.index;
      node.state.hash = foldHash(node.state.hash, e.data);
      node.sinceSnapshot++;
      this.checker.observeApply(node.id, e);
      this.checker.observeState(node.id, node.state.index, node.state.hash);
      if (
        node.service && e.type === EntryType.Normal && e.data.byteLength > 0
      ) {
        const result = node.service.apply(e.data, {
          index: e.index,
          term: e.term,
        });
        this.#onApply?.(node, e, result);
        this.checker.observeServiceInvariants(
          node.id,
          e.index,
          node.service.invariantViolations(),
        );
      }
      if (e.type === EntryType.ConfChange) this.#onConfApplied(node, e.data);
    }
    // 4. Reads: confirmed ones are served once applied up to their index.
    for (const rs of rd.readStates) {
      const r = node.reads.get(rs.context);
      if (r) r.index = rs.index;
    }
    this.#serveReads(node);
    if (node.sinceSnapshot >= this.#snapshotEvery) this.snapshot(node);
  }

  #serveReads(node: SimNode): void {
    for (const [ctx, r] of node.reads) {
      if (r.index !== undefined && node.state.index >= r.index) {
        node.reads.delete(ctx);
        r.done?.(node);
        this.checker.observeRead(node.id, r.startCommit, node.state.index);
        this.stats.reads++;
      }
    }
  }

  #onConfApplied(node: SimNode, data: Uint8Array): void {
    const { change } = decodeConfChange(data);
    if (node !== this.leader()) return;
    this.stats.confChanges++;
    this.trace(`${node.id} applied ${change.type} ${change.node}`);
  }

  #observe(node: SimNode): void {
    const raft = node.raft!;
    const termAt = (i: number) => raft.log.term(i);
    this.checker.observeCommit(node.id, raft.log.committed, termAt);
    if (raft.role === "leader") {
      this.checker.observeLeader(
        node.id,
        raft.term,
        termAt,
        raft.log.firstIndex(),
      );
      if (!this.#seenLeaderTerms.has(raft.term)) {
        this.#seenLeaderTerms.add(raft.term);
        this.stats.elections++;
      }
    }
    if (raft.log.committed > this.stats.maxCommit) {
      this.stats.maxCommit = raft.log.committed;
    }
  }

  // The snapshot payload: the hash state as JSON, then in service mode a
  // 4-byte length, that JSON, and the service's own snapshot.
  #encodeState(node: SimNode): Uint8Array {
    const head = encodeState(node.state);
    if (!node.service) return head;
    const body = node.service.snapshot();
    const out = new Uint8Array(4 + head.byteLength + body.byteLength);
    new DataView(out.buffer).setUint32(0, head.byteLength);
    out.set(head, 4);
    out.set(body, 4 + head.byteLength);
    return out;
  }

  #restoreState(node: SimNode, data: Uint8Array, index: number): void {
    if (!this.#service) {
      node.state = decodeState(data, index);
      return;
    }
    node.service = this.#service();
    if (data.byteLength === 0) {
      node.state = decodeState(data, index);
      return;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const len = view.getUint32(0);
    node.state = decodeState(data.subarray(4, 4 + len), index);
    node.service.restore(data.subarray(4 + len));
  }

  /** Retires nodes that are no longer in the leader's configuration. */
  retireRemoved(): void {
    const leader = this.leader();
    if (!leader) return;
    const status = leader.raft!.status();
    const conf = status.conf;
    // Only once the removal is committed, so it cannot be undone.
    const members = new Set([...conf.voters, ...conf.learners]);
    if (leader.raft!.log.committed < status.lastIndex) return;
    for (const node of this.nodes.values()) {
      if (!node.retired && !members.has(node.id)) {
        this.crash(node);
        node.retired = true;
        this.trace(`${node.id} RETIRED`);
      }
    }
  }
}

function safeTerm(s: LogStore, i: number): number | undefined {
  if (i < s.firstIndex() - 1 || i > s.lastIndex()) return undefined;
  return s.term(i);
}

function foldHash(h: number, data: Uint8Array): number {
  for (const b of data) h = Math.imul(h ^ b, 16777619) >>> 0;
  return Math.imul(h ^ 0xff, 16777619) >>> 0;
}

function encodeState(s: SimState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s));
}

function decodeState(data: Uint8Array, index: number): SimState {
  if (data.byteLength === 0) return { index, hash: 0 };
  const s = JSON.parse(new TextDecoder().decode(data)) as SimState;
  if (s.index !== index) {
    throw new Error(
      `Snapshot state index ${s.index} differs from its metadata ${index}`,
    );
  }
  return s;
}
