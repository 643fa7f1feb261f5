/**
 * The data types that cross the Raft core's boundary: log entries, hard
 * state, snapshots, configurations and messages.
 *
 * Everything here is plain data so the host can encode it with msgpack and
 * so the simulator can copy it cheaply.
 *
 * @module
 */

/** A node's identity in the cluster, for example `"n1"`. */
export type NodeId = string;

/** What kind of entry a log entry is. */
export const EntryType = {
  /** An application command (or the leader's empty no-op). */
  Normal: 0,
  /** A membership change; `data` is an encoded {@linkcode ConfChangeRecord}. */
  ConfChange: 1,
} as const;

/** The numeric value of an {@linkcode EntryType}. */
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** One entry of the replicated log. */
export interface Entry {
  /** The term in which a leader created the entry. */
  term: number;
  /** The entry's position in the log, starting at 1. */
  index: number;
  /** Normal command or configuration change. */
  type: EntryType;
  /** Opaque payload; empty for the leader's no-op. */
  data: Uint8Array;
}

/** The state Raft must persist before it speaks (term, vote, commit). */
export interface HardState {
  /** The latest term this node has seen. */
  term: number;
  /** Who this node voted for in `term`, or `""` for nobody. */
  vote: NodeId;
  /** The highest log index known to be committed. */
  commit: number;
}

/** A cluster configuration: who votes and who only listens. */
export interface ConfState {
  /** Members whose votes and acknowledgements count. */
  voters: NodeId[];
  /** Members that receive the log but neither vote nor count for commit. */
  learners: NodeId[];
}

/** What a snapshot covers: the last index and term it includes and the configuration at that index. */
export interface SnapshotMetadata {
  /** The index of the last entry the snapshot includes. */
  index: number;
  /** The term of that entry. */
  term: number;
  /** The configuration in effect at `index`. */
  conf: ConfState;
}

/** A point-in-time image of the state machine plus its metadata. */
export interface Snapshot {
  /** Index, term and configuration the snapshot covers. */
  metadata: SnapshotMetadata;
  /** The state machine's own encoding of its state. */
  data: Uint8Array;
}

/** The kinds of membership change. One change at a time goes through the log. */
export type ConfChangeType =
  | "addVoter"
  | "addLearner"
  | "promote"
  | "remove";

/** A membership change as a host proposes it. */
export interface ConfChange {
  /** What to do. */
  type: ConfChangeType;
  /** The member it concerns. */
  node: NodeId;
  /** Opaque host data carried with the change (for example the node's addresses). */
  context?: string;
}

/**
 * What a configuration-change entry holds: the change and the configuration
 * that results from it. Carrying the result lets every node and every host
 * know the configuration at an index without replaying earlier changes.
 */
export interface ConfChangeRecord {
  /** The change that was proposed. */
  change: ConfChange;
  /** The configuration in effect from this entry on. */
  conf: ConfState;
}

/** The message kinds of the protocol, plus the local ones the host steps in. */
export type MessageType =
  /** Local: start an election now. */
  | "hup"
  /** Local: the leader should send heartbeats now. */
  | "beat"
  /** A proposal; a follower forwards it to the leader. */
  | "prop"
  /** AppendEntries. */
  | "app"
  /** AppendEntries response. */
  | "appResp"
  /** RequestVote. */
  | "vote"
  /** RequestVote response. */
  | "voteResp"
  /** PreVote request: "would you vote for me in term+1?". */
  | "preVote"
  /** PreVote response. */
  | "preVoteResp"
  /** InstallSnapshot. */
  | "snap"
  /** Heartbeat: leadership, commit index and a read-index context. */
  | "heartbeat"
  /** Heartbeat response. */
  | "heartbeatResp"
  /** Ask the leader to hand leadership to `transferee`. */
  | "transferLeader"
  /** Tell a caught-up follower to start an election at once. */
  | "timeoutNow"
  /** A read-index request; a follower forwards it to the leader. */
  | "readIndex"
  /** The leader's answer to a forwarded read-index request. */
  | "readIndexResp"
  /** Local: the host reports whether sending a snapshot to a peer worked. */
  | "snapStatus"
  /** Local: the host reports a peer unreachable. */
  | "unreachable";

/**
 * One protocol message. Fields that a message kind does not use are absent;
 * the layout follows etcd-io/raft so the logic reads the same.
 */
export interface Message {
  /** The message kind. */
  type: MessageType;
  /** Sender. */
  from: NodeId;
  /** Recipient. */
  to: NodeId;
  /** The sender's term (0 for local messages and forwarded proposals). */
  term: number;
  /** Term of the entry at `index` (app: the previous entry; vote: the last entry). */
  logTerm?: number;
  /** app: index of the entry before `entries`; appResp: last matching index; vote: last index. */
  index?: number;
  /** Entries to append (app, prop). */
  entries?: Entry[];
  /** The sender's commit index (app, heartbeat). */
  commit?: number;
  /** The snapshot (snap). */
  snapshot?: Snapshot;
  /** Whether a response rejects the request. */
  reject?: boolean;
  /** appResp reject: the follower's hint for where the logs may match. */
  rejectHint?: number;
  /** Opaque context: read-index request id, or `"transfer"` on a vote during leadership transfer. */
  context?: string;
  /** transferLeader: the node to hand leadership to. */
  transferee?: NodeId;
}

