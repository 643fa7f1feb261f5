import assert from "node:assert/strict";
import type { Compare, TxnCommand } from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

function txn(compare: Compare[]): TxnCommand {
  return {
    type: "txn",
    compare,
    success: [{ type: "get", key: "k" }],
    failure: [],
  };
}

Deno.test("txn compares every target with every operator", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 10 }).id;
  h.ok({ type: "put", key: "other", value: "o" }); // rev 1
  h.ok({ type: "put", key: "k", value: "m" }); // rev 2
  h.ok({ type: "put", key: "k", value: "m", lease }); // rev 3, version 2
  // k: value "m", version 2, createRevision 2, modRevision 3, lease `lease`.
  const cases: [
    Compare["target"],
    string | number,
    string | number,
    string | number,
  ][] = [
    // target, equal value, lower value, higher value
    ["value", "m", "l", "n"],
    ["version", 2, 1, 3],
    ["createRevision", 2, 1, 3],
    ["modRevision", 3, 2, 4],
    ["lease", lease, lease - 1, lease + 1],
  ];
  for (const [target, eq, lo, hi] of cases) {
    const check = (
      op: Compare["op"],
      value: string | number,
      want: boolean,
    ) => {
      const r = h.ok(txn([{ key: "k", target, op, value } as Compare]));
      assert.equal(r.succeeded, want, `${target} ${op} ${value}`);
    };
    check("==", eq, true);
    check("==", lo, false);
    check("!=", eq, false);
    check("!=", hi, true);
    check("<", hi, true);
    check("<", eq, false);
    check("<", lo, false);
    check(">", lo, true);
    check(">", eq, false);
    check(">", hi, false);
  }
});

Deno.test("txn compares on a missing key: numbers are 0, value always fails", () => {
  const h = new Harness();
  for (
    const target of [
      "version",
      "modRevision",
      "createRevision",
      "lease",
    ] as const
  ) {
    assert.equal(
      h.ok(txn([{ key: "none", target, op: "==", value: 0 }])).succeeded,
      true,
    );
    assert.equal(
      h.ok(txn([{ key: "none", target, op: ">", value: 0 }])).succeeded,
      false,
    );
  }
  for (const op of ["==", "!=", "<", ">"] as const) {
    assert.equal(
      h.ok(txn([{ key: "none", target: "value", op, value: "" }])).succeeded,
      false,
    );
  }
});

Deno.test("txn runs success or failure ops; all writes share one revision", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "a", value: "1" });
  h.ok({ type: "put", key: "p/x", value: "x" });
  h.ok({ type: "put", key: "p/y", value: "y" });
  const r = h.ok({
    type: "txn",
    compare: [{ key: "a", target: "value", op: "==", value: "1" }],
    success: [
      { type: "put", key: "a", value: "2" },
      { type: "put", key: "b", value: "new" },
      { type: "delete", key: "p/", prefix: true },
      { type: "get", key: "a" },
      { type: "get", key: "", prefix: true, limit: 1 },
    ],
    failure: [{ type: "put", key: "failed", value: "1" }],
  });
  assert.equal(r.succeeded, true);
  assert.equal(r.revision, 4);
  const a2 = {
    key: "a",
    value: "2",
    createRevision: 1,
    modRevision: 4,
    version: 2,
  };
  assert.deepEqual(r.results, [
    { type: "put", revision: 4 },
    { type: "put", revision: 4 },
    { type: "delete", deleted: 2 },
    { type: "get", kvs: [a2], more: false },
    { type: "get", kvs: [a2], more: true },
  ]);
  assert.equal(h.sm.get("b")?.modRevision, 4);
  const events = h.sm.eventsSince(3);
  assert.ok(!events.compacted);
  assert.deepEqual(events.events.map((e) => [e.type, e.key, e.revision]), [
    ["put", "a", 4],
    ["put", "b", 4],
    ["delete", "p/x", 4],
    ["delete", "p/y", 4],
  ]);

  const f = h.ok({
    type: "txn",
    compare: [{ key: "a", target: "version", op: ">", value: 5 }],
    success: [{ type: "put", key: "never", value: "1" }],
    failure: [{ type: "put", key: "failed", value: "1" }, {
      type: "get",
      key: "nope",
    }],
  });
  assert.equal(f.succeeded, false);
  assert.equal(f.revision, 5);
  assert.deepEqual(f.results, [
    { type: "put", revision: 5 },
    { type: "get", kvs: [], more: false },
  ]);
  assert.equal(h.sm.get("never"), null);
  // A read-only txn does not raise the revision.
  const ro = h.ok({
    type: "txn",
    compare: [],
    success: [{ type: "get", key: "a" }],
    failure: [],
  });
  assert.equal(ro.revision, 5);
});

Deno.test("txn is atomic: a put with a missing lease writes nothing", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "a", value: "1" });
  const before = h.sm.snapshot();
  h.fails({
    type: "txn",
    compare: [],
    success: [
      { type: "put", key: "a", value: "2" },
      { type: "put", key: "b", value: "2", lease: 99 },
    ],
    failure: [],
  }, "not_found");
  assert.deepEqual(h.sm.snapshot(), before);
});

Deno.test("txn validation rejects bad compares and too many ops", () => {
  const h = new Harness();
  h.fails({
    type: "txn",
    compare: [
      {
        key: "a",
        target: "version",
        op: "==",
        value: "1",
      } as unknown as Compare,
    ],
    success: [],
    failure: [],
  }, "bad_request");
  h.fails({
    type: "txn",
    compare: [
      { key: "a", target: "value", op: "<=", value: "1" } as unknown as Compare,
    ],
    success: [],
    failure: [],
  }, "bad_request");
  h.fails({
    type: "txn",
    compare: [],
    success: Array.from(
      { length: 129 },
      (_, i) => ({ type: "get" as const, key: `k${i}` }),
    ),
    failure: [],
  }, "bad_request");
});
