import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type AckedWrite,
  checkWatches,
  type SeenEvent,
  type WatcherLog,
  writeId,
} from "../../src/chaos/watch_check.ts";
import { assertProperty } from "../support/property.ts";

const put = (revision: number, key: string, value = `v${revision}`) => ({
  revision,
  key,
  type: "put",
  value,
});
const del = (revision: number, key: string): SeenEvent => ({
  revision,
  key,
  type: "delete",
});

/** Revisions 1..10: one put each, a delete at 6 and two keys at 8. */
const HISTORY: SeenEvent[] = [
  put(1, "a"),
  put(2, "b"),
  put(3, "a"),
  put(4, "c"),
  put(5, "b"),
  del(6, "a"),
  put(7, "c"),
  put(8, "a"),
  put(8, "d"),
  put(9, "b"),
  put(10, "c"),
];

function watcher(
  name: string,
  fromRevision: number,
  events: SeenEvent[],
  compacted: { from: number; to: number }[] = [],
): WatcherLog {
  return { name, fromRevision, events, compacted };
}

const between = (lo: number, hi: number) =>
  HISTORY.filter((e) => e.revision >= lo && e.revision <= hi);

const acks = (events: SeenEvent[]): AckedWrite[] =>
  events.filter((e) => e.type === "put").map((e) => ({
    revision: e.revision,
    key: e.key,
    value: e.value!,
  }));

/** Asserts exactly one anomaly, matching every pattern. */
function assertOneAnomaly(
  result: ReturnType<typeof checkWatches>,
  ...patterns: RegExp[]
): void {
  assert.equal(result.ok, false, "the anomaly was not reported");
  assert.equal(
    result.anomalies.length,
    1,
    `expected one anomaly: ${JSON.stringify(result.anomalies)}`,
  );
  for (const p of patterns) assert.match(result.anomalies[0], p);
}

Deno.test("checkWatches: clean logs pass", () => {
  const watchers = [
    watcher("w1", 1, between(1, 10)),
    watcher("w2", 4, between(4, 8)),
    watcher("w3", 8, between(8, 10)),
    watcher("idle", 11, []),
  ];
  const r = checkWatches(watchers, acks(HISTORY));
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.ok, true);
  assert.equal(r.delivered, 11 + 6 + 4);
  assert.equal(r.distinct, HISTORY.length);
  assert.equal(r.compactedSkips, 0);
  // No acknowledged writes at all is fine too.
  assert.equal(checkWatches(watchers).ok, true);
  assert.equal(checkWatches([]).ok, true);
});

Deno.test("checkWatches: a missed event is reported", () => {
  const missing = between(1, 10).filter((e) => !(e.revision === 5));
  const r = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher("w2", 1, missing),
  ]);
  assertOneAnomaly(r, /w2 missed/, /\bb=v5\b/, /revision 5\b/, /1\.\.10/);
});

Deno.test("checkWatches: a missed delete is reported", () => {
  const r = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher("w2", 3, between(3, 10).filter((e) => e.type !== "delete")),
  ]);
  assertOneAnomaly(r, /w2 missed delete a/, /revision 6\b/);
});

Deno.test("checkWatches: a duplicate is reported", () => {
  const events = between(1, 10);
  events.splice(4, 0, put(4, "c"));
  const r = checkWatches([watcher("w1", 1, events)]);
  assertOneAnomaly(r, /w1/, /c@4 twice/);
});

Deno.test("checkWatches: an out-of-order event is reported", () => {
  const events = between(1, 10);
  // Swap revisions 3 and 4.
  [events[2], events[3]] = [events[3], events[2]];
  const r = checkWatches([watcher("w1", 1, events)]);
  assertOneAnomaly(r, /w1/, /revision 3 after 4/, /out of order/);
});

Deno.test("checkWatches: two watchers disagreeing on an event are reported", () => {
  const other = between(1, 10).map((e) =>
    e.revision === 7 ? { ...e, value: "forged" } : e
  );
  const r = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher("w2", 1, other),
  ]);
  assert.equal(r.ok, false);
  assert.ok(
    r.anomalies.some((a) =>
      /w2 saw put c=forged at revision 7/.test(a) && /c=v7/.test(a)
    ),
    JSON.stringify(r.anomalies),
  );

  // A put against a delete at the same (revision, key) too.
  const r2 = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher(
      "w2",
      1,
      between(1, 10).map((e) => e.revision === 6 ? put(6, "a") : e),
    ),
  ]);
  assert.equal(r2.ok, false);
  assert.ok(
    r2.anomalies.some((a) =>
      /w2 saw put a=v6 at revision 6/.test(a) && /delete/.test(a)
    ),
    JSON.stringify(r2.anomalies),
  );
});

