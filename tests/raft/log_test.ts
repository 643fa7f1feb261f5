/**
 * Unit tests of RaftLog: stable storage plus the unstable tail, the
 * conflict searches, commit and apply cursors, and slicing with byte
 * limits (after etcd-io/raft's log_test.go).
 */

import assert from "node:assert/strict";
import { RaftInvariantError } from "../../src/raft/errors.ts";
import { RaftLog } from "../../src/raft/log.ts";
import { CompactedError } from "../../src/raft/storage.ts";
import type { Entry } from "../../src/raft/types.ts";
import { entriesFrom, entry, newStorage, termsOf } from "./network.ts";

const VOTERS = ["n1"];

/** A log over a storage holding `ents` (after an optional snapshot). */
function newLog(
  ents: Entry[],
  snapshot?: { index: number; term: number },
): RaftLog {
  return new RaftLog(newStorage({ voters: VOTERS, entries: ents, snapshot }));
}

/** Entries given as [index, term] pairs. */
function ents(...pairs: [number, number][]): Entry[] {
  return pairs.map(([i, t]) => entry(i, t));
}

Deno.test("findConflict returns the first index whose term differs, or 0", () => {
  const prev = ents([1, 1], [2, 2], [3, 3]);
  const cases: { ents: Entry[]; want: number }[] = [
    // No conflict, nothing new.
    { ents: [], want: 0 },
    { ents: ents([1, 1], [2, 2], [3, 3]), want: 0 },
    { ents: ents([2, 2], [3, 3]), want: 0 },
    { ents: ents([3, 3]), want: 0 },
    // No conflict, but new entries: the first new index.
    { ents: ents([1, 1], [2, 2], [3, 3], [4, 4], [5, 4]), want: 4 },
    { ents: ents([2, 2], [3, 3], [4, 4], [5, 4]), want: 4 },
    { ents: ents([3, 3], [4, 4], [5, 4]), want: 4 },
    { ents: ents([4, 4], [5, 4]), want: 4 },
    // Conflicts with existing entries.
    { ents: ents([1, 4], [2, 4]), want: 1 },
    { ents: ents([2, 1], [3, 4], [4, 4]), want: 2 },
    { ents: ents([3, 1], [4, 2], [5, 4], [6, 4]), want: 3 },
  ];
  for (const [i, tt] of cases.entries()) {
    assert.equal(newLog(prev).findConflict(tt.ents), tt.want, `#${i}`);
  }
});

Deno.test("findConflictByTerm finds the last index at or below with a term no greater", () => {
  // Log: terms 2 2 5 5 5 at indexes 1..5.
  const log = newLog(entriesFrom(1, 2, 2, 5, 5, 5));
  const cases: [number, number, number][] = [
    [6, 2, 6], // beyond the log: the term is unknown, stop there
    [5, 6, 5],
    [5, 5, 5],
    [5, 4, 2],
    [5, 2, 2],
    [5, 1, 0],
    [1, 2, 1],
    [1, 1, 0],
    [0, 0, 0],
  ];
  for (const [index, term, want] of cases) {
    assert.equal(
      log.findConflictByTerm(index, term),
      want,
      `(${index}, ${term})`,
    );
  }
});

Deno.test("findConflictByTerm stops at the compacted part of the log", () => {
  // Snapshot at 10 (term 3), then terms 3 3 4 4 4 at 11..15.
  const log = newLog(entriesFrom(11, 3, 3, 4, 4, 4), { index: 10, term: 3 });
  const cases: [number, number, number][] = [
    [30, 3, 30],
    [14, 9, 14],
    [14, 4, 14],
    [14, 3, 12],
    [14, 2, 9], // below the snapshot the term is unknown
    [11, 2, 9],
    [10, 3, 10], // the snapshot's own term is known
    [10, 2, 9],
    [9, 2, 9],
  ];
  for (const [index, term, want] of cases) {
    assert.equal(
      log.findConflictByTerm(index, term),
      want,
      `(${index}, ${term})`,
    );
  }
});

Deno.test("isUpToDate compares last terms, then lengths (§5.4.1)", () => {
  const log = newLog(entriesFrom(1, 1, 2, 3));
  const last = log.lastIndex();
  const cases: [number, number, boolean][] = [
    // A later last term wins whatever the length.
    [last - 1, 4, true],
    [last, 4, true],
    [last + 1, 4, true],
    // An earlier last term loses whatever the length.
    [last - 1, 2, false],
    [last, 2, false],
    [last + 1, 2, false],
    // The same last term: at least as long wins.
    [last - 1, 3, false],
    [last, 3, true],
    [last + 1, 3, true],
  ];
  for (const [index, term, want] of cases) {
    assert.equal(log.isUpToDate(index, term), want, `(${index}, ${term})`);
  }
});