/** Roles a node can be in. */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state that a host may want to show (who leads, what we are). */
export interface SoftState {
  /** The leader this node knows of, or `""`. */
  leader: NodeId;
  /** This node's role. */
  role: Role;
}

/** A read that may be served once the state machine has applied `index`. */
export interface ReadState {
  /** The commit index when leadership was confirmed for this read. */
  index: number;
  /** The context the host passed to `readIndex`. */
  context: string;
}

/**
 * Everything the host must do after driving the core, in order:
 * persist `hardState`, `entries` and `snapshot` (one durable write);
 * send `messages`; apply `snapshot` then `committedEntries` to the state
 * machine; serve `readStates` once applied; then call `advance()`.
 */
export interface Ready {
  /** Set when leader or role changed since the last Ready. */
  softState?: SoftState;
  /** Set when term, vote or commit changed; persist it. */
  hardState?: HardState;
  /** Entries to append to stable storage (they may overwrite a suffix). */
  entries: Entry[];
  /** A snapshot to persist and install, if one arrived. */
  snapshot?: Snapshot;
  /** Committed entries to apply to the state machine, in order. */
  committedEntries: Entry[];
  /** Messages to send once the persist step is durable. */
  messages: Message[];
  /** Read requests whose leadership check passed. */
  readStates: ReadState[];
  /** True when entries, hard state or snapshot need a durable sync. */
  mustSync: boolean;
}

/** The hard state of a node that has never run. */
export const EMPTY_HARD_STATE: HardState = Object.freeze({
  term: 0,
  vote: "",
  commit: 0,
});

/**
 * True when nothing in a hard state is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EMPTY_HARD_STATE, isEmptyHardState } from "./types.ts";
 *
 * assert.equal(isEmptyHardState(EMPTY_HARD_STATE), true);
 * assert.equal(isEmptyHardState({ term: 1, vote: "n1", commit: 0 }), false);
 * ```
 */
export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === "" && hs.commit === 0;
}

/**
 * Field-by-field equality of two hard states.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hardStateEqual } from "./types.ts";
 *
 * const hs = { term: 2, vote: "n1", commit: 5 };
 * assert.equal(hardStateEqual(hs, { ...hs }), true);
 * assert.equal(hardStateEqual(hs, { ...hs, commit: 6 }), false);
 * ```
 */
export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * True for a snapshot that carries nothing (index 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isEmptySnapshot } from "./types.ts";
 *
 * assert.equal(isEmptySnapshot(undefined), true);
 * const conf = { voters: ["n1"], learners: [] };
 * const metadata = { index: 7, term: 2, conf };
 * assert.equal(isEmptySnapshot({ metadata, data: new Uint8Array() }), false);
 * ```
 */
export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

/**
 * The encoded size of an entry as counted against byte limits: its data
 * and a fixed overhead for term, index and type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EntryType, entrySize } from "./types.ts";
 *
 * const data = new Uint8Array(10);
 * const e = { term: 1, index: 1, type: EntryType.Normal, data };
 * assert.equal(entrySize(e), 10 + 24);
 * ```
 */
export function entrySize(e: Entry): number {
  // Fixed overhead approximates the framing of term, index and type.
  return e.data.byteLength + 24;
}

/**
 * Sum of {@linkcode entrySize} over entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entriesSize, EntryType } from "./types.ts";
 *
 * const data = new Uint8Array(10);
 * const e = { term: 1, index: 1, type: EntryType.Normal, data };
 * assert.equal(entriesSize([e, { ...e, index: 2 }]), 2 * (10 + 24));
 * ```
 */
export function entriesSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySize(e);
  return n;
}

/**
 * True for message kinds that only travel from the host into its own node.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLocalMessage } from "./types.ts";
 *
 * assert.equal(isLocalMessage("hup"), true); // "start an election now"
 * assert.equal(isLocalMessage("app"), false); // goes to a peer
 * ```
 */
export function isLocalMessage(t: MessageType): boolean {
  return t === "hup" || t === "beat" || t === "snapStatus" ||
    t === "unreachable";
}

/**
 * True for the responses that a node sends back to a request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isResponseMessage } from "./types.ts";
 *
 * assert.equal(isResponseMessage("voteResp"), true);
 * assert.equal(isResponseMessage("vote"), false);
 * ```
 */
export function isResponseMessage(t: MessageType): boolean {
  return t === "appResp" || t === "voteResp" || t === "preVoteResp" ||
    t === "heartbeatResp" || t === "readIndexResp" || t === "unreachable";
}