Deno.test("checkWatches: an event before fromRevision is reported", () => {
  const r = checkWatches([watcher("w1", 5, between(4, 10))]);
  assertOneAnomaly(r, /w1/, /revision 4, before its start 5/);
});

Deno.test("checkWatches: an acknowledged write no watcher saw is reported", () => {
  const acked = [...acks(HISTORY), { revision: 7, key: "z", value: "lost" }];
  const r = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher("w2", 5, between(5, 10)),
    // Its range ends before 7: it is not asked for the lost write.
    watcher("w3", 1, between(1, 6)),
    // It starts after 7: not asked either.
    watcher("w4", 8, between(8, 10)),
  ], acked);
  assert.equal(r.ok, false);
  assert.equal(r.anomalies.length, 2, JSON.stringify(r.anomalies));
  for (const w of ["w1", "w2"]) {
    assert.ok(
      r.anomalies.some((a) =>
        a.startsWith(`${w} missed put z=lost at revision 7`)
      ),
      `${w}: ${JSON.stringify(r.anomalies)}`,
    );
  }
});

Deno.test("checkWatches: an acknowledged write watchers saw differently is reported", () => {
  const r = checkWatches(
    [watcher("w1", 1, between(1, 10))],
    [{ revision: 3, key: "a", value: "acked" }],
  );
  assertOneAnomaly(r, /w1 saw put a=v3 at revision 3/, /a=acked/);
});

Deno.test("checkWatches: a compacted skip excuses missing events in its range only", () => {
  // w2 resumed at 9 after revisions 4..8 were compacted.
  const skipped = [...between(1, 3), ...between(9, 10)];
  const ok = checkWatches(
    [
      watcher("w1", 1, between(1, 10)),
      watcher("w2", 1, skipped, [{ from: 4, to: 8 }]),
    ],
    acks(HISTORY),
  );
  assert.deepEqual(ok.anomalies, []);
  assert.equal(ok.compactedSkips, 1);

  // The same skip does not excuse revision 9, just past it, nor 3.
  for (const gone of [3, 9]) {
    const r = checkWatches(
      [
        watcher("w1", 1, between(1, 10)),
        watcher(
          "w2",
          1,
          skipped.filter((e) => e.revision !== gone),
          [{ from: 4, to: 8 }],
        ),
      ],
      acks(HISTORY),
    );
    assertOneAnomaly(r, /w2 missed/, new RegExp(`revision ${gone}\\b`));
  }

  // Two skips: only revisions inside one of them are excused.
  const two = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher(
      "w2",
      1,
      [...between(1, 1), ...between(4, 5), ...between(7, 10)],
      [{ from: 2, to: 3 }, { from: 6, to: 6 }],
    ),
  ]);
  assert.deepEqual(two.anomalies, []);
  assert.equal(two.compactedSkips, 2);
});

Deno.test("checkWatches: revisions past a watcher's last event are not demanded of it", () => {
  const r = checkWatches(
    [
      watcher("w1", 1, between(1, 10)),
      // Stopped (or was cut off) after revision 4.
      watcher("w2", 1, between(1, 4)),
      // Saw only revision 8, both keys.
      watcher("w3", 8, between(8, 8)),
    ],
    [...acks(HISTORY), { revision: 11, key: "late", value: "x" }],
  );
  // Only the last write (past everyone's end) is unseen, and not demanded.
  assert.deepEqual(r.anomalies, []);

  // But the end is the last revision received, so a write at the end that
  // a watcher did not get is demanded: w3 saw d@8 but not a@8.
  const r2 = checkWatches([
    watcher("w1", 1, between(1, 10)),
    watcher("w3", 8, [put(8, "d")]),
  ]);
  assertOneAnomaly(r2, /w3 missed put a=v8 at revision 8/);
});

Deno.test("checkWatches: at most 20 anomalies are kept", () => {
  const events = Array.from({ length: 50 }, (_, i) => put(i + 1, "k"));
  const r = checkWatches([
    watcher("w1", 1, events),
    watcher("w2", 1, [...events, ...events]),
  ]);
  assert.equal(r.ok, false);
  assert.equal(r.anomalies.length, 20);
  assert.equal(r.delivered, 150);
});

/**
 * A random history (increasing revisions, one or more keys per revision)
 * and watchers cut from it: each a contiguous slice from some revision,
 * possibly with compacted ranges it skipped.
 */