Deno.test("append adds to the unstable tail and truncates a conflicting suffix", () => {
  const cases: {
    ents: Entry[];
    last: number;
    terms: number[];
    offset: number;
  }[] = [
    { ents: [], last: 2, terms: [1, 2], offset: 3 },
    { ents: ents([3, 2]), last: 3, terms: [1, 2, 2], offset: 3 },
    // Conflicts with index 1: the unstable part starts before storage's end.
    { ents: ents([1, 2]), last: 1, terms: [2], offset: 1 },
    // Conflicts with index 2.
    { ents: ents([2, 3], [3, 3]), last: 3, terms: [1, 3, 3], offset: 2 },
  ];
  for (const [i, tt] of cases.entries()) {
    const log = newLog(entriesFrom(1, 1, 2));
    assert.equal(log.append(tt.ents), tt.last, `#${i}`);
    assert.deepEqual(termsOf(log.entries(1, Infinity)), tt.terms, `#${i}`);
    assert.equal(log.unstable.offset, tt.offset, `#${i}`);
  }
});

Deno.test("append refuses to overwrite a committed entry", () => {
  const log = newLog(entriesFrom(1, 1, 1, 1));
  log.commitTo(2);
  assert.throws(() => log.append(ents([2, 2])), RaftInvariantError);
  assert.throws(() => log.append(ents([1, 2], [2, 2])), RaftInvariantError);
  assert.deepEqual(termsOf(log.entries(1, Infinity)), [1, 1, 1]);
  assert.equal(
    log.append(ents([3, 2])),
    3,
    "right after the commit index is fine",
  );
  assert.deepEqual(termsOf(log.entries(1, Infinity)), [1, 1, 2]);
});

Deno.test("stableTo marks entries stable only if they are still the ones persisted", () => {
  const log = newLog(entriesFrom(1, 1));
  log.append(ents([2, 1], [3, 1]));
  // A wrong term (the host persisted something else): nothing changes.
  log.stableTo(3, 2);
  assert.equal(log.unstable.offset, 2);
  log.stableTo(2, 1);
  assert.equal(log.unstable.offset, 3);
  assert.deepEqual(log.unstableEntries().map((e) => e.index), [3]);

  // While the host writes (3, term 1) a new leader replaces it with term 2:
  // the acknowledgement of the old write must not make the new one stable.
  log.append(ents([3, 2]));
  log.stableTo(3, 1);
  assert.deepEqual(log.unstableEntries().map((e) => [e.index, e.term]), [
    [3, 2],
  ]);
});

Deno.test("maybeCommit commits only up to an entry of the given term", () => {
  const cases: {
    index: number;
    term: number;
    ok: boolean;
    commit: number;
  }[] = [
    { index: 3, term: 3, ok: true, commit: 3 },
    { index: 2, term: 2, ok: true, commit: 2 },
    // The entry at the index has another term.
    { index: 2, term: 3, ok: false, commit: 0 },
    { index: 3, term: 2, ok: false, commit: 0 },
    // Beyond the log.
    { index: 4, term: 3, ok: false, commit: 0 },
    // Not forward.
    { index: 0, term: 0, ok: false, commit: 0 },
  ];
  for (const [i, tt] of cases.entries()) {
    const log = newLog(entriesFrom(1, 1, 2, 3));
    assert.equal(log.maybeCommit(tt.index, tt.term), tt.ok, `#${i}`);
    assert.equal(log.committed, tt.commit, `#${i}`);
  }
  const log = newLog(entriesFrom(1, 1, 2, 3));
  log.commitTo(3);
  assert.equal(
    log.maybeCommit(2, 2),
    false,
    "the commit index never decreases",
  );
  assert.equal(log.committed, 3);
});

Deno.test("commitTo never lowers the commit index and refuses to pass the log", () => {
  const log = newLog(entriesFrom(1, 1, 1, 1));
  log.commitTo(2);
  log.commitTo(1);
  assert.equal(log.committed, 2);
  assert.throws(() => log.commitTo(4), RaftInvariantError);
  assert.equal(log.committed, 2);
});

Deno.test("appliedTo must stay within [applied, committed]", () => {
  const log = newLog(entriesFrom(1, 1, 1, 1));
  log.commitTo(2);
  assert.throws(() => log.appliedTo(3), RaftInvariantError);
  log.appliedTo(2);
  assert.equal(log.applied, 2);
  assert.throws(() => log.appliedTo(1), RaftInvariantError);
});

