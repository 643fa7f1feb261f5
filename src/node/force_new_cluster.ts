/**
 * `raftd --force-new-cluster`: turn a surviving member's data into a
 * one-member cluster when the quorum is lost for good, as etcd's
 * `--force-new-cluster` does (etcdserver `restartAsStandaloneNode`).
 *
 * Before the node starts, its log gets configuration-change entries that
 * remove every other member (and add or promote this node if it is not a
 * voter), at a new term, and its hard state commits them. The node then
 * starts as the only voter, elects itself and applies them like any other
 * committed change; all data it had stays. Other members can be added
 * again later (as learners, then promoted).
 *
 * One difference from etcd: entries past this node's commit index are
 * kept and committed, not discarded. This node writes its commit index
 * lazily (a commit-only change waits for the next write), so some of them
 * may have been committed by the old cluster and acknowledged to clients;
 * the others were never acknowledged, and a client that saw its request
 * time out could not know whether it was applied. Committing them all is
 * what a new leader elected with this log would do.
 *
 * @module
 */

import { applyConfChange, encodeConfChange } from "../raft/confchange.ts";
import { decodeConfChange } from "../raft/confchange.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type NodeId,
} from "../raft/types.ts";
import type { LogStore } from "../storage/types.ts";

/** What {@linkcode forceNewCluster} changed. */
export interface ForcedCluster {
  /** False when this node was already the only member (nothing written). */
  changed: boolean;
  /** The configuration before. */
  before: ConfState;
  /** The members removed. */
  removed: NodeId[];
  /** The term of the new entries and of the hard state. */
  term: number;
  /** The commit index before (as persisted). */
  commitBefore: number;
  /** The last log index after: everything up to it is committed. */
  commit: number;
}

/**
 * Rewrites the store so that `id` is the only voter (see the module
 * documentation). Call it on an opened store before the node starts.
 *
 * @example
 * ```ts ignore
 * const storage = await DiskStorage.open(dir, { identity });
 * const forced = await forceNewCluster(storage, "n3");
 * console.log(forced.removed); // ["n1", "n2"]
 * const node = RaftNode.start({ id: "n3", storage, ... });
 * ```
 */
export async function forceNewCluster(
  storage: LogStore,
  id: NodeId,
): Promise<ForcedCluster> {
  const { hardState, confState } = storage.initialState();
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  // The configuration in effect is the newest in the log.
  let conf: ConfState = confState;
  if (last >= first) {
    for (const e of storage.entries(first, last + 1, Infinity)) {
      if (e.type === EntryType.ConfChange) conf = decodeConfChange(e.data).conf;
    }
  }
  const before = {
    voters: [...conf.voters],
    learners: [...conf.learners],
  };
  const changes: ConfChange[] = [];
  if (conf.learners.includes(id)) changes.push({ type: "promote", node: id });
  else if (!conf.voters.includes(id)) {
    changes.push({ type: "addVoter", node: id });
  }
  const others = [...conf.voters, ...conf.learners].filter((m) => m !== id)
    .sort();
  for (const m of others) changes.push({ type: "remove", node: m });
  const term = hardState.term + 1;
  const result = {
    before,
    removed: others,
    commitBefore: hardState.commit,
  };
  if (changes.length === 0) {
    return { ...result, changed: false, term: hardState.term, commit: last };
  }
  const entries: Entry[] = [];
  let index = last;
  for (const change of changes) {
    const next = applyConfChange(conf, change);
    if (typeof next === "string") throw new Error(next);
    conf = next;
    entries.push({
      term,
      index: ++index,
      type: EntryType.ConfChange,
      data: encodeConfChange({ change, conf }),
    });
  }
  await storage.save({
    entries,
    hardState: { term, vote: "", commit: index },
  });
  return { ...result, changed: true, term, commit: index };
}
