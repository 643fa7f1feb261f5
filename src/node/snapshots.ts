/**
 * Snapshots for a {@linkcode RaftNode}: when to take one, writing it beside
 * the Ready loop, restoring one (at start or from the leader), the node
 * snapshot's format (the member directory plus the state machine's bytes).
 *
 * Nothing here forces a garbage collection: a full collection of a large
 * state stops the event loop for hundreds of ms, past the election timeout
 * (see docs/operations.md#memory). The snapshot's bytes are dropped as soon
 * as they are written, and V8 collects them with the rest.
 *
 * @module
 */

import { decode, encode } from "../codec/msgpack.ts";
import { ByteWriter } from "../codec/byte_writer.ts";
import { concatYielding } from "../codec/concat.ts";
import type { Raft } from "../raft/raft.ts";
import type { NodeId, Snapshot } from "../raft/types.ts";
import type { LogStore } from "../storage/types.ts";
import { StorageFatalError } from "../storage/errors.ts";
import type { MemberInfo } from "./envelope.ts";
import type { Logger } from "./logger.ts";
import type { StateMachine } from "./state_machine.ts";

/** What snapshots need from the node that owns them. */
export interface SnapshotHost {
  /** The node's id. */
  readonly id: NodeId;
  /** The node's core (read lazily: it is created after the restore). */
  readonly raft: Pick<Raft, "confStateAt">;
  /** The node's store. */
  readonly storage: Pick<LogStore, "createSnapshot" | "releaseSnapshotData">;
  /** The replicated state machine. */
  readonly stateMachine: StateMachine;
  /** Structured log lines. */
  readonly log: Logger;
  /** The index applied to the state machine. */
  applied(): number;
  /** True once the node is stopping. */
  stopped(): boolean;
  /** A copy of the member directory, to record in a snapshot. */
  members(): MemberInfo[];
  /** Records a member read from a snapshot. */
  restoreMember(info: MemberInfo): void;
  /** Stops the node after a fatal storage failure. */
  die(e: Error): void;
}

/** How to run a node's snapshots. */
export interface NodeSnapshotsOptions {
  /** Snapshot after this many entries applied since the last snapshot. */
  every: number;
  /** Index of the newest snapshot in the store. */
  index: number;
}

/**
 * A node's snapshots. Taking one runs beside the Ready loop: the state is
 * captured at the applied index at once, encoded in chunks (when the state
 * machine can), and written while the node keeps replicating and
 * answering heartbeats.
 *
 * @example
 * ```ts ignore
 * const snapshots = new NodeSnapshots(host, { every: 10_000, index: 0 });
 * snapshots.recover(storage.snapshot()); // at start
 * snapshots.maybeSnapshot(); // after each Ready
 * ```
 */
export class NodeSnapshots {
  readonly #host: SnapshotHost;
  readonly #every: number;
  #index: number;
  #writing: Promise<void> | undefined;
  // Nodes reach the snapshot point at different entries, so they do not
  // all snapshot at once.
  #jitter: number;

  /** Creates the snapshots of the node behind `host`. */
  constructor(host: SnapshotHost, options: NodeSnapshotsOptions) {
    this.#host = host;
    this.#every = options.every;
    this.#index = options.index;
    this.#jitter = Math.floor(Math.random() * (this.#every / 4));
  }

  /** Index of the newest snapshot. */
  get index(): number {
    return this.#index;
  }

  /** The snapshot being written, if any (settles when it is done). */
  get writing(): Promise<void> | undefined {
    return this.#writing;
  }

  /** At start: restores the store's snapshot, if it has one. */
  recover(snap: Snapshot): void {
    if (snap.data.byteLength > 0) this.restore(snap.data);
    // The snapshot's bytes (tens of MB with many keys) are needed again
    // only to catch up a follower; the store reads them back then.
    this.#host.storage.releaseSnapshotData?.();
  }