Deno.test("committed entries are handed out once, from applying, within a byte budget", () => {
  const log = newLog(entriesFrom(1, 1, 1, 1, 1, 1));
  assert.equal(log.hasNextCommittedEntries(), false);
  log.commitTo(4);
  assert.equal(log.hasNextCommittedEntries(), true);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [
    1,
    2,
    3,
    4,
  ]);
  // 24 bytes per empty entry: a budget of 50 gives two.
  assert.deepEqual(log.nextCommittedEntries(50).map((e) => e.index), [1, 2]);
  assert.deepEqual(log.nextCommittedEntries(0).map((e) => e.index), [1]);
  log.applying = 2; // handed to the host, not yet applied
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [3, 4]);
  log.applying = 4;
  assert.equal(log.hasNextCommittedEntries(), false);
  assert.deepEqual(log.nextCommittedEntries(), []);
});

Deno.test("a log over a snapshot starts committed and applied at the snapshot", () => {
  const log = newLog(entriesFrom(6, 2, 2), { index: 5, term: 2 });
  assert.equal(log.firstIndex(), 6);
  assert.equal(log.lastIndex(), 7);
  assert.equal(log.committed, 5);
  assert.equal(log.applied, 5);
  assert.equal(log.term(5), 2, "the snapshot's term");
  assert.equal(log.term(4), undefined, "compacted");
  assert.equal(log.term(8), undefined, "beyond the log");
  assert.equal(log.hasNextCommittedEntries(), false);
});

Deno.test("restore replaces the log with a snapshot", () => {
  const log = newLog(entriesFrom(1, 1, 1, 1));
  log.commitTo(1);
  log.restore({
    metadata: { index: 10, term: 4, conf: { voters: VOTERS, learners: [] } },
    data: new Uint8Array(),
  });
  assert.equal(log.committed, 10);
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.lastTerm(), 4);
  assert.equal(log.term(3), undefined);
  assert.equal(log.snapshot().metadata.index, 10);
  assert.deepEqual(log.unstableEntries(), []);
});

/** Entries of 100 bytes each (76 payload + 24 overhead). */
function heavy(first: number, n: number): Entry[] {
  return Array.from(
    { length: n },
    (_, i) => entry(first + i, 1, "x".repeat(76)),
  );
}

Deno.test("slice spans stable and unstable entries within a byte limit", () => {
  // Snapshot at 3; 4..6 stable in storage; 7..9 unstable.
  const log = new RaftLog(
    newStorage({
      voters: VOTERS,
      snapshot: { index: 3, term: 1 },
      entries: heavy(4, 3),
    }),
  );
  log.append(heavy(7, 3));
  assert.equal(log.unstable.offset, 7);
  const idx = (es: Entry[]) => es.map((e) => e.index);
  const cases: [number, number, number, number[]][] = [
    [4, 10, Infinity, [4, 5, 6, 7, 8, 9]],
    [4, 7, Infinity, [4, 5, 6]], // stable only
    [7, 10, Infinity, [7, 8, 9]], // unstable only
    [5, 8, Infinity, [5, 6, 7]], // across the boundary
    [5, 5, Infinity, []],
    // At least one entry even if it alone exceeds the limit.
    [4, 10, 0, [4]],
    [4, 10, 99, [4]],
    [4, 10, 100, [4]],
    [4, 10, 199, [4]],
    [4, 10, 200, [4, 5]],
    [4, 10, 300, [4, 5, 6]], // exactly the stable part
    [4, 10, 350, [4, 5, 6]],
    [4, 10, 400, [4, 5, 6, 7]], // the limit reaches into the unstable part
    [6, 10, 150, [6]],
    [6, 10, 200, [6, 7]],
    [7, 10, 250, [7, 8]],
    [7, 8, 0, [7]],
  ];
  for (const [lo, hi, max, want] of cases) {
    assert.deepEqual(
      idx(log.slice(lo, hi, max)),
      want,
      `[${lo}, ${hi}) <= ${max}`,
    );
  }
  assert.throws(() => log.slice(3, 5), CompactedError);
  assert.throws(() => log.slice(2, 5), CompactedError);
  assert.throws(() => log.slice(4, 11), RaftInvariantError);
  assert.throws(() => log.slice(6, 5), RaftInvariantError);
  assert.deepEqual(idx(log.entries(8, Infinity)), [8, 9]);
  assert.deepEqual(log.entries(10, Infinity), []);
});
