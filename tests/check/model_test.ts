/**
 * The Model interface on its own: a FIFO queue written in a few lines, with
 * no partitioning and the default state hashing and equality.
 */

import assert from "node:assert/strict";
import {
  check,
  formatReport,
  type Model,
  type Op,
  type StepResult,
  UNKNOWN,
} from "../../src/check/mod.ts";
import { Hist, STEP_BUDGET } from "./helpers.ts";

/** A FIFO queue: `enqueue(value)`, `dequeue() → value | null`. */
const queue: Model<unknown[], Op, unknown> = {
  name: "queue",
  init: () => [],
  step(state, input, output): StepResult<unknown[]> {
    if (input.f === "enqueue") {
      return { ok: true, state: [...state, input.value] };
    }
    const head = state.length > 0 ? state[0] : null;
    if (output !== UNKNOWN && output !== head) return { ok: false, state };
    return { ok: true, state: state.slice(1) };
  },
  describeState: (s) => `[${s.join(", ")}]`,
};

const enq = (value: number): Op => ({ f: "enqueue", value });
const deq: Op = { f: "dequeue" };

Deno.test("model: a custom queue, concurrent enqueues in either order", () => {
  const h = new Hist()
    .ok("a", enq(1), 0, 10)
    .ok("b", enq(2), 0, 10)
    .ok("c", deq, 11, 12, 2)
    .ok("c", deq, 13, 14, 1)
    .ok("c", deq, 15, 16, null);
  const res = check(h.events(), queue, STEP_BUDGET);
  assert.equal(res.result, "ok");
  assert.equal(res.partitions, 1);
});

Deno.test("model: a custom queue that hands out one item twice", () => {
  const h = new Hist()
    .ok("a", enq(1), 0, 10)
    .ok("b", enq(2), 0, 10)
    .ok("c", deq, 11, 12, 1)
    .ok("d", deq, 13, 14, 1);
  const res = check(h.events(), queue, STEP_BUDGET);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "");
  const text = formatReport(res);
  assert.match(text, /ILLEGAL: the queue history is not linearizable/);
  // Default descriptions: the op's arguments and its result.
  assert.match(text, /dequeue\(\) → 1/);
  assert.match(text, /state then: \[2\]/);
});

Deno.test("model: an enqueue of unknown outcome may or may not be there", () => {
  const h = new Hist()
    .info("a", enq(1), 0, 5)
    .ok("b", enq(2), 6, 7)
    .ok("c", deq, 8, 9, 1)
    .ok("c", deq, 10, 11, 2);
  assert.equal(check(h.events(), queue, STEP_BUDGET).result, "ok");
  const without = new Hist()
    .info("a", enq(1), 0, 5)
    .ok("b", enq(2), 6, 7)
    .ok("c", deq, 8, 9, 2)
    .ok("c", deq, 10, 11, null);
  assert.equal(check(without.events(), queue, STEP_BUDGET).result, "ok");
  const late = new Hist()
    .ok("b", enq(2), 0, 1)
    .info("a", enq(1), 2, 5)
    .ok("c", deq, 8, 9, 1);
  assert.equal(check(late.events(), queue, STEP_BUDGET).result, "illegal");
});
