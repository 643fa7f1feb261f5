/**
 * Errors a {@linkcode RaftNode} gives callers; each says what happened and
 * what to do, and maps to an HTTP status in the API.
 *
 * @module
 */

import { ProposalDroppedError } from "../raft/errors.ts";

/** No leader is known, or the node is stopping: retry later (HTTP 503). */
export class UnavailableError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UnavailableError";
  }
}

/**
 * The request did not finish in time; a write may or may not have been
 * applied (HTTP 504). Retry with the same request id to be safe.
 */
export class TimeoutError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/** The proposal was definitely not applied: another entry took its place (HTTP 503, retry). */
export class ProposalLostError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ProposalLostError";
  }
}

/**
 * What a caller gets for an error thrown by the core: a refused proposal
 * (no leader, a change in progress) is {@linkcode UnavailableError}; any
 * other error passes through.
 */
export function asUnavailable(e: unknown): Error {
  if (e instanceof ProposalDroppedError) {
    return new UnavailableError(e.message);
  }
  return e instanceof Error ? e : new Error(String(e));
}
