/**
 * Errors the core raises to its host.
 *
 * @module
 */

/**
 * A proposal, read or transfer the core refused; the reason says why and
 * what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { ProposalDroppedError, Raft } from "./mod.ts";
 *
 * // A follower that knows no leader cannot take a proposal.
 * const conf = { voters: ["n1", "n2", "n3"], learners: [] };
 * const raft = new Raft({ id: "n1", storage: new MemoryStorage({ conf }) });
 * assert.throws(() => raft.propose(new Uint8Array([1])), ProposalDroppedError);
 * ```
 */
export class ProposalDroppedError extends Error {
  /** Creates the error with its reason. */
  constructor(reason: string) {
    super(reason);
    this.name = "ProposalDroppedError";
  }
}

/**
 * A broken invariant inside the core: the node's state can no longer be
 * trusted. A host that misuses the core gets one too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { Raft, RaftInvariantError } from "./mod.ts";
 *
 * const conf = { voters: ["n1"], learners: [] };
 * const raft = new Raft({ id: "n1", storage: new MemoryStorage({ conf }) });
 * raft.campaign();
 * raft.ready();
 * // A second Ready before advance() is a host bug.
 * assert.throws(() => raft.ready(), RaftInvariantError);
 * ```
 */
export class RaftInvariantError extends Error {
  /** Creates the error describing the broken invariant. */
  constructor(message: string) {
    super(message);
    this.name = "RaftInvariantError";
  }
}
