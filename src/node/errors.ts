/**
 * Errors a {@linkcode RaftNode} gives callers; each says what happened and
 * what to do, and maps to an HTTP status in the API.
 *
 * @module
 */

import { ProposalDroppedError } from "../raft/errors.ts";

/**
 * No leader is known, or the node is stopping: retry later (HTTP 503).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { MemoryHub } from "../transport/mod.ts";
 * import { RaftNode, UnavailableError } from "./mod.ts";
 *
 * const hub = new MemoryHub();
 * const node = RaftNode.start({
 *   id: "n1",
 *   storage: new MemoryStorage({
 *     conf: { voters: ["n1", "n2", "n3"], learners: [] },
 *   }),
 *   transport: hub.connect("n1"),
 *   stateMachine: {
 *     apply: () => null,
 *     snapshot: () => new Uint8Array(),
 *     restore: () => {},
 *   },
 * });
 * // Alone, one of three voters never has a leader.
 * await assert.rejects(node.propose(new Uint8Array([1])), UnavailableError);
 * await node.stop();
 * hub.close();
 * ```
 */
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
 *
 * @example
 * ```ts
 * import { type RaftNode, TimeoutError } from "./mod.ts";
 *
 * // A write whose outcome may be unknown: the caller must not assume
 * // either way, and retries with the same request id.
 * async function write(node: RaftNode, command: Uint8Array) {
 *   try {
 *     await node.propose(command, { timeoutMs: 2000 });
 *     return "applied";
 *   } catch (e) {
 *     if (e instanceof TimeoutError) return "unknown";
 *     throw e;
 *   }
 * }
 * ```
 */
export class TimeoutError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/**
 * The proposal was definitely not applied: another entry took its place
 * (HTTP 503, retry).
 *
 * @example
 * ```ts
 * import { ProposalLostError, type RaftNode } from "./mod.ts";
 *
 * // A lost proposal surely did not happen, so proposing again is safe.
 * async function proposeOnce(node: RaftNode, command: Uint8Array) {
 *   for (;;) {
 *     try {
 *       return await node.propose(command);
 *     } catch (e) {
 *       if (!(e instanceof ProposalLostError)) throw e;
 *     }
 *   }
 * }
 * ```
 */
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
