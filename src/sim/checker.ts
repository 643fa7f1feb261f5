/**
 * The simulator's safety checks: the Raft invariants of Figure 3 of the
 * paper, plus monotonic commit and persisted state, linearizable reads,
 * and the service state machine's own bookkeeping of the recipes (held +
 * free permits == limit for every semaphore) after every applied entry.
 * Each check is fed by the simulated hosts as they persist, apply and serve
 * reads; the first broken invariant is kept as the verdict.
 *
 * @module
 */

import type { Entry, HardState, NodeId } from "../raft/types.ts";

/** One broken invariant: which one, at what simulated step, and the facts. */
export interface Violation {
  /** The invariant's name, for example `"election safety"`. */
  invariant: string;
  /** A sentence with the facts that broke it. */
  detail: string;
  /** The simulated step at which it was seen. */
  step: number;
}

/** Identity of an entry's content: its term and payload. */
function entryKey(e: Entry): string {
  let s = `${e.term}/${e.type}/`;
  // Payloads in the simulator are short; hex keeps the key exact.
  for (const b of e.data) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Collects observations from every node and reports the first violation. */
export class SafetyChecker {
  /** The first violation seen, if any. */
  violation: Violation | undefined;
  /** The current simulated step, set by the simulator. */
  step = 0;

  // term -> the one leader of that term.
  readonly #leaders = new Map<number, NodeId>();
  // index -> (term -> {entry key, previous entry's term}) over every
  // entry any node has persisted: checks log matching.
  readonly #persisted = new Map<
    number,
    Map<number, { key: string; prevTerm: number | undefined }>
  >();
  // index -> term of the entry committed there (seen in some node's log).
  readonly #committedTerm = new Map<number, number>();
  // index -> key of the entry applied there (state machine safety).
  readonly #applied = new Map<number, string>();
  // index -> the state machine's hash after applying it.
  readonly #stateHash = new Map<number, number>();
  #maxCommit = 0;
  readonly #lastCommit = new Map<NodeId, number>();
  readonly #lastHard = new Map<NodeId, HardState>();

  /** The highest commit index any node has reached so far. */
  maxCommit(): number {
    return this.#maxCommit;
  }

  /** The term of the committed entry at `index`, if known. */
  committedTerm(index: number): number | undefined {
    return this.#committedTerm.get(index);
  }

  #fail(invariant: string, detail: string): void {
    if (!this.violation) {
      this.violation = { invariant, detail, step: this.step };
    }
  }

  /** A node is leader in `term`: at most one per term (§5.2). */
  observeLeader(
    id: NodeId,
    term: number,
    log: (i: number) => number | undefined,
    firstIndex: number,
  ): void {
    const prev = this.#leaders.get(term);
    if (prev === undefined) {
      this.#leaders.set(term, id);
      // Leader completeness (§5.4): a new leader holds every committed entry.
      for (let i = Math.max(1, firstIndex); i <= this.#maxCommit; i++) {
        const want = this.#committedTerm.get(i);
        if (want === undefined) continue;
        const got = log(i);
        if (got !== want) {
          this.#fail(
            "leader completeness",
            `${id} became leader of term ${term} with term ${got} at index ${i}, where term ${want} was committed`,
          );
          return;
        }
      }
    } else if (prev !== id) {
      this.#fail(
        "election safety",
        `Term ${term} has two leaders: ${prev} and ${id}`,
      );
    }
  }

  /**
   * A node persisted hard state: its term never decreases, and its vote
   * never changes within a term.
   */
  observePersistHardState(id: NodeId, hs: HardState): void {
    const prev = this.#lastHard.get(id);
    if (prev) {
      if (hs.term < prev.term) {
        this.#fail(
          "persisted term monotonic",
          `${id} persisted term ${hs.term} after ${prev.term}`,
        );
      } else if (
        hs.term === prev.term && prev.vote !== "" && hs.vote !== prev.vote
      ) {
        this.#fail(
          "one vote per term",
          `${id} persisted vote ${
            hs.vote || "(none)"
          } in term ${hs.term} after voting ${prev.vote}`,
        );
      }
      if (hs.commit < prev.commit) {
        this.#fail(
          "commit monotonic",
          `${id} persisted commit ${hs.commit} after ${prev.commit}`,
        );
      }
    }
    this.#lastHard.set(id, { ...hs });
  }

  /**
   * A node persisted entries; `termAt` gives its log's term at an index.
   * Log matching (§5.3): an index and term identify one entry, and the entry
   * before it.
   */
  observePersistEntries(
    entries: readonly Entry[],
    termAt: (i: number) => number | undefined,
  ): void {
    for (const e of entries) {
      const key = entryKey(e);
      const prevTerm = e.index > 1 ? termAt(e.index - 1) : 0;
      let byTerm = this.#persisted.get(e.index);
      if (!byTerm) {
        byTerm = new Map();
        this.#persisted.set(e.index, byTerm);
      }
      const seen = byTerm.get(e.term);
      if (!seen) {
        byTerm.set(e.term, { key, prevTerm });
        continue;
      }
      if (seen.key !== key) {
        this.#fail(
          "log matching",
          `Two different entries at index ${e.index} with term ${e.term}`,
        );
      } else if (
        seen.prevTerm !== undefined && prevTerm !== undefined &&
        seen.prevTerm !== prevTerm
      ) {
        this.#fail(
          "log matching",
          `Entry ${e.index}/${e.term} follows term ${prevTerm} in one log and term ${seen.prevTerm} in another`,
        );
      }
    }
  }

  /**
   * A node's commit index, as it is now. It never decreases while the node
   * runs, and every committed index holds one term across all nodes.
   */
  observeCommit(
    id: NodeId,
    commit: number,
    termAt: (i: number) => number | undefined,
  ): void {
    const prev = this.#lastCommit.get(id) ?? 0;
    if (commit < prev) {
      this.#fail(
        "commit monotonic",
        `${id} commit index went from ${prev} to ${commit}`,
      );
      return;
    }
    for (let i = prev + 1; i <= commit; i++) {
      const t = termAt(i);
      if (t === undefined) continue; // covered by a snapshot
      const want = this.#committedTerm.get(i);
      if (want === undefined) this.#committedTerm.set(i, t);
      else if (want !== t) {
        this.#fail(
          "state machine safety",
          `${id} committed term ${t} at index ${i}, others term ${want}`,
        );
        return;
      }
    }
    this.#lastCommit.set(id, commit);
    if (commit > this.#maxCommit) this.#maxCommit = commit;
  }

  /** A node restarted: its in-memory commit index starts again from what it persisted. */
  observeRestart(id: NodeId, commit: number): void {
    this.#lastCommit.set(id, commit);
  }

  /** A node applied an entry: every node applies the same entry at an index. */
  observeApply(id: NodeId, e: Entry): void {
    const key = entryKey(e);
    const prev = this.#applied.get(e.index);
    if (prev === undefined) this.#applied.set(e.index, key);
    else if (prev !== key) {
      this.#fail(
        "state machine safety",
        `${id} applied a different entry at index ${e.index}`,
      );
    }
  }

  /** A node's state machine after applying `index`: every node has the same state there. */
  observeState(id: NodeId, index: number, hash: number): void {
    const prev = this.#stateHash.get(index);
    if (prev === undefined) this.#stateHash.set(index, hash);
    else if (prev !== hash) {
      this.#fail(
        "state machine safety",
        `${id} has a different state after applying index ${index}`,
      );
    }
  }

  /**
   * A node's service state machine after applying `index`, with the
   * problems its own bookkeeping check found (`invariantViolations()`):
   * for every semaphore held plus free permits equal the limit and none is
   * overdrawn ("semaphore permits"); one leader per election, readers or
   * one writer per read-write lock, every entry's lease alive ("recipe
   * bookkeeping").
   */
  observeServiceInvariants(
    id: NodeId,
    index: number,
    problems: readonly string[],
  ): void {
    if (problems.length === 0) return;
    const permits = problems.find((p) => /held \d+ \+ free|free is -/.test(p));
    this.#fail(
      permits ? "semaphore permits" : "recipe bookkeeping",
      `${id} after applying index ${index}: ${permits ?? problems[0]}${
        problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""
      }`,
    );
  }

  /**
   * A read was served at `appliedIndex`; it began when the cluster's commit
   * index was `startCommit`. A linearizable read sees at least that.
   */
  observeRead(id: NodeId, startCommit: number, appliedIndex: number): void {
    if (appliedIndex < startCommit) {
      this.#fail(
        "linearizable read",
        `${id} served a read at applied index ${appliedIndex}, older than index ${startCommit} committed before the read began`,
      );
    }
  }
}
