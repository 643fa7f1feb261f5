/**
 * The interface a replicated state machine implements to run on a
 * {@linkcode RaftNode}: the lock service implements it; tests use small
 * ones.
 *
 * @module
 */

import type { ByteWriter } from "../codec/byte_writer.ts";

/** What an applied command knows about where it sits in the log. */
export interface ApplyContext {
  /** The entry's log index. */
  index: number;
  /** The entry's term. */
  term: number;
}

/**
 * A deterministic state machine: `apply` must read no clock and no
 * randomness, so every node reaches the same state from the same log.
 */
export interface StateMachine {
  /** Applies one command; the result goes back to the node that proposed it. */
  apply(command: Uint8Array, context: ApplyContext): unknown;
  /** Encodes the whole state (called at an applied index). */
  snapshot(): Uint8Array;
  /**
   * Optional: captures the state now (before its first await) and encodes
   * it without blocking the event loop for long. Used for the node's
   * periodic snapshots when present.
   */
  snapshotAsync?(): Promise<Uint8Array>;
  /**
   * Optional: as `snapshotAsync`, but writes the bytes at the end of `out`,
   * so the node frames them without another copy of the whole state.
   * Preferred over `snapshotAsync` when present.
   */
  snapshotInto?(out: ByteWriter): Promise<void>;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}
