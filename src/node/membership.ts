/**
 * Membership for a {@linkcode RaftNode}: configuration changes proposed on
 * the leader and applied from the log, the member directory (who is where),
 * pointing the transport at peers, publishing this node's own addresses
 * through the log, and the safety checks an operator's change must pass
 * ({@linkcode unsafeChange}).
 *
 * @module
 */

import { decodeConfChange } from "../raft/confchange.ts";
import { ProposalDroppedError } from "../raft/errors.ts";
import type { Raft } from "../raft/raft.ts";
import type { ConfChange, ConfState, Entry, NodeId } from "../raft/types.ts";
import type { MemberInfo } from "./envelope.ts";
import { asUnavailable, TimeoutError, UnavailableError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** A transport that can learn and forget peers as membership changes. */
export interface PeerDirectory {
  /** Starts talking to `id` at `address`. */
  addPeer(id: NodeId, address: string): void;
  /** Stops talking to `id`. */
  removePeer(id: NodeId): void;
}

/** What membership needs from the node that owns it. */
export interface MembershipHost {
  /** The node's id. */
  readonly id: NodeId;
  /** The node's core (read lazily: it is created after the directory). */
  readonly raft: Pick<
    Raft,
    "role" | "lead" | "proposeConfChange" | "confState" | "status"
  >;
  /** The transport, when it can learn and forget peers. */
  readonly transport: Partial<PeerDirectory>;
  /** Structured log lines. */
  readonly log: Logger;
  /** Default timeout for membership changes in ms. */
  readonly timeoutMs: number;
  /** Throws {@linkcode UnavailableError} once the node is stopping. */
  assertRunning(): void;
  /** Wakes the Ready loop. */
  kick(): void;
  /** Proposes this node's addresses (an envelope of kind MemberInfo). */
  proposeMemberInfo(payload: Uint8Array): Promise<unknown>;
  /** The node learned it is no longer a member. */
  becomeRemoved(why: string): void;
  /** Milliseconds since a message from `id` arrived, or undefined if none did. */
  heardMsAgo(id: NodeId): number | undefined;
  /**
   * How recently a member must have been heard from to count as active for
   * the safety checks (ms).
   */
  readonly activeWindowMs: number;
}

/** A learner more than this many entries behind the leader is not promoted. */
export const MAX_PROMOTE_LAG = 1000;

/** What {@linkcode unsafeChange} judges a change by: the leader's view. */
export interface ClusterView {
  /** The leader's id. */
  self: NodeId;
  /** The configuration in effect. */
  conf: ConfState;
  /** The leader's last log index. */
  lastIndex: number;
  /** Each member's match index (the leader's progress tracker). */
  match: Record<NodeId, number>;
  /** Milliseconds since `id` was last heard from; undefined: never. */
  heardMsAgo(id: NodeId): number | undefined;
  /** Members heard from within this many ms count as active. */
  activeWindowMs: number;
}

/**
 * Why a membership change is unsafe, or `undefined` when it is safe, in
 * the manner of etcd's strict reconfiguration check:
 *
 * - a voter is not added directly: a voter that never comes up raises the
 *   quorum for good (with 2 of 3 up, adding a dead fourth leaves 2 of 4, no
 *   quorum). It joins as a learner and is promoted once caught up;
 * - a learner is promoted only once its log is within
 *   {@linkcode MAX_PROMOTE_LAG} entries of the leader's and it was heard
 *   from recently, so the new voter can vote and acknowledge at once;
 * - a voter is removed only if the voters that stay and are active (the
 *   leader, and those heard from within `activeWindowMs`) are a quorum of
 *   the new configuration.
 *
 * @example
 * ```ts
 * import { unsafeChange } from "./membership.ts";
 *
 * const why = unsafeChange({ type: "addVoter", node: "n4" }, {
 *   self: "n1",
 *   conf: { voters: ["n1", "n2", "n3"], learners: [] },
 *   lastIndex: 10,
 *   match: { n1: 10, n2: 10, n3: 10 },
 *   heardMsAgo: () => 5,
 *   activeWindowMs: 600,
 * });
 * console.log(why); // "Adding n4 as a voter directly ... add it as a learner first ..."
 * ```
 */
export function unsafeChange(
  change: Pick<ConfChange, "type" | "node">,
  view: ClusterView,
): string | undefined {
  const id = change.node;
  const { conf } = view;
  const active = (m: NodeId) => {
    if (m === view.self) return true;
    const ago = view.heardMsAgo(m);
    return ago !== undefined && ago <= view.activeWindowMs;
  };
  switch (change.type) {
    case "addVoter":
      if (conf.voters.includes(id) || conf.learners.includes(id)) {
        return undefined; // the core refuses these with its own reason
      }
      return `Adding ${id} as a voter directly raises the quorum before ${id} has shown it can vote: ` +
        `if it never comes up, the cluster may lose its quorum for good. ` +
        `Add it as a learner first (learner: true, or start it with raftd --join); ` +
        `it is promoted once it has caught up. Pass force: true to add it anyway`;
    case "promote": {
      if (!conf.learners.includes(id)) return undefined;
      const match = view.match[id] ?? 0;
      const behind = view.lastIndex - match;
      const ago = view.heardMsAgo(id);
      if (behind > MAX_PROMOTE_LAG) {
        return `Learner ${id} has not caught up: its log matches the leader's up to index ${match} of ${view.lastIndex} ` +
          `(${behind} entries behind; at most ${MAX_PROMOTE_LAG} allowed). ` +
          `Wait until it has caught up, or pass force=true to promote it anyway`;
      }
      if (!active(id)) {
        return `Learner ${id} has not been heard from ${
          ago === undefined ? "at all" : `for ${Math.round(ago)} ms`
        } (at most ${view.activeWindowMs} ms allowed): it may be down. ` +
          `Start it and wait until it has caught up, or pass force=true to promote it anyway`;
      }
      return undefined;
    }
    case "remove": {
      if (!conf.voters.includes(id)) return undefined;
      const stay = conf.voters.filter((v) => v !== id);
      const up = stay.filter(active);
      const quorum = Math.floor(stay.length / 2) + 1;
      if (up.length >= quorum) return undefined;
      const down = stay.filter((v) => !active(v));
      return `Removing voter ${id} would leave ${stay.length} voters (${
        stay.join(", ")
      }) of which only ${up.length} ${up.length === 1 ? "is" : "are"} active (${
        up.join(", ") || "none"
      }; not heard from within ${view.activeWindowMs} ms: ${
        down.join(", ")
      }), ` +
        `but they need ${quorum} to commit. Bring the others back first, or pass force=true to remove it anyway`;
    }
    default:
      return undefined;
  }
}

/** How to start the member directory. */
export interface MembershipOptions {
  /** This node's addresses, published to the cluster through the log. */
  self?: Omit<MemberInfo, "id">;
  /** Addresses known from configuration (bootstrap peers). */
  peers?: MemberInfo[];
}

interface ConfWaiter {
  done: (conf: ConfState) => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A node's view of the cluster's members: proposes configuration changes
 * and resolves them once applied here, keeps every member's addresses and
 * the transport's peers in step with the log, and gets this node's own
 * addresses into the log.
 *
 * @example
 * ```ts ignore
 * const membership = new Membership(host, { self, peers });
 * membership.dialAll();
 * await membership.addLearner("n4", { peerAddress: "10.0.0.4:7001" });
 * await membership.promote("n4");
 * ```
 */
export class Membership {
  readonly #host: MembershipHost;
  readonly #self?: Omit<MemberInfo, "id">;
  readonly #members = new Map<NodeId, MemberInfo>();
  // Peer addresses from the configuration, and what the transport dials.
  readonly #configured = new Map<NodeId, string>();
  readonly #dialed = new Map<NodeId, string>();
  #confWaiters: ConfWaiter[] = [];
  // What the log says about this node's addresses.
  #appliedSelf: MemberInfo | undefined;
  #publishing = false;
  readonly #refusedBy = new Set<NodeId>();

  /** Starts the directory from the configuration. */
  constructor(host: MembershipHost, options: MembershipOptions) {
    this.#host = host;
    this.#self = options.self;
    for (const p of options.peers ?? []) {
      this.#members.set(p.id, { ...p });
      if (p.peerAddress && p.id !== host.id) {
        this.#configured.set(p.id, p.peerAddress);
      }
    }
    if (this.#self) this.#members.set(host.id, { id: host.id, ...this.#self });
  }

  /**
   * Points the transport at every known member but this node that is in the
   * committed configuration `committed` (every one while that is empty).
   */
  dialAll(committed: readonly NodeId[] = []): void {
    // An empty configuration (a fresh node) dials every bootstrap peer.
    const conf = new Set(committed);
    for (const id of this.#members.keys()) {
      if (id !== this.#host.id && (conf.size === 0 || conf.has(id))) {
        this.#dial(id);
      }
    }
  }

  /** The addresses of `id`, if known. */
  get(id: NodeId): MemberInfo | undefined {
    return this.#members.get(id);
  }

  /** A copy of every known member, as a snapshot records them. */
  list(): MemberInfo[] {
    return [...this.#members.values()].map((m) => ({ ...m }));
  }

  /**
   * Why `change` is unsafe right now ({@linkcode unsafeChange} with this
   * leader's view), or `undefined`. Only meaningful on the leader.
   */
  unsafe(change: Pick<ConfChange, "type" | "node">): string | undefined {
    const host = this.#host;
    const s = host.raft.status();
    const match: Record<NodeId, number> = {};
    for (const [id, p] of Object.entries(s.progress)) match[id] = p.match;
    return unsafeChange(change, {
      self: host.id,
      conf: s.conf,
      lastIndex: s.lastIndex,
      match,
      heardMsAgo: (id) => host.heardMsAgo(id),
      activeWindowMs: host.activeWindowMs,
    });
  }

  /** Adds a member as a learner (it receives the log but does not vote). */
  addLearner(
    id: NodeId,
    info: Omit<MemberInfo, "id"> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#confChange(
      {
        type: "addLearner",
        node: id,
        context: JSON.stringify({ id, ...info }),
      },
      (c) => c.learners.includes(id) || c.voters.includes(id),
      options,
    );
  }

  /** Adds a voting member directly (prefer addLearner then promote). */
  addVoter(
    id: NodeId,
    info: Omit<MemberInfo, "id"> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#confChange(
      { type: "addVoter", node: id, context: JSON.stringify({ id, ...info }) },
      (c) => c.voters.includes(id),
      options,
    );
  }

  /** Promotes a learner to a voter. */
  promote(id: NodeId, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#confChange(
      { type: "promote", node: id },
      (c) => c.voters.includes(id),
      options,
    );
  }

  /** Removes a member. */
  removeMember(
    id: NodeId,
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#confChange(
      { type: "remove", node: id },
      (c) => !c.voters.includes(id) && !c.learners.includes(id),
      options,
    );
  }

  async #confChange(
    change: ConfChange,
    done: (c: ConfState) => boolean,
    options: { timeoutMs?: number },
  ): Promise<void> {
    const host = this.#host;
    host.assertRunning();
    const timeout = options.timeoutMs ?? host.timeoutMs;
    const deadline = Date.now() + timeout;
    // The core refuses a change while another is uncommitted (including a
    // new leader's no-op): wait for that, within the timeout.
    for (;;) {
      if (host.raft.role !== "leader") {
        throw new UnavailableError(
          host.raft.lead
            ? `Membership changes go to the leader; this node is not it (leader is ${host.raft.lead})`
            : "No leader is known; retry once one is elected",
        );
      }
      try {
        host.raft.proposeConfChange(change);
        break;
      } catch (e) {
        if (
          !(e instanceof ProposalDroppedError) ||
          !/in progress/.test(e.message) || Date.now() > deadline
        ) {
          throw asUnavailable(e);
        }
      }
      await new Promise((r) => setTimeout(r, 10));
      host.assertRunning();
    }
    host.kick();
    await new Promise<void>((resolve, reject) => {
      const waiter: ConfWaiter = {
        done,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#confWaiters = this.#confWaiters.filter((w) => w !== waiter);
          reject(
            new TimeoutError(
              `Membership change ${change.type} ${change.node} was not applied within ${timeout} ms`,
            ),
          );
        }, Math.max(1, deadline - Date.now())),
      };
      this.#confWaiters.push(waiter);
    });
  }

  /** Applies a committed configuration change entry. */
  applyConfChange(e: Entry): void {
    const host = this.#host;
    const { change, conf } = decodeConfChange(e.data);
    if (change.context) {
      try {
        const info = JSON.parse(change.context) as MemberInfo;
        if (info && typeof info === "object") {
          this.setMember({ ...info, id: change.node });
        }
      } catch {
        // Context is optional host data; a bad one only loses addresses.
      }
    }
    if (change.type === "remove" && change.node === host.id) {
      // Applied here, so committed: this node is out for good.
      queueMicrotask(() => host.becomeRemoved("it applied its own removal"));
    }
    if (change.type === "remove") {
      this.#members.delete(change.node);
      if (change.node !== host.id) {
        host.transport.removePeer?.(change.node);
        this.#dialed.delete(change.node);
      }
    }
    host.log("node.membership", {
      level: "info",
      id: host.id,
      index: e.index,
      change: change.type,
      node: change.node,
      voters: conf.voters,
      learners: conf.learners,
    });
    for (const w of [...this.#confWaiters]) {
      if (w.done(conf)) {
        clearTimeout(w.timer);
        this.#confWaiters = this.#confWaiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }

  /** Applies a member's published addresses (a MemberInfo envelope's payload). */
  applyMemberInfo(payload: Uint8Array): void {
    try {
      const info = JSON.parse(new TextDecoder().decode(payload)) as MemberInfo;
      if (info && typeof info.id === "string") this.setMember(info);
    } catch {
      this.#host.log("node.badMemberInfo", {
        level: "warn",
        id: this.#host.id,
      });
    }
  }

  /**
   * Records what the log (or a snapshot of it) says about a member's
   * addresses, and dials it.
   */
  setMember(info: MemberInfo): void {
    const id = this.#host.id;
    const prev = this.#members.get(info.id);
    const next = { ...prev, ...info };
    this.#members.set(info.id, next);
    if (info.id === id) this.#appliedSelf = next;
    if (info.id !== id) this.#dial(info.id);
  }

  /** After a Ready: publishes this node's addresses until the log agrees. */
  publishSelfIfNeeded(): void {
    if (!this.#publishing && this.#host.raft.lead && !this.#selfPublished()) {
      this.#publishSelf();
    }
  }

  /**
   * Counts `peer` refusing this node as unknown; returns the refusing
   * voters once they are a majority (this node was removed while it could
   * not hear about it), else `undefined`.
   */
  refusedBy(peer: NodeId): NodeId[] | undefined {
    const conf = this.#host.raft.confState();
    const id = this.#host.id;
    // A node that is not a member yet (joining) is unknown to peers too.
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      return undefined;
    }
    if (!conf.voters.includes(peer)) return undefined;
    this.#refusedBy.add(peer);
    if (this.#refusedBy.size >= Math.floor(conf.voters.length / 2) + 1) {
      return [...this.#refusedBy];
    }
    return undefined;
  }

  /** Rejects every membership change still waiting to apply. */
  failAll(err: Error): void {
    for (const w of this.#confWaiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.#confWaiters = [];
  }

  // Points the transport at a peer: an address given in the configuration
  // (--peers) wins over the one the peer published about itself, which may
  // be a bind address that others cannot use (0.0.0.0, behind a proxy).
  #dial(id: NodeId): void {
    const addr = this.#configured.get(id) ?? this.#members.get(id)?.peerAddress;
    if (!addr || this.#dialed.get(id) === addr) return;
    this.#dialed.set(id, addr);
    this.#host.transport.addPeer?.(id, addr);
  }

  // Each node publishes its addresses through the log so every node can
  // tell clients where the others are; once the log agrees, it stops.
  #publishSelf(): void {
    this.#publishing = true;
    const payload = new TextEncoder().encode(
      JSON.stringify({ id: this.#host.id, ...this.#self }),
    );
    // A node that is stopping refuses proposals synchronously; that must not
    // escape into the Ready loop (it would look fatal), so it is caught too.
    Promise.resolve()
      .then(() => this.#host.proposeMemberInfo(payload))
      .catch(() => {/* retried after a later Ready */})
      .finally(() => (this.#publishing = false));
  }

  #selfPublished(): boolean {
    const a = this.#appliedSelf;
    return !this.#self ||
      (a !== undefined && a.httpAddress === this.#self.httpAddress &&
        a.peerAddress === this.#self.peerAddress);
  }
}