  /** Replaces the state machine and the member directory with a snapshot's. */
  restore(data: Uint8Array): void {
    const s = decode<{ v: number; members: MemberInfo[]; app: Uint8Array }>(
      data,
    );
    if (!s || s.v !== 1 || !(s.app instanceof Uint8Array)) {
      throw new Error("Snapshot is not a raftlock node snapshot (version 1)");
    }
    this.#host.stateMachine.restore(s.app);
    for (const m of s.members ?? []) this.#host.restoreMember(m);
  }

  /**
   * A snapshot from the leader was restored and the node's applied index
   * moved to `index`: drop its bytes.
   */
  installed(index: number): void {
    this.#index = index;
    this.#host.storage.releaseSnapshotData?.();
    this.#host.log("node.snapshotInstalled", {
      level: "info",
      id: this.#host.id,
      index,
    });
  }

  /** After a Ready: starts a snapshot once enough entries were applied. */
  maybeSnapshot(): void {
    if (
      !this.#writing &&
      this.#host.applied() - this.#index >= this.#every + this.#jitter
    ) this.#start();
  }

  #start(): void {
    if (this.#writing) return;
    const host = this.#host;
    const index = host.applied();
    const conf = host.raft.confStateAt(index);
    const members = host.members();
    const sm = host.stateMachine;
    // Each way captures the state before its first await.
    const encoded = sm.snapshotInto
      ? encodeNodeSnapshotInto(members, (out) => sm.snapshotInto!(out))
      : (sm.snapshotAsync ? sm.snapshotAsync() : Promise.resolve(sm.snapshot()))
        .then((app) => encodeNodeSnapshot(members, app));
    const t0 = performance.now();
    this.#writing = (async () => {
      const data = await encoded;
      await host.storage.createSnapshot(index, conf, data);
      this.#index = Math.max(this.#index, index);
      host.storage.releaseSnapshotData?.();
      // Spread the next snapshot point so nodes do not all write at once.
      this.#jitter = Math.floor(Math.random() * (this.#every / 4));
      host.log("node.snapshot", {
        level: "info",
        id: host.id,
        index,
        bytes: data.byteLength,
        ms: Math.round(performance.now() - t0),
      });
    })().catch((e) => {
      if (e instanceof StorageFatalError) host.die(e);
      else {host.log("node.snapshotFailed", {
          level: "warn",
          id: host.id,
          index,
          error: String(e),
        });}
    }).finally(() => (this.#writing = undefined));
  }
}

/**
 * The data of a node's Raft snapshot: msgpack `{v: 1, members, app}` (the
 * member directory and the state machine's bytes), written by hand so the
 * (possibly large) app bytes are copied a slice at a time, not in one go.
 * `raftctl snapshot restore` writes one into a fresh data directory.
 */
export function encodeNodeSnapshot(
  members: MemberInfo[],
  app: Uint8Array,
): Promise<Uint8Array> {
  return concatYielding([...nodeSnapshotHead(members, app.byteLength), app]);
}

// The same bytes with the state machine writing its part in place: one
// buffer for the whole snapshot, the bin 32 length filled in at the end.
async function encodeNodeSnapshotInto(
  members: MemberInfo[],
  writeApp: (out: ByteWriter) => Promise<void>,
): Promise<Uint8Array> {
  const out = new ByteWriter();
  for (const part of nodeSnapshotHead(members, 0)) out.write(part);
  const at = out.length;
  await writeApp(out);
  out.setUint32(at - 4, out.length - at);
  return await out.finish();
}

// Everything of the node snapshot before the app bytes, ending in the bin 32
// header that announces `appLength` of them.
function nodeSnapshotHead(members: MemberInfo[], appLength: number) {
  const bin = new Uint8Array(5);
  bin[0] = 0xc6; // bin 32
  new DataView(bin.buffer).setUint32(1, appLength);
  return [
    Uint8Array.of(0x83),
    encode("v"),
    encode(1),
    encode("members"),
    encode(members),
    encode("app"),
    bin,
  ];
}
