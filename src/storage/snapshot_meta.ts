/**
 * The stored form of snapshot metadata, shared by snapshot files, WAL
 * segment headers and WAL snapshot markers: a flat msgpack map
 * `{index, term, voters, learners}`.
 *
 * @module
 */

import type { SnapshotMetadata } from "../raft/types.ts";

/** Snapshot metadata as one flat map, the form storage encodes. */
export interface SnapshotMetaFields {
  /** The snapshot's last included index. */
  index: number;
  /** The term of that entry. */
  term: number;
  /** The voters of its configuration. */
  voters: string[];
  /** The learners of its configuration. */
  learners: string[];
}

/**
 * The map storage encodes for `m`, keys in the order written (the order is
 * part of the bytes on disk).
 *
 * @example
 * ```ts
 * snapshotMetaFields({ index: 9, term: 2, conf: { voters: ["n1"], learners: [] } });
 * // { index: 9, term: 2, voters: ["n1"], learners: [] }
 * ```
 */
export function snapshotMetaFields(m: SnapshotMetadata): SnapshotMetaFields {
  return {
    index: m.index,
    term: m.term,
    voters: m.conf.voters,
    learners: m.conf.learners,
  };
}