const scenario: fc.Arbitrary<[SeenEvent[], WatcherLog[]]> = fc
  .array(
    fc.uniqueArray(fc.constantFrom("a", "b", "c", "d"), {
      minLength: 1,
      maxLength: 3,
    }),
    { minLength: 1, maxLength: 30 },
  )
  .chain((keysPerRev) => {
    const history: SeenEvent[] = [];
    keysPerRev.forEach((keys, i) => {
      for (const k of keys) {
        history.push(
          (i + k.length) % 5 === 0 ? del(i + 1, k) : put(i + 1, k, `${k}${i}`),
        );
      }
    });
    const last = keysPerRev.length;
    const sliceArb = fc
      .tuple(
        fc.integer({ min: 1, max: last }),
        fc.integer({ min: 1, max: last }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: last }),
            fc.integer({ min: 0, max: 4 }),
          ),
          { maxLength: 2 },
        ),
      )
      .map(([x, y, skips]) => {
        const from = Math.min(x, y);
        const to = Math.max(x, y);
        const compacted = skips.map(([s, len]) => ({ from: s, to: s + len }));
        const events = history.filter((e) =>
          e.revision >= from && e.revision <= to &&
          !compacted.some((c) => e.revision >= c.from && e.revision <= c.to)
        );
        return watcher("", from, events, compacted);
      });
    return fc.tuple(
      fc.constant(history),
      fc.array(sliceArb, { minLength: 1, maxLength: 4 }).map((ws) =>
        ws.map((w, i) => ({ ...w, name: `w${i}` }))
      ),
    );
  });

Deno.test("checkWatches: slices of one history always pass (property)", (t) => {
  assertProperty(
    t,
    fc.property(scenario, fc.boolean(), ([history, watchers], withAcks) => {
      const r = checkWatches(watchers, withAcks ? acks(history) : []);
      assert.deepEqual(r.anomalies, []);
      assert.equal(
        r.delivered,
        watchers.reduce((n, w) => n + w.events.length, 0),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("checkWatches: removing one event from one watcher always fails (property)", (t) => {
  assertProperty(
    t,
    fc.property(
      scenario,
      fc.nat(),
      fc.nat(),
      ([history, watchers], wi, ei) => {
        // Give a full, uncompacted watcher as the witness of every event,
        // then drop one event from another watcher that has at least two.
        const victims = watchers.filter((w) => w.events.length >= 2);
        fc.pre(victims.length > 0);
        const victim = victims[wi % victims.length];
        const gone = victim.events[ei % victim.events.length];
        // Dropping the last event shrinks the covered range instead, unless
        // another event shares its revision; keep removals that matter.
        const end = victim.events[victim.events.length - 1].revision;
        fc.pre(
          gone.revision < end ||
            victim.events.filter((e) => e.revision === end).length > 1,
        );
        const cut = {
          ...victim,
          events: victim.events.filter((e) => e !== gone),
        };
        const all = [
          watcher("witness", 1, history),
          ...watchers.map((w) => w === victim ? cut : w),
        ];
        const r = checkWatches(all);
        assert.equal(r.ok, false);
        assert.ok(
          r.anomalies.some((a) =>
            a.startsWith(`${victim.name} missed`) &&
            a.includes(`revision ${gone.revision} `)
          ),
          JSON.stringify({ gone, anomalies: r.anomalies }),
        );
      },
    ),
    { numRuns: 300 },
  );
});

const attemptedOf = (events: SeenEvent[]) =>
  new Set(
    events.filter((e) => e.type === "put").map((e) => writeId(e.key, e.value!)),
  );

Deno.test("checkWatches: every put must be an attempted write", () => {
  const watchers = [watcher("w1", 1, between(1, 10))];
  assert.equal(checkWatches(watchers, [], attemptedOf(HISTORY)).ok, true);
  // The value written at 4 under "c" shows up at 11 under "a": a command
  // no client sent (a replay with the wrong key, or corruption).
  const phantom = [...between(1, 10), put(11, "a", "v4")];
  assertOneAnomaly(
    checkWatches([watcher("w1", 1, phantom)], [], attemptedOf(HISTORY)),
    /put a=v4 at revision 11 was never written by a client/,
  );
});

Deno.test("checkWatches: a write applied twice is reported", () => {
  // "c"=v4 applied again at 11 (a retried command applied a second time).
  const twice = [...between(1, 10), put(11, "c", "v4")];
  assertOneAnomaly(
    checkWatches([watcher("w1", 1, twice)], [], attemptedOf(HISTORY)),
    /put c=v4 was applied twice, at revisions 4 and 11/,
  );
});
