/**
 * Errors the core raises to its host.
 *
 * @module
 */

/** A proposal, read or transfer the core refused; the reason says why and what to do. */
export class ProposalDroppedError extends Error {
  /** Creates the error with its reason. */
  constructor(reason: string) {
    super(reason);
    this.name = "ProposalDroppedError";
  }
}

/** A broken invariant inside the core: the node's state can no longer be trusted. */
export class RaftInvariantError extends Error {
  /** Creates the error describing the broken invariant. */
  constructor(message: string) {
    super(message);
    this.name = "RaftInvariantError";
  }
}
