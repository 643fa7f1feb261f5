/**
 * The search against a brute-force checker on tiny random histories (every
 * order, every choice of which unknown operations happened): same verdicts,
 * and every failing sub-history is honest (still illegal with every other
 * operation free to have happened or not).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  check,
  lockModel,
  type Model,
  type Op,
  type Operation,
  registerModel,
  search,
  type SearchOp,
  type Status,
  UNKNOWN,
} from "../../src/check/mod.ts";
import { bruteForce, STEP_BUDGET } from "./helpers.ts";
import { assertProperty } from "../support/property.ts";

interface Raw {
  client: number;
  op: Op;
  result: unknown;
  start: number;
  len: number;
  status: Status;
}

function toOps(raws: readonly Raw[]): Operation[] {
  return raws.map((x, id) => ({
    id,
    client: `c${x.client}`,
    op: x.op,
    status: x.status,
    result: x.status === "ok" ? x.result : undefined,
    start: x.start,
    end: x.status === "info" ? Infinity : x.start + x.len,
  }));
}

const status = fc.constantFrom<Status>("ok", "ok", "ok", "ok", "info", "fail");
const val = fc.option(fc.integer({ min: 1, max: 3 }), { nil: null });

const registerOp = fc.oneof(
  fc.record({ op: fc.constant({ f: "read", key: "x" }), result: val }),
  fc.integer({ min: 1, max: 3 }).map((v) => ({
    op: { f: "write", key: "x", value: v },
    result: undefined,
  })),
  fc.tuple(val, fc.integer({ min: 1, max: 3 }), fc.boolean()).map((
    [e, v, ok],
  ) => ({ op: { f: "cas", key: "x", expected: e, value: v }, result: ok })),
  fc.constant({ op: { f: "delete", key: "x" }, result: undefined }),
);

const token = fc.integer({ min: 1, max: 5 });
const lockName = fc.constantFrom("A", "B");
const lockOp = fc.oneof(
  fc.tuple(lockName, token).map(([lock, t]) => ({
    op: { f: "acquire", lock },
    result: t,
  })),
  fc.tuple(lockName, token).map(([lock, t]) => ({
    op: { f: "release", lock, token: t },
    result: undefined,
  })),
  fc.tuple(lockName, token).map(([lock, t]) => ({
    op: { f: "fencedWrite", lock, token: t },
    result: undefined,
  })),
  fc.tuple(lockName, fc.option(token, { nil: null })).map(([lock, t]) => ({
    op: { f: "holder", lock },
    result: t,
  })),
  fc.tuple(lockName, token, fc.boolean()).map(([lock, t, v]) => ({
    op: { f: "validate", lock, token: t },
    result: v,
  })),
);

function history(
  ops: fc.Arbitrary<{ op: Op; result: unknown }>,
  size: { minLength: number; maxLength: number; span: number } = {
    minLength: 1,
    maxLength: 7,
    span: 12,
  },
): fc.Arbitrary<Raw[]> {
  return fc.array(
    fc.record({
      client: fc.integer({ min: 0, max: 3 }),
      x: ops,
      start: fc.integer({ min: 0, max: size.span }),
      len: fc.integer({ min: 0, max: size.span / 2 }),
      status,
    }).map(({ client, x, start, len, status }) => ({
      client,
      op: x.op,
      result: x.result,
      start,
      len,
      status,
    })),
    { minLength: size.minLength, maxLength: size.maxLength },
  );
}

const medium = { minLength: 8, maxLength: 13, span: 30 };

const models = [
  ["register", registerModel()],
  ["register, initial 1", registerModel({ initial: 1 })],
] as const;
const lockModels = [
  ["lock", lockModel()],
  ["lock, no expiry", lockModel({ leasesMayExpire: false })],
] as const;

function agree(
  name: string,
  // deno-lint-ignore no-explicit-any
  model: any,
  raws: Raw[],
): void {
  const ops = toOps(raws);
  const expected = bruteForce(model, ops);
  const res = check(ops, model, STEP_BUDGET);
  assert.equal(
    res.result,
    expected ? "ok" : "illegal",
    `${name}: ${JSON.stringify(raws)}`,
  );
  if (res.failure === undefined) return;
  // Without shrinking, the operations the search looked at are illegal.
  const raw = check(ops, model, { ...STEP_BUDGET, minimize: false });
  const seen = new Set(raw.failure!.operations.map((o) => o.id));
  assert.equal(
    bruteForce(model, ops.filter((o) => seen.has(o.id))),
    false,
    `${name}: unshrunk witness alone`,
  );
  // The failing sub-history is illegal alone...
  const ids = new Set(res.failure.operations.map((o) => o.id));
  const alone = ops.filter((o) => ids.has(o.id));
  assert.equal(bruteForce(model, alone), false, `${name}: witness alone`);
  // ...and honest: every other operation may have happened or not.
  if (res.failure.minimal) {
    const others = new Set(
      ops.filter((o) => !ids.has(o.id) && o.status === "ok").map((o) => o.id),
    );
    assert.equal(bruteForce(model, ops, others), false, `${name}: honest`);
  }
}

Deno.test("differential: register histories agree with brute force", (t) => {
  assertProperty(
    t,
    fc.property(history(registerOp), (raws) => {
      for (const [name, model] of models) agree(name, model, raws);
    }),
    { numRuns: 400 },
  );
});

Deno.test("differential: medium histories agree with brute force", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.oneof(history(registerOp, medium), history(lockOp, medium)),
      (raws) => {
        const isLock = raws.some((x) => x.op.lock !== undefined);
        const all = isLock ? lockModels : models;
        for (const [name, model] of all) agree(name, model, raws);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("differential: lock histories agree with brute force", (t) => {
  assertProperty(
    t,
    fc.property(history(lockOp), (raws) => {
      for (const [name, model] of lockModels) agree(name, model, raws);
    }),
    { numRuns: 400 },
  );
});

/** The search itself, with some `ok` operations optional (as minimization uses it). */
function searchWithOptional<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation[],
  optional: ReadonlySet<number>,
): boolean {
  const parts = model.partition!(ops.filter((o) => o.status !== "fail"));
  for (const part of parts) {
    const sops: SearchOp<I, O>[] = part.entries.map((e) => {
      const o = e.operation;
      const known = o.status === "ok";
      return {
        input: e.input,
        output: known ? e.output : UNKNOWN,
        required: known && !optional.has(o.id),
        start: o.start,
        end: known ? o.end : Infinity,
        startTie: -1,
        endTie: 1,
      };
    });
    const r = search(model, sops, {
      now: () => 0,
      deadline: Infinity,
    });
    if (r.result !== "ok") return false;
  }
  return true;
}

Deno.test("differential: operations that may or may not have happened in their window", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.oneof(history(registerOp), history(lockOp)),
      fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
      (raws, pick) => {
        const ops = toOps(raws);
        const optional = new Set(
          ops.filter((o, i) => o.status === "ok" && pick[i]).map((o) => o.id),
        );
        const isLock = raws.some((x) => x.op.lock !== undefined);
        const models = isLock
          ? [lockModel(), lockModel({ leasesMayExpire: false })]
          : [registerModel(), registerModel({ initial: 1 })];
        for (const model of models) {
          assert.equal(
            // deno-lint-ignore no-explicit-any
            searchWithOptional(model as Model<any, any, any>, ops, optional),
            // deno-lint-ignore no-explicit-any
            bruteForce(model as Model<any, any, any>, ops, optional),
            `${model.name}: ${JSON.stringify(raws)} optional ${[...optional]}`,
          );
        }
      },
    ),
    { numRuns: 600 },
  );
});
